"""Progress and Cancel of an HFreqDiff run that is one tile (issue 16 items 1, 2, 10): the dock (its
run in a child process), Processing (processing.run) and qgis_process report progress during the
tile, at most about a second apart while sampling runs, and a Cancel during sampling ends the run
within 2 s leaving no file. WV3 crops; the bundled model with its default preset (4 network passes)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import QgsApplication, QgsProcessingFeedback, QgsProject, QgsRasterLayer

import processing

from padm_pansharpening.tests.qgis.qt_wait import wait_until

REPO = Path(__file__).resolve().parents[2]
MAX_GAP_S = 2.0  # the longest wait between two progress updates once the tile is being sampled
CANCEL_S = 2.0


@pytest.fixture(scope="module")
def crops(shared_data: Path, tmp_path_factory) -> dict[int, tuple[str, str]]:
    """side -> (pan, ms): side x side PAN crops of the WV3 scene (ratio 4, aligned as its README says)."""
    folder = tmp_path_factory.mktemp("wv3_crops")
    src = shared_data / "wv3_hpf_geotiff"
    out = {}
    for side in (192, 384):
        pan, ms = folder / f"pan{side}.tif", folder / f"ms{side}.tif"
        gdal.Translate(str(pan), str(src / "pan.tif"), srcWin=[2 + 32, 1 + 32, side, side])
        gdal.Translate(str(ms), str(src / "mul.tif"), srcWin=[8, 8, side // 4, side // 4])
        out[side] = (str(pan), str(ms))
    return out


def rss() -> int:
    """This process's resident memory now, bytes (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def sampling_gaps(events: list[tuple[float, float]]) -> np.ndarray:
    """Seconds between consecutive updates (time, percent) from the first past the fit (5 %) to the last."""
    times = [t for t, p in events if p >= 5.0]
    return np.diff(times)


# --- Processing -------------------------------------------------------------------------------------


class Recorder(QgsProcessingFeedback):
    """Records (seconds, percent) of each progress change; cancels itself once past ``cancel_at`` %."""

    def __init__(self, cancel_at: float | None = None) -> None:
        super().__init__()
        self.t0, self.events, self.cancel_at, self.cancelled_at = time.monotonic(), [], cancel_at, None
        self.progressChanged.connect(self._changed)

    def _changed(self, percent: float) -> None:
        self.events.append((time.monotonic() - self.t0, percent))
        if self.cancel_at is not None and percent > self.cancel_at and self.cancelled_at is None:
            self.cancelled_at = time.monotonic()
            self.cancel()


def test_processing_progress_moves_during_a_single_tile(padm_provider, crops, tmp_path):  # noqa: ARG001
    pan, ms = crops[192]
    feedback = Recorder()
    processing.run("padm:pansharpen", {"PAN": pan, "MS": ms, "QUALITY": "best",  # 4 network passes in the tile
                                       "OUTPUT": str(tmp_path / "one_tile.tif")}, feedback=feedback)
    percents = [p for _, p in feedback.events]
    inside = [p for p in percents if 5 < p < 99]
    assert len(inside) >= 4, percents  # reported through the tile, not only at its end
    gaps = sampling_gaps(feedback.events)
    print(f"Processing: {len(percents)} updates, largest gap {gaps.max():.2f} s while sampling")
    assert gaps.max() < MAX_GAP_S


def test_processing_cancel_during_sampling_is_prompt_and_leaves_no_file(padm_provider, crops,  # noqa: ARG001
                                                                        tmp_path):
    pan, ms = crops[384]
    out = tmp_path / "cancelled.tif"
    feedback = Recorder(cancel_at=6.0)  # past the fit, inside the first network pass
    result = processing.run("padm:pansharpen", {"PAN": pan, "MS": ms, "OUTPUT": str(out)}, feedback=feedback)
    latency = time.monotonic() - feedback.cancelled_at
    print(f"Processing: cancel took effect after {latency:.2f} s")
    assert "OUTPUT" not in result and latency < CANCEL_S
    assert list(tmp_path.iterdir()) == []


def test_qgis_process_prints_progress_while_it_runs(qgis_process, headless_env, crops, tmp_path):
    """qgis_process.bin prints its 0...10...20 ticks as the run goes (read as they come), not all at the end."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "padm_pansharpening").symlink_to(REPO, target_is_directory=True)
    profile = tmp_path / "profile"
    assert qgis_process(profile, "plugins", "enable", "padm_pansharpening", plugin_path=plugins).returncode == 0
    import onnxruntime  # QGIS's Python may lack it: the profile's packages folder, where the panel installs it

    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    packages = profile / "profiles" / "default" / "padm_pansharpening" / version
    packages.mkdir(parents=True)
    (packages / "onnxruntime").symlink_to(Path(onnxruntime.__file__).parent, target_is_directory=True)
    pan, ms = crops[192]
    out = tmp_path / "qp.tif"
    proc = subprocess.Popen(["qgis_process.bin", "run", "padm:pansharpen", "--", f"PAN={pan}", f"MS={ms}",
                             "QUALITY=best", f"OUTPUT={out}"], env=headless_env(profile, plugins), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    t0, text, seen = time.monotonic(), b"", {}
    while True:
        byte = os.read(proc.stdout.fileno(), 1)
        if not byte:
            break
        text += byte
        tick = re.search(rb"[.\n](\d0)$", text[:-1]) if byte == b"." else None  # "...20." (the 20)
        if tick:
            seen.setdefault(tick.group(1).decode(), time.monotonic() - t0)
    assert proc.wait(300) == 0 and out.exists(), text.decode(errors="replace")[-2000:]
    end = time.monotonic() - t0
    ticks = sorted(seen.items(), key=lambda kv: kv[1])
    assert [label for label, _ in ticks] == [str(10 * k) for k in range(1, 10)], ticks
    print(f"qgis_process ticks (%, s): {ticks}; ended at {end:.1f} s")
    assert ticks[-1][1] - ticks[0][1] > 1.0  # spread over the run, not printed at once


# --- the dock -----------------------------------------------------------------------------------------


@pytest.fixture
def dock(qgis_iface, qgis_new_project):  # noqa: ARG001 - a clean project per test
    from padm_pansharpening.plugin.dock import PadmDock

    widget = PadmDock(qgis_iface)
    yield widget
    widget.shutdown()
    wait_until(lambda: QgsApplication.taskManager().countActiveTasks() == 0, 120)
    widget.deleteLater()


def start(dock, pan: str, ms: str, out: Path, monkeypatch):
    """The dock's run of HFreqDiff (defaults) on the pair; returns the task and its (seconds, percent) list."""
    layers = [QgsRasterLayer(pan, "pan", "gdal"), QgsRasterLayer(ms, "ms", "gdal")]
    QgsProject.instance().addMapLayers(layers)
    dock.pan_combo.setLayer(layers[0])
    dock.ms_combo.setLayer(layers[1])
    dock.set_method("hfreqdiff")
    dock.quality_combo.setCurrentIndex(dock.quality_combo.findData("best"))  # 4 network passes: seconds per tile
    dock.output.setFilePath(str(out))
    monkeypatch.setattr(dock, "confirm_long_run", lambda s: True)
    task = dock.run()
    assert task is not None, dock.log.toPlainText()
    t0, events = time.monotonic(), []
    task.progressChanged.connect(lambda p: events.append((time.monotonic() - t0, p)))
    return task, events


def test_dock_progress_and_time_left_move_during_a_single_tile(dock, crops, tmp_path, monkeypatch):
    """The run (in a child process: QGIS's own memory stays put) reports progress through the tile;
    the time left shown is re-estimated from the measured rate as it goes."""
    pan, ms = crops[192]
    labels: list[str] = []
    dock.progress.valueChanged.connect(lambda v: labels.append(dock.stage_label.text()))
    rss_before, rss_peak = rss(), 0
    task, events = start(dock, pan, ms, tmp_path / "one_tile.tif", monkeypatch)

    def ended() -> bool:
        nonlocal rss_peak
        rss_peak = max(rss_peak, rss())
        return dock.task is None

    wait_until(ended)

    assert task.result is not None and task.error == "", task.error
    inside = [p for _, p in events if 5 < p < 99]
    assert len(inside) >= 4, events
    gaps = sampling_gaps(events)
    print(f"dock: {len(events)} updates, largest gap {gaps.max():.2f} s while sampling")
    assert gaps.max() < MAX_GAP_S
    lefts = {label.rsplit("about", 1)[-1] for label in labels if "left" in label}
    assert len(lefts) >= 2, labels  # the time left changes as the run goes
    grown = (rss_peak - rss_before) / 2**20
    print(f"dock: QGIS process RSS grew by {grown:.0f} MiB at most during the run")
    assert grown < 300  # the network's memory lives in the child


def test_dock_cancel_during_sampling_is_prompt_and_leaves_no_file(dock, crops, tmp_path, monkeypatch):
    pan, ms = crops[384]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    task, events = start(dock, pan, ms, out_dir / "cancelled.tif", monkeypatch)
    wait_until(lambda: any(p > 6.0 for _, p in events) or dock.task is None)  # inside the first network pass
    assert dock.task is not None, "the run ended before it could be cancelled"
    dock.cancel_button.click()
    t0 = time.monotonic()
    wait_until(lambda: dock.task is None, 60)
    latency = time.monotonic() - t0
    print(f"dock: cancel took effect after {latency:.2f} s")
    assert task.was_cancelled and task.result is None
    assert latency < CANCEL_S
    assert list(out_dir.iterdir()) == []
