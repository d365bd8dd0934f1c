"""Progress and cancel inside a tile (issue 16 items 1-2): the time left from measured rates,
watched calls, HFreqDiff's per-network-call progress through fuse_files (same pixels as without it)
and a cancel that stops a running network pass (ONNX Runtime's terminate) within 2 s."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from padm_pansharpening.engine.errors import Cancelled
from padm_pansharpening.engine.pipeline import fuse_files
from padm_pansharpening.engine.progress import Eta, TextBar, watched_call


def test_eta_follows_the_measured_rate_from_where_progress_first_moved():
    eta = Eta(smoothing=1.0)
    assert eta.update(0.0, now=0.0) is None  # nothing measured yet
    assert eta.update(0.0, now=30.0) is None  # a long start-up (model loading, fit) is not work done
    assert eta.update(0.1, now=31.0) is None  # the progress moved: the origin of the rate
    assert eta.update(0.3, now=41.0) == pytest.approx(35.0)  # 0.2 in 10 s: 0.7 left takes 35 s
    assert eta.update(1.0, now=70.0) == 0.0


def test_eta_is_smoothed_and_counts_down_between_estimates():
    eta = Eta(smoothing=0.5)
    eta.update(0.0, now=0.0)
    eta.update(0.1, now=1.0)  # the origin
    assert eta.update(0.3, now=5.0) == pytest.approx(14.0)  # 0.2 in 4 s: 0.7 left takes 14 s
    # stalled for 2 s: the new rate says 21 s, the last estimate counted down says 12 s; half of each
    assert eta.update(0.3, now=7.0) == pytest.approx(16.5)


def test_text_bar_prints_the_time_left(tmp_path):
    path = tmp_path / "bar.txt"
    with open(path, "w") as stream:
        bar = TextBar("x", stream=stream, every=0.0)
        bar(0.0, "a")
        bar(0.1, "b")  # the progress moved: the rate is measured from here
        time.sleep(1.05)
        bar(0.5, "c")
    lines = path.read_text().splitlines()
    assert "ETA" not in lines[1] and "ETA" in lines[2]


def test_watched_call_returns_the_value_and_watches_from_the_calling_thread():
    caller = threading.get_ident()
    seen: list[int] = []
    assert watched_call(lambda: time.sleep(0.35) or 7, lambda s: seen.append(threading.get_ident()), every=0.05) == 7
    assert len(seen) >= 3 and set(seen) == {caller}
    with pytest.raises(ZeroDivisionError):
        watched_call(lambda: 1 / 0, lambda s: None)


def test_watched_call_aborts_the_call_when_the_watcher_raises():
    stop = threading.Event()

    def watch(seconds: float) -> None:
        if seconds > 0.2:
            raise Cancelled()

    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        watched_call(lambda: stop.wait(30), watch, abort=stop.set)
    assert time.monotonic() - t0 < 1.0 and stop.is_set()


# --- HFreqDiff on a real scene --------------------------------------------------------------------------


def _crop(shared_data: Path, folder: Path, side: int) -> tuple[str, str]:
    """A side x side PAN crop of the WV3 scene and its MS (ratio 4, aligned as the scene's README says)."""
    src = shared_data / "wv3_hpf_geotiff"
    pan, ms = folder / f"pan{side}.tif", folder / f"ms{side}.tif"
    gdal.Translate(str(pan), str(src / "pan.tif"), srcWin=[2 + 32, 1 + 32, side, side])
    gdal.Translate(str(ms), str(src / "mul.tif"), srcWin=[8, 8, side // 4, side // 4])
    return str(pan), str(ms)


def test_hfreqdiff_progress_moves_inside_a_single_tile_with_the_same_pixels(shared_data, tmp_path):
    """One tile, four network passes (the best preset's flip ensemble): progress is reported during the
    tile, at most about a second apart once sampling runs, and the pixels equal those of a run without
    progress."""
    pan, ms = _crop(shared_data, tmp_path, 192)
    events: list[tuple[float, float, str]] = []
    t0 = time.monotonic()
    best = {"quality": "best"}
    fuse_files(pan, ms, tmp_path / "with.tif", "hfreqdiff", method_options=best,
               progress=lambda f, text: events.append((time.monotonic() - t0, f, text)))
    fuse_files(pan, ms, tmp_path / "without.tif", "hfreqdiff", method_options=best)

    inside = [(t, f) for t, f, text in events if 0.05 < f < 0.99]
    assert len(inside) >= 4, events  # at least one report per network pass, none waits for the tile's end
    assert all("tile 1/1" in text for _, f, text in events if 0.05 <= f < 0.99)
    fractions = [f for _, f, _ in events]
    assert fractions == sorted(fractions)
    times = [t for t, f, _ in events if f >= 0.05]  # from the first tile's start to the end
    gaps = np.diff(times)
    print(f"progress: {len(events)} updates, largest gap {gaps.max():.2f} s during sampling")
    assert gaps.max() < 2.0, gaps
    with_, without = (gdal.Open(str(tmp_path / n)).ReadAsArray() for n in ("with.tif", "without.tif"))
    np.testing.assert_array_equal(with_, without)


def test_cancel_during_a_network_pass_ends_within_two_seconds_and_leaves_no_file(shared_data, tmp_path):
    """Cancel set while the first network pass of a 384 px tile runs (it takes seconds): ONNX Runtime's
    run is terminated, fuse_files raises Cancelled within 2 s and nothing is left in the folder."""
    pan, ms = _crop(shared_data, tmp_path, 384)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    asked: dict[str, float] = {}

    def progress(fraction: float, text: str) -> None:
        if 0.05 < fraction and "at" not in asked:  # inside the first network pass
            asked["at"] = time.monotonic()

    with pytest.raises(Cancelled):
        fuse_files(pan, ms, out_dir / "never.tif", "hfreqdiff", progress=progress, is_cancelled=lambda: "at" in asked)
    latency = time.monotonic() - asked["at"]
    print(f"cancel latency during sampling: {latency:.2f} s")
    assert latency < 2.0 and list(out_dir.iterdir()) == []


def test_onnx_runtime_terminate_stops_a_running_pass(shared_data, tmp_path):
    """The ONNX denoiser's abort() ends a pass in progress well before the pass's own duration."""
    from padm_pansharpening.engine.definitions import bundled_model
    from padm_pansharpening.engine.hfreqdiff.runtime import onnx_denoiser

    denoise, _, _ = onnx_denoiser(bundled_model(), "cpu")
    n, h = 8, 512
    x = np.zeros((1, n, h, h), np.float32)
    cond = {"band": np.zeros((1, n, 3, h, h), np.float32), "pan": np.zeros((1, 2, h, h), np.float32),
            "desc": np.linspace(0, 1, n, dtype=np.float32)[None],
            "band_stats": np.zeros((1, n, 2), np.float32)}
    t0 = time.monotonic()
    denoise(x, 1.0, cond)
    whole = time.monotonic() - t0

    def watch(seconds: float) -> None:
        if seconds > 0.2:
            raise Cancelled()

    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        watched_call(lambda: denoise(x, 1.0, cond), watch, denoise.abort)
    stopped = time.monotonic() - t0
    print(f"a whole pass {whole:.2f} s, terminated after {stopped:.2f} s")
    assert stopped < min(2.0, whole)


def test_expected_share_keeps_moving_past_the_expected_time():
    from padm_pansharpening.engine.progress import expected_share

    assert expected_share(5.0, 10.0) == pytest.approx(0.5)
    assert expected_share(8.0, 10.0) == pytest.approx(0.8)
    later = [expected_share(t, 10.0) for t in (10.0, 20.0, 60.0)]
    assert later == sorted(later) and 0.8 < later[0] and later[-1] < 1.0
