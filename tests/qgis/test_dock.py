"""The dock panel driven as a user would: layers picked, Run clicked, the task running in the
background (QgsTaskManager), the result on the map; Cancel, bad input, the long-run warning and
missing dependencies. Real shared scenes, cropped small; HFreqDiff with one DDIM step."""

from __future__ import annotations

import json

import time
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsMultiBandColorRenderer,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsSingleBandPseudoColorRenderer,
)
from qgis.PyQt.QtCore import QCoreApplication

from padm_pansharpening.plugin import deps
from padm_pansharpening.plugin.dock import PadmDock
from padm_pansharpening.tests.qgis.qt_wait import wait_until


@pytest.fixture
def dock(qgis_iface, qgis_new_project):  # noqa: ARG001 - a clean project per test
    qgis_iface.messageBar().clear_messages()
    widget = PadmDock(qgis_iface)
    # a modal question would hang a headless test: long runs go ahead unless a test says otherwise,
    # and a test that meets the overwrite question without expecting it fails
    widget.confirm_long_run = lambda seconds: True
    widget.confirm_overwrite = lambda path: pytest.fail(f"unexpected question: replace {path}?")
    yield widget
    widget.shutdown()
    wait_until(lambda: QgsApplication.taskManager().countActiveTasks() == 0, 120)
    widget.deleteLater()


def add_pair(pan: str, ms: str) -> tuple[QgsRasterLayer, QgsRasterLayer]:
    pan_layer, ms_layer = QgsRasterLayer(pan, "pan", "gdal"), QgsRasterLayer(ms, "ms", "gdal")
    assert pan_layer.isValid() and ms_layer.isValid()
    QgsProject.instance().addMapLayers([pan_layer, ms_layer])
    return pan_layer, ms_layer


def choose(dock: PadmDock, pan_layer, ms_layer, method: str, out: Path, **spins) -> None:
    dock.pan_combo.setLayer(pan_layer)
    dock.ms_combo.setLayer(ms_layer)
    dock.set_method(method)
    for name, value in spins.items():
        getattr(dock, name).setValue(value)
    dock.output.setFilePath(str(out))


def run_to_end(dock: PadmDock, timeout: float = 600.0):
    task = dock.run()
    assert task is not None, dock.log.toPlainText()
    wait_until(lambda: dock.task is None, timeout)
    return task


def files(folder: Path) -> list[str]:
    """Names in a folder, without the .aux.xml statistics QGIS caches beside rasters it displays."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".aux.xml"))


def critical_messages(qgis_iface) -> list[str]:
    return qgis_iface.messageBar().get_messages(Qgis.Critical)


def run_then_cancel(dock, monkeypatch) -> tuple:
    """Start the dock's run, click Cancel a few tiles in; (task, seconds from the click to the end)."""
    monkeypatch.setattr(dock, "confirm_long_run", lambda s: True)
    task = dock.run()
    assert task is not None
    wait_until(lambda: dock.progress.value() >= 8 or dock.task is None)  # a few tiles in
    assert dock.task is not None, "the run ended before it could be cancelled"
    dock.cancel_button.click()
    t0 = time.monotonic()
    wait_until(lambda: dock.task is None, 120)
    return task, time.monotonic() - t0


def test_dock_runs_hfreqdiff_and_adds_styled_layers(dock, qgis_iface, scenes, tmp_path, check_fused, monkeypatch):
    pan, ms = scenes["landsat8"]
    pan_layer, ms_layer = add_pair(pan, ms)
    out = tmp_path / "fused.tif"
    choose(dock, pan_layer, ms_layer, "hfreqdiff", out, steps=1, samples=2, seed=3)
    asked: list[float] = []
    monkeypatch.setattr(dock, "confirm_long_run", lambda s: asked.append(s) or True)
    progress: list[int] = []
    dock.progress.valueChanged.connect(progress.append)

    task = run_to_end(dock)

    assert task.error == "" and not task.was_cancelled
    assert not critical_messages(qgis_iface)
    check_fused(str(out), pan, ms)  # PAN CRS, pixel grid and extent (PAN ∩ MS), MS bands, radiometry
    fused, spread = dock.added_layers[-1], dock.added_layers[0]
    assert Path(fused.source()) == out and fused in QgsProject.instance().mapLayers().values()
    assert fused.crs() == pan_layer.crs() and pan_layer.extent().contains(fused.extent())
    assert isinstance(fused.renderer(), QgsMultiBandColorRenderer)
    rgb = (fused.renderer().redBand(), fused.renderer().greenBand(), fused.renderer().blueBand())
    assert rgb == (3, 2, 1)  # blue, green, red bands displayed as red, green, blue
    ce = fused.renderer().redContrastEnhancement()
    assert ce is not None and ce.minimumValue() < ce.maximumValue()  # stretched, not the full type range
    # samples=2: the uncertainty layer beside the output, on the same grid, shown as a pseudocolour ramp
    assert Path(spread.source()) == tmp_path / "fused_uncertainty.tif"
    assert isinstance(spread.renderer(), QgsSingleBandPseudoColorRenderer)
    assert spread.extent() == fused.extent() and spread.bandCount() == fused.bandCount()
    assert "ran on: onnxruntime:" in dock.device_label.text()
    assert progress and max(progress) == 100
    assert "wrote" in dock.log.toPlainText() and files(tmp_path) == ["fused.tif", "fused_uncertainty.tif"]
    meta = gdal.Open(str(out)).GetMetadata()
    assert any("seed" in v and "3" in v for v in meta.values()), meta  # the seed is recorded
    assert json.loads(meta["PADM_LAYERS"]) == {"pan": pan, "ms": ms}  # the files the layers show
    assert not [k for k in meta if k.startswith("PADM_PADM")]  # no doubled prefix
    runtime = json.loads(meta["PADM_RUNTIME"])  # what a user needs, not the model's training history
    assert set(runtime) == {"model", "model_format", "provider", "steps", "seed", "samples", "quality", "ensemble"}
    assert runtime["seed"] == 3 and runtime["model_format"].startswith("hfreqdiff")


def test_dock_canvas_extent_clips_without_touching_inputs(dock, qgis_iface, scenes, tmp_path, check_fused):
    pan, ms = scenes["landsat8"]
    before = {p: Path(p).stat().st_mtime_ns for p in (pan, ms)}
    pan_layer, ms_layer = add_pair(pan, ms)
    full = pan_layer.extent()
    canvas = qgis_iface.mapCanvas()
    canvas.setDestinationCrs(pan_layer.crs())
    view = QgsRectangle(full.xMinimum() + 0.25 * full.width(), full.yMinimum() + 0.3 * full.height(),
                        full.xMinimum() + 0.75 * full.width(), full.yMinimum() + 0.8 * full.height())
    canvas.setExtent(view)
    shown = canvas.extent().intersect(full)
    assert shown.width() * shown.height() < 0.7 * full.width() * full.height()  # (the canvas keeps its aspect)
    out = tmp_path / "clip.tif"
    choose(dock, pan_layer, ms_layer, "gsa", out)
    dock.extent_combo.setCurrentIndex(dock.extent_combo.findData("canvas"))

    run_to_end(dock, 120)

    assert not critical_messages(qgis_iface), critical_messages(qgis_iface)
    check_fused(str(out), pan, ms, full_extent=False)
    fused = dock.added_layers[-1]
    got, ms_px = fused.extent(), 30.0
    assert fused.crs() == pan_layer.crs()
    # the canvas view, widened to whole MS pixels (one more on each side at most)
    assert got.xMinimum() >= shown.xMinimum() - 2 * ms_px and got.xMaximum() <= shown.xMaximum() + 2 * ms_px
    assert got.yMinimum() >= shown.yMinimum() - 2 * ms_px and got.yMaximum() <= shown.yMaximum() + 2 * ms_px
    assert got.width() >= shown.width() - 2 * ms_px and got.height() >= shown.height() - 2 * ms_px
    assert {p: Path(p).stat().st_mtime_ns for p in (pan, ms)} == before
    assert files(tmp_path) == ["clip.tif"]


def test_cancel_mid_run_leaves_no_file(dock, shared_data, tmp_path, monkeypatch):
    folder = shared_data / "landsat_oli_istanbul_geotiff"  # the whole scene, in 15 tiles
    pan_layer, ms_layer = add_pair(str(folder / "pan.tif"), str(folder / "ms.tif"))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    choose(dock, pan_layer, ms_layer, "hfreqdiff", out_dir / "cancelled.tif", steps=1, tile=128)
    task, seconds = run_then_cancel(dock, monkeypatch)

    assert task.was_cancelled and task.result is None
    assert seconds < 60  # stops within a tile or so
    assert list(out_dir.iterdir()) == []  # neither the output nor its temporary file
    assert dock.added_layers == [] and "Cancelled" in dock.stage_label.text()
    assert dock.run_button.isEnabled() and not dock.cancel_button.isEnabled()


def test_bad_input_shows_one_line_and_writes_nothing(dock, qgis_iface, scenes, tmp_path):
    pan, ms = scenes["wv3"]
    ms_4326 = str(tmp_path / "ms_wgs84.tif")
    assert gdal.Warp(ms_4326, ms, dstSRS="EPSG:4326") is not None  # the MS reprojected to another CRS
    pan_layer, ms_layer = add_pair(pan, ms_4326)
    assert ms_layer.crs() == QgsCoordinateReferenceSystem("EPSG:4326")
    out = tmp_path / "never.tif"
    choose(dock, pan_layer, ms_layer, "hfreqdiff", out, steps=1)

    task = run_to_end(dock, 120)

    errors = critical_messages(qgis_iface)
    assert len(errors) == 1, errors
    assert task.error and "\n" not in task.error and task.error in errors[0]
    assert "CRS" in task.error and "reproject" in task.error
    assert "Traceback" not in dock.log.toPlainText()
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["ms_wgs84.tif"]
    assert dock.added_layers == []


def test_incomplete_form_is_refused_in_one_line(dock, qgis_iface, scenes, tmp_path):
    pan, ms = scenes["wv3"]
    pan_layer, ms_layer = add_pair(pan, ms)
    choose(dock, pan_layer, None, "gsa", tmp_path / "x.tif")
    assert dock.run() is None
    choose(dock, pan_layer, ms_layer, "gsa", tmp_path / "x.tif")
    dock.band_order.setText("1,2,9")
    assert dock.run() is None
    errors = critical_messages(qgis_iface)
    assert len(errors) == 2 and "MS" in errors[0] and "band order" in errors[1]
    assert all("\n" not in e for e in errors) and list(tmp_path.iterdir()) == []


def test_colours_follow_the_bands_whatever_their_order(dock, scenes, tmp_path):
    """Issue 16 items 4 and 9: band order 5,3,2 of a WorldView-3 MS is red, green, blue and is shown
    so, whether the sensor is detected or chosen; with the sensor known the output names its bands
    (the legend shows them); without an output name the file goes beside the project, and the layer
    is called '<scene> · <method>'."""
    from qgis.core import QgsProject

    pan, ms = scenes["wv3"]
    pan_layer, ms_layer = add_pair(pan, ms)
    QgsProject.instance().setFileName(str(tmp_path / "project.qgz"))  # a saved project's folder
    choose(dock, pan_layer, ms_layer, "exp", tmp_path / "unused.tif")
    dock.output.setFilePath("")
    dock.band_order.setText("5,3,2")
    run_to_end(dock, 120)
    fused = dock.added_layers[-1]
    assert Path(fused.source()) == tmp_path / "wv3_exp.tif" and fused.name() == "wv3 · EXP"
    renderer = fused.renderer()
    assert (renderer.redBand(), renderer.greenBand(), renderer.blueBand()) == (1, 2, 3)  # red is band 1 now

    dock.sensor_combo.setCurrentIndex(dock.sensor_combo.findData("WV3"))
    dock.band_order.setText("2,3,5")  # blue, green, red
    run_to_end(dock, 120)
    fused = dock.added_layers[-1]
    assert Path(fused.source()) == tmp_path / "wv3_exp-2.tif"  # numbered, the first one kept
    renderer = fused.renderer()
    assert (renderer.redBand(), renderer.greenBand(), renderer.blueBand()) == (3, 2, 1)
    assert [fused.bandName(b) for b in (1, 2, 3)] == ["Band 1: blue", "Band 2: green", "Band 3: red"]


def test_band_order_reorders_the_ms(dock, scenes, tmp_path):
    pan, ms = scenes["vhr4b"]
    pan_layer, ms_layer = add_pair(pan, ms)
    out = tmp_path / "reordered.tif"
    choose(dock, pan_layer, ms_layer, "exp", out)
    dock.band_order.setText("3, 2, 1")
    run_to_end(dock, 120)
    fused = gdal.Open(str(out)).ReadAsArray().astype(float)
    assert fused.shape[0] == 3
    ms_arr = gdal.Open(ms).ReadAsArray().astype(float)
    for out_band, ms_band in enumerate((3, 2, 1)):  # EXP keeps each band's mean
        assert fused[out_band].mean() == pytest.approx(ms_arr[ms_band - 1].mean(), rel=0.05)


def test_existing_output_is_replaced_only_when_the_user_says_so(dock, scenes, tmp_path, monkeypatch):
    pan, ms = scenes["vhr4b"]
    pan_layer, ms_layer = add_pair(pan, ms)
    out = tmp_path / "taken.tif"
    out.write_bytes(b"an older result")
    choose(dock, pan_layer, ms_layer, "exp", out)
    asked: list[str] = []
    monkeypatch.setattr(dock, "confirm_overwrite", lambda path: asked.append(path) or False)
    assert dock.run() is None and asked == [str(out)]
    assert out.read_bytes() == b"an older result"
    monkeypatch.setattr(dock, "confirm_overwrite", lambda path: True)
    task = run_to_end(dock, 120)
    assert task.result is not None and gdal.Open(str(out)).GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE") == "COG"


def test_long_run_is_confirmed_first(dock, shared_data, tmp_path, monkeypatch):
    folder = shared_data / "wv3_hpf_geotiff"
    pan_layer, ms_layer = add_pair(str(folder / "pan.tif"), str(folder / "mul.tif"))
    choose(dock, pan_layer, ms_layer, "hfreqdiff", tmp_path / "long.tif", steps=8, samples=4)
    asked: list[float] = []
    monkeypatch.setattr(dock, "confirm_long_run", lambda s: asked.append(s) or False)
    assert dock.run() is None  # declined: nothing starts
    assert len(asked) == 1 and asked[0] > 120 and dock.task is None and list(tmp_path.iterdir()) == []
    dock.steps.setValue(1)
    dock.samples.setValue(1)
    dock.set_method("gsa")  # a classical run on the same scene takes seconds: no question
    monkeypatch.setattr(dock, "confirm_long_run", lambda s: pytest.fail("asked for a short run"))
    run_to_end(dock, 120)
    assert (tmp_path / "long.tif").exists()


def test_missing_onnxruntime_is_said_in_one_line(dock, qgis_iface, scenes, tmp_path, monkeypatch):
    real = deps.is_available
    monkeypatch.setattr(deps, "is_available", lambda m: False if m == "onnxruntime" else real(m))
    pan, ms = scenes["wv3"]
    pan_layer, ms_layer = add_pair(pan, ms)
    choose(dock, pan_layer, ms_layer, "hfreqdiff", tmp_path / "x.tif")
    dock.refresh_dependencies()
    assert dock.install_button.isVisibleTo(dock) and "onnxruntime" in dock.install_button.text()
    assert dock.run() is None
    (error,) = critical_messages(qgis_iface)
    assert "onnxruntime" in error and "\n" not in error and "Install" in error
    dock.set_method("gsa")  # classical methods need nothing more
    assert dock.run() is not None
    wait_until(lambda: dock.task is None, 120)
    assert (tmp_path / "x.tif").exists()


def test_dock_finetune_then_fuse(dock, qgis_iface, scenes, tmp_path, monkeypatch):
    from padm_pansharpening.plugin import models

    monkeypatch.setattr(models, "models_folder", lambda: tmp_path / "models")
    pan, ms = scenes["wv3"]
    pan_layer, ms_layer = add_pair(pan, ms)
    out = tmp_path / "ft.tif"
    choose(dock, pan_layer, ms_layer, "finetune", out, steps=1, budget=4)  # 3 min failed under load
    monkeypatch.setattr(dock, "confirm_long_run", lambda s: True)
    task = run_to_end(dock, 900)
    assert not critical_messages(qgis_iface), critical_messages(qgis_iface)
    assert out.exists() and task.model_dir and Path(task.model_dir).parent == tmp_path / "models"
    assert any(e.path == task.model_dir for e in models.find_models())
    # the dock says which model fine-tuning kept, with the held-out figures behind it
    assert task.finetune_note.startswith("fine-tuning kept the ") and "held-out" in task.finetune_note
    assert task.notes[0] == task.finetune_note


@pytest.fixture(scope="module")
def torch_model(tmp_path_factory) -> str:
    """A .pt model file as a user may pick one: the bundled network (built from the shipped .onnx)
    saved by torch, in a child Python so that torch is not loaded into QGIS."""
    import subprocess
    import sys

    path = tmp_path_factory.mktemp("torch_model") / "hfreqdiff.pt"
    code = ("import sys; from pathlib import Path; "
            "from padm_pansharpening.engine.definitions import bundled_model; "
            "from padm_pansharpening.engine.hfreqdiff.export import save_torch; "
            "from padm_pansharpening.engine.hfreqdiff.runtime import load_torch_model; "
            "net, meta = load_torch_model(bundled_model()); save_torch(net, Path(sys.argv[1]), meta)")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=300)
    return str(path)


def choose_torch_model(dock: PadmDock, path: str) -> str:
    """The .pt model ``path`` chosen in the model list (without touching the remembered models)."""
    dock.model_combo.addItem("torch model", path)
    dock.model_combo.setCurrentIndex(dock.model_combo.count() - 1)
    return path


def spy_child_runs(monkeypatch) -> list[list[str]]:
    """The argument lists of the engine CLI child processes started; fusing inside QGIS fails the test."""
    from padm_pansharpening.engine import pipeline
    from padm_pansharpening.plugin import child

    calls: list[list[str]] = []
    real = child.run_cli
    monkeypatch.setattr(child, "run_cli", lambda args, *a, **kw: calls.append(list(args)) or real(args, *a, **kw))
    monkeypatch.setattr(pipeline, "fuse_files", lambda *a, **kw: pytest.fail("torch inference ran inside QGIS"))
    return calls


def test_torch_model_runs_in_a_child_process(dock, qgis_iface, scenes, tmp_path, check_fused, monkeypatch,
                                             torch_model):
    """A .pt model runs through the engine CLI's `fuse` in a child process, as fine-tuning does, so
    torch is never loaded into QGIS; progress, the result and the layers reach the dock as usual."""
    calls = spy_child_runs(monkeypatch)
    pan, ms = scenes["landsat8"]
    pan_layer, ms_layer = add_pair(pan, ms)
    out = tmp_path / "fused_pt.tif"
    choose(dock, pan_layer, ms_layer, "hfreqdiff", out, steps=1, samples=2, seed=3)
    model = choose_torch_model(dock, torch_model)
    monkeypatch.setattr(dock, "confirm_long_run", lambda s: True)
    progress: list[int] = []
    dock.progress.valueChanged.connect(progress.append)

    task = run_to_end(dock)

    assert task.error == "" and not task.was_cancelled and not critical_messages(qgis_iface)
    (args,) = calls
    assert args[0] == "fuse" and args[args.index("--progress") + 1] == "json"
    assert args[args.index("--model") + 1] == model and args[args.index("--seed") + 1] == "3"
    check_fused(str(out), pan, ms)
    assert files(tmp_path) == ["fused_pt.tif", "fused_pt_uncertainty.tif"]  # moved into place, no staging left
    fused, spread = dock.added_layers[-1], dock.added_layers[0]
    assert Path(fused.source()) == out and Path(spread.source()) == tmp_path / "fused_pt_uncertainty.tif"
    assert "ran on: torch" in dock.device_label.text()
    assert any(0 < p < 100 for p in progress) and max(progress) == 100  # the child's JSON progress
    meta = gdal.Open(str(out)).GetMetadata()
    assert any("hfreqdiff.pt" in v for v in meta.values()), meta  # the model is recorded


def test_cancel_of_a_child_run_leaves_no_file(dock, shared_data, tmp_path, monkeypatch, torch_model):
    calls = spy_child_runs(monkeypatch)
    folder = shared_data / "landsat_oli_istanbul_geotiff"
    pan_layer, ms_layer = add_pair(str(folder / "pan.tif"), str(folder / "ms.tif"))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    choose(dock, pan_layer, ms_layer, "hfreqdiff", out_dir / "cancelled.tif", steps=1, tile=128)
    choose_torch_model(dock, torch_model)
    task, seconds = run_then_cancel(dock, monkeypatch)

    assert len(calls) == 1 and task.was_cancelled and task.result is None
    assert seconds < 30  # the child is terminated, not waited for
    assert list(out_dir.iterdir()) == []  # no output, no staging folder
    assert "Cancelled" in dock.stage_label.text() and dock.run_button.isEnabled()


def test_dock_offers_the_engine_methods_and_devices(dock):
    from padm_pansharpening.engine.definitions import CLASSICAL_METHODS
    from padm_pansharpening.engine.options import DEVICES

    keys = [dock.method_combo.itemData(i) for i in range(dock.method_combo.count())]
    assert keys == ["hfreqdiff", "finetune", *CLASSICAL_METHODS] and "bt-h" in keys
    devices = [dock.device_combo.itemData(i) for i in range(dock.device_combo.count())]
    assert devices == [value for value, _ in DEVICES]  # the order Processing and the CLI show


def test_dock_quality_preset_reaches_the_options(dock):
    from padm_pansharpening.engine.options import DEFAULT_QUALITY, QUALITIES

    assert [dock.quality_combo.itemData(i) for i in range(dock.quality_combo.count())] == list(QUALITIES)
    dock.form.set_method("hfreqdiff")
    assert dock.form.hfreqdiff_options().quality == DEFAULT_QUALITY
    dock.quality_combo.setCurrentIndex(list(QUALITIES).index("fast"))
    assert dock.form.hfreqdiff_options().quality == "fast"


def test_display_bands_follow_the_sensor():
    from padm_pansharpening.engine.sensors import get_sensor
    from padm_pansharpening.plugin.styling import FALSE_COLOUR, display_bands

    assert display_bands(get_sensor("WV3"), 8) == (5, 3, 2)
    assert display_bands(get_sensor("none"), 8) == (5, 3, 2)  # 8 unknown bands: the WorldView layout
    assert display_bands(get_sensor("WV3"), 8, FALSE_COLOUR) == (7, 5, 3)  # NIR1, red, green
    assert display_bands(get_sensor("GeoEye1"), 4) == (3, 2, 1)
    assert display_bands(get_sensor("none"), 4, FALSE_COLOUR) == (4, 3, 2)
    assert display_bands(get_sensor("QB"), 3) == (3, 2, 1)  # band count unlike the sensor's: generic
    # by names or wavelengths in the descriptions first, whatever the order
    assert display_bands(get_sensor("none"), 3, descriptions=["Red", "Green", "Blue"]) == (1, 2, 3)
    assert display_bands(get_sensor("none"), 4, FALSE_COLOUR, ["NIR", "B (480 nm)", "green", "red"]) == (1, 4, 3)
    # else by the sensor's (or the usual layout's) centres of the bands picked
    assert display_bands(get_sensor("WV3"), 3, band_order=[5, 3, 2], source_bands=8) == (1, 2, 3)
    assert display_bands(get_sensor("none"), 3, band_order=[5, 3, 2], source_bands=8) == (1, 2, 3)
    assert display_bands(get_sensor("GeoEye1"), 4, FALSE_COLOUR, band_order=[4, 3, 2, 1], source_bands=4) == (1, 2, 3)


def test_model_list_finds_fine_tuned_folders(tmp_path):
    import os

    from padm_pansharpening.plugin.models import find_models, new_model_folder

    root = tmp_path / "models"
    old, new = root / "scene_a-20250101", root / "scene_b-20250102"
    for folder, age in ((old, 100), (new, 0)):
        folder.mkdir(parents=True)
        (folder / "model.onnx").write_bytes(b"x")
        os.utime(folder, (time.time() - age, time.time() - age))
    (root / ".scene_c.1234.part").mkdir()  # a fine-tuning in progress: not offered
    (root / ".scene_c.1234.part" / "model.onnx").write_bytes(b"x")
    (root / "empty").mkdir()
    loose = tmp_path / "my.pt"
    loose.write_bytes(b"x")
    entries = find_models([str(loose), str(tmp_path / "missing.onnx")], search_dirs=[root])
    assert entries[0].kind == "bundled" and entries[0].path is None
    assert [e.path for e in entries[1:]] == [str(new), str(old), str(loose)]
    assert new_model_folder("/data/My scene.tif", root).parent == root
    assert new_model_folder("/data/My scene.tif", root).name.startswith("My_scene-")


def _shown_whole(body, every_item: bool) -> list[str]:
    """Widgets of the dock's body that do not show their text whole, or stick out of it."""
    from qgis.PyQt.QtWidgets import QAbstractButton, QComboBox, QWidget

    bad = []
    for widget in body.findChildren(QWidget):
        if not widget.isVisibleTo(body) or widget.width() == 0:
            continue
        right = widget.mapTo(body, widget.rect().topRight()).x()
        if right > body.width():
            bad.append(f"{type(widget).__name__} {widget.objectName()} sticks out ({right} > {body.width()})")
        if isinstance(widget, QAbstractButton) and widget.width() < widget.sizeHint().width():
            bad.append(f"button '{widget.text()}' cut ({widget.width()} < {widget.sizeHint().width()})")
        if isinstance(widget, QComboBox) and widget.count():
            fm = widget.fontMetrics()
            texts = [widget.itemText(i) for i in range(widget.count())]
            chrome = widget.sizeHint().width() - max(fm.horizontalAdvance(t) for t in texts)
            shown = texts if every_item else [widget.currentText()]
            needed = chrome + max(fm.horizontalAdvance(t) for t in shown)
            if widget.width() < needed:
                bad.append(f"combo '{widget.currentText()}' cut ({widget.width()} < {needed})")
    return bad


def test_dock_fits_its_content_and_stays_usable_at_300_px(qgis_iface, scenes):
    """Issue 16 item 3: at its default width every combo shows its longest item and no scrollbar
    appears; at 300 px the fields go below their labels and the current texts and buttons stay whole."""
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtWidgets import QFormLayout, QLabel, QMainWindow

    from padm_pansharpening.plugin.dock import MAX_OPEN_WIDTH, MIN_WIDTH

    pan_layer, ms_layer = add_pair(*scenes["wv3"])
    window = QMainWindow()
    window.setCentralWidget(QLabel("map"))
    dock = PadmDock(qgis_iface, window)
    try:
        window.addDockWidget(Qt.RightDockWidgetArea, dock)
        window.resize(1400, 900)
        window.show()
        dock.pan_combo.setLayer(pan_layer)
        dock.ms_combo.setLayer(ms_layer)
        dock.set_method("finetune")  # the longest method name
        body = dock.scroll.widget()
        assert MIN_WIDTH <= dock.preferred_width() <= MAX_OPEN_WIDTH
        for width, every_item, policy in ((dock.preferred_width(), True, QFormLayout.DontWrapRows),
                                          (MIN_WIDTH, False, QFormLayout.WrapAllRows)):
            window.resizeDocks([dock], [width], Qt.Horizontal)
            for _ in range(10):
                QCoreApplication.processEvents()
            assert abs(dock.width() - width) <= 2, (dock.width(), width)
            assert not dock.scroll.horizontalScrollBar().isVisible(), width
            assert all(form.rowWrapPolicy() == policy for form in dock.form.forms), width
            assert _shown_whole(body, every_item) == [], width
    finally:
        window.close()
        dock.shutdown()
        dock.deleteLater()


def test_dock_asks_when_the_sensor_is_ambiguous(dock, qgis_iface, shared_data, tmp_path):
    import shutil

    from padm_pansharpening.plugin.run_request import build_request

    folder = shared_data / "wv2_rio_rr_geotiff"  # 8 bands, no metadata, no georeferencing: WV3 or WV2
    for name, copy in (("WV2RioPAN.tif", "pan.tif"), ("WV2RioMSLR.tif", "ms.tif")):
        shutil.copy(folder / name, tmp_path / copy)
    pan_layer, ms_layer = add_pair(str(tmp_path / "pan.tif"), str(tmp_path / "ms.tif"))
    choose(dock, pan_layer, ms_layer, "gsa", tmp_path / "out" / "x.tif")
    assert dock.sensor_label.text().startswith("WV3 or WV2? Choose the sensor (8 bands, no band names")
    assert dock.run() is None
    errors = critical_messages(qgis_iface)
    assert len(errors) == 1 and "could be WV3 or WV2" in errors[0] and "\n" not in errors[0]
    dock.sensor_combo.setCurrentIndex(dock.sensor_combo.findData("WV2"))
    assert dock.sensor_label.text() == "using the WV2 preset"
    assert build_request(dock.form).sensor == "WV2"
    dock.sensor_combo.setCurrentIndex(dock.sensor_combo.findData("auto"))
    wv3 = tmp_path / "wv3"  # the same bands at 1.2 m, finer than WorldView-2's MS (copies: QGIS writes .aux.xml)
    wv3.mkdir()
    for name in ("pan.tif", "mul.tif"):
        shutil.copy(shared_data / "wv3_hpf_geotiff" / name, wv3 / name)
    _, wv3_ms = add_pair(str(wv3 / "pan.tif"), str(wv3 / "mul.tif"))
    dock.ms_combo.setLayer(wv3_ms)
    assert dock.sensor_label.text().startswith("detected: WV3 (8 bands, no band names, no sensor metadata, "
                                               "MS pixel 1.20 m")


def test_unnamed_bands_of_a_band_order_say_which_source_band_they_are(tmp_path):
    """With a band order, no band descriptions and no sensor, the output's bands are named after the
    source bands they are ("MS band 3"), so the legend does not show "Band 1" for band 3."""
    from padm_pansharpening.plugin.inputs import _name_bands

    src = tmp_path / "ms.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(src), 8, 8, 4, gdal.GDT_UInt16)
    for b in range(4):
        ds.GetRasterBand(b + 1).WriteArray(np.full((8, 8), 100 * (b + 1), np.uint16))
    ds = None
    vrt = str(tmp_path / "order.vrt")
    gdal.Translate(vrt, str(src), format="VRT", bandList=[3, 1])
    _name_bands(vrt, str(src), [3, 1], None)
    ds = gdal.Open(vrt)
    assert [ds.GetRasterBand(b).GetDescription() for b in (1, 2)] == ["MS band 3", "MS band 1"]
