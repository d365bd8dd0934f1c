"""The Processing provider: registration, parameters, and padm:pansharpen_classical on real scenes,
through processing.run and through qgis_process.bin."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from osgeo import gdal
from qgis.core import QgsApplication, QgsProcessingException, QgsProcessingFeedback, QgsRasterLayer

import processing

ALG = "padm:pansharpen_classical"
REPO = Path(__file__).resolve().parents[2]


class ErrorLog(QgsProcessingFeedback):
    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []

    def reportError(self, error: str, fatalError: bool = False) -> None:  # noqa: N802,N803 - QGIS API
        self.errors.append(error)


@pytest.fixture
def landsat(shared_data: Path) -> tuple[str, str]:
    folder = shared_data / "landsat_oli_istanbul_geotiff"
    return str(folder / "pan.tif"), str(folder / "ms.tif")


@pytest.fixture
def wv3(shared_data: Path) -> tuple[str, str]:
    folder = shared_data / "wv3_hpf_geotiff"
    return str(folder / "pan.tif"), str(folder / "mul.tif")


def test_provider_lists_algorithm_with_documented_parameters(padm_provider):
    from padm_pansharpening.engine.definitions import CLASSICAL_METHODS, DEFAULT_CLASSICAL, METHOD_NAMES
    from padm_pansharpening.engine.methods import get_method
    from padm_pansharpening.engine.sensors import get_sensor

    assert padm_provider.name() == "PADM Pansharpening"
    alg = QgsApplication.processingRegistry().algorithmById(ALG)
    assert alg is not None and alg.displayName() == "Pansharpen (classical)"
    assert len(alg.shortHelpString()) > 100
    names = [p.name() for p in alg.parameterDefinitions()]
    assert names == ["PAN", "MS", "METHOD", "SENSOR", "TILE", "FLOAT", "CLIP", "OUTPUT"]
    for param in alg.parameterDefinitions():
        assert param.help().strip(), f"parameter {param.name()} has no help text"
    methods = alg.parameterDefinition("METHOD").options()
    assert methods == list(CLASSICAL_METHODS) and "bt-h" in methods  # the engine's list, in its order
    assert set(methods) <= set(METHOD_NAMES)
    for name in methods:
        get_method(name)  # every choice is a method the engine runs (an unknown name raises)
    assert alg.parameterDefinition("METHOD").defaultValue() == DEFAULT_CLASSICAL
    sensors = alg.parameterDefinition("SENSOR").options()
    assert sensors[0] == "auto" and {"WV3", "GeoEye1", "QB"} <= set(sensors)
    for name in sensors[1:]:
        assert get_sensor(name).name == name
    advanced = {p.name() for p in alg.parameterDefinitions() if p.flags() & p.FlagAdvanced}
    assert advanced == {"TILE", "FLOAT", "CLIP"}


def test_pansharpen_landsat_processing_run(padm_provider, landsat, tmp_path, check_fused):
    pan, ms = landsat
    out = tmp_path / "fused.tif"
    feedback = QgsProcessingFeedback()
    progress: list[float] = []
    feedback.progressChanged.connect(progress.append)
    result = processing.run(ALG, {"PAN": pan, "MS": ms, "METHOD": "gsa", "SENSOR": "Landsat8",
                                  "TILE": 128, "OUTPUT": str(out)}, feedback=feedback)
    assert Path(str(result["OUTPUT"])) == out
    assert progress[-1] == pytest.approx(100.0) and progress == sorted(progress) and len(progress) > 3
    check_fused(str(out), pan, ms)


def test_output_data_type_follows_ms_unless_float(padm_provider, landsat, tmp_path, check_fused):
    pan, ms = landsat
    ms_u16 = str(tmp_path / "ms_uint16.tif")  # the shared MS holds integer DNs as Float32
    gdal.Translate(ms_u16, ms, outputType=gdal.GDT_UInt16)
    for method, as_float, dtype in (("bdsd-pc", False, gdal.GDT_UInt16), ("mtf-glp-hpm", True, gdal.GDT_Float32)):
        out = tmp_path / f"fused_{method}.tif"
        processing.run(ALG, {"PAN": pan, "MS": ms_u16, "METHOD": method, "FLOAT": as_float, "OUTPUT": str(out)})
        check_fused(str(out), pan, ms_u16)
        assert gdal.Open(str(out)).GetRasterBand(1).DataType == dtype


def test_user_error_becomes_one_line_processing_exception(padm_provider, landsat, wv3, tmp_path):
    out = tmp_path / "never.tif"
    with pytest.raises(QgsProcessingException) as err:  # different CRS, no overlap
        processing.run(ALG, {"PAN": landsat[0], "MS": wv3[1], "OUTPUT": str(out)})
    message = str(err.value)
    assert message.strip() and "\n" not in message.strip()
    assert "Traceback" not in message
    assert not out.exists()


def test_layer_without_file_is_refused(padm_provider, landsat, tmp_path):
    gdal.Translate("/vsimem/pan_in_memory.tif", landsat[0])
    try:
        layer = QgsRasterLayer("/vsimem/pan_in_memory.tif", "in memory", "gdal")
        assert layer.isValid()
        feedback = ErrorLog()
        with pytest.raises(QgsProcessingException):  # raised in prepareAlgorithm, reported to the feedback
            processing.run(ALG, {"PAN": layer, "MS": landsat[1], "OUTPUT": str(tmp_path / "never.tif")},
                           feedback=feedback)
        assert any("save it as a GeoTIFF" in e for e in feedback.errors), feedback.errors
    finally:
        gdal.Unlink("/vsimem/pan_in_memory.tif")


def test_cancel_leaves_nothing_behind(padm_provider, landsat, tmp_path):
    out = tmp_path / "cancelled.tif"
    feedback = QgsProcessingFeedback()
    feedback.cancel()
    result = processing.run(ALG, {"PAN": landsat[0], "MS": landsat[1], "OUTPUT": str(out)}, feedback=feedback)
    assert "OUTPUT" not in result
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def qgis_process_here(qgis_process, tmp_path: Path):
    """qgis_process.bin with a fresh profile in which this checkout, found through QGIS_PLUGINPATH, is enabled."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "padm_pansharpening").symlink_to(REPO, target_is_directory=True)
    profile = tmp_path / "profile"

    def run(*args: str) -> subprocess.CompletedProcess:
        return qgis_process(profile, *args, plugin_path=plugins)

    enable = run("plugins", "enable", "padm_pansharpening")
    assert enable.returncode == 0, enable.stdout + enable.stderr
    return run


def test_qgis_process_runs_algorithm(qgis_process_here, wv3, tmp_path, check_fused):
    pan, ms = wv3
    out = tmp_path / "fused_qp.tif"
    listing = qgis_process_here("list")
    assert ALG in listing.stdout, listing.stdout[-2000:] + listing.stderr[-2000:]
    from padm_pansharpening.plugin.algorithms.common import SENSOR_CHOICES

    wv3_number = SENSOR_CHOICES.index("WV3")  # 'SENSOR=6' as the help lists it (issue 16 item 8); METHOD by name
    run = qgis_process_here("--json", "run", ALG, "--", f"PAN={pan}", f"MS={ms}", "METHOD=gsa",
                            f"SENSOR={wv3_number}", f"OUTPUT={out}")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    results = json.loads(run.stdout[run.stdout.index("{"):])["results"]
    assert Path(results["OUTPUT"]) == out
    check_fused(str(out), pan, ms)
    assert gdal.Open(str(out)).GetMetadataItem("PADM_SENSOR") == "WV3"


def test_qgis_process_reports_user_error(qgis_process_here, landsat, wv3, tmp_path):
    run = qgis_process_here("run", ALG, "--", f"PAN={landsat[0]}", f"MS={wv3[1]}", f"OUTPUT={tmp_path / 'never.tif'}")
    assert run.returncode != 0
    assert "reproject the MS" in run.stdout + run.stderr  # the engine's one-line message reaches the user
    assert "Traceback" not in run.stdout + run.stderr
    assert not (tmp_path / "never.tif").exists()


# --- the other algorithms: pansharpen (HFreqDiff), finetune, evaluate ----------------------------

ALGORITHMS = ["padm:evaluate", "padm:finetune", "padm:pansharpen", "padm:pansharpen_classical"]


def test_every_algorithm_and_parameter_is_documented(padm_provider):
    assert sorted(a.id() for a in padm_provider.algorithms()) == ALGORITHMS
    for alg in padm_provider.algorithms():
        assert len(alg.shortHelpString()) > 200, alg.id()
        for param in alg.parameterDefinitions():
            assert len(param.help().strip()) > 20, f"{alg.id()} parameter {param.name()} has no help text"
    hfd = QgsApplication.processingRegistry().algorithmById("padm:pansharpen")
    assert [p.name() for p in hfd.parameterDefinitions()] == [
        "PAN", "MS", "SENSOR", "MODEL", "QUALITY", "STEPS", "SEED", "SAMPLES", "DEVICE", "TILE", "FLOAT", "CLIP", "OUTPUT"]
    assert {o.name() for o in hfd.outputDefinitions()} == {"OUTPUT", "UNCERTAINTY", "PROVIDER"}
    from padm_pansharpening.engine.options import DEVICE_NAMES

    assert hfd.parameterDefinition("DEVICE").options() == list(DEVICE_NAMES)  # as the dock and the CLI


def test_hfreqdiff_processing_run_with_uncertainty(padm_provider, scenes, tmp_path, check_fused):
    pan, ms = scenes["landsat8"]
    out = tmp_path / "hfd.tif"
    result = processing.run("padm:pansharpen", {"PAN": pan, "MS": ms, "STEPS": 1, "SAMPLES": 2, "SEED": 7,
                                                "DEVICE": "cpu", "QUALITY": "fast", "OUTPUT": str(out)})
    check_fused(str(out), pan, ms)
    runtime = json.loads(gdal.Open(str(out)).GetMetadataItem("PADM_RUNTIME"))
    assert runtime["quality"] == "fast" and runtime["ensemble"] == "none"  # the preset is recorded
    assert result["PROVIDER"] == "onnxruntime:CPUExecutionProvider"  # what ran, as asked (DEVICE=cpu)
    spread = gdal.Open(result["UNCERTAINTY"]).ReadAsArray()
    assert Path(result["UNCERTAINTY"]) == tmp_path / "hfd_uncertainty.tif"
    assert spread.shape == (3,) + gdal.Open(str(out)).ReadAsArray().shape[1:]
    assert (spread[spread != -1] >= 0).all() and spread.max() > 0  # two different seeds differ somewhere


def test_missing_dependency_is_one_line_in_processing(padm_provider, scenes, tmp_path, monkeypatch):
    from padm_pansharpening.plugin import deps

    real = deps.is_available
    monkeypatch.setattr(deps, "is_available", lambda m: False if m == "onnxruntime" else real(m))
    pan, ms = scenes["wv3"]
    feedback = ErrorLog()
    with pytest.raises(QgsProcessingException):
        processing.run("padm:pansharpen", {"PAN": pan, "MS": ms, "OUTPUT": str(tmp_path / "x.tif")}, feedback=feedback)
    (line,) = [e for e in feedback.errors if "onnxruntime" in e]
    assert "\n" not in line.strip() and "pip" in line
    assert list(tmp_path.iterdir()) == []


def test_batch_of_three_scenes_through_the_batch_dialog(padm_provider, scenes, tmp_path, check_fused):
    """Batch mode as the toolbox runs it: QGIS's own BatchAlgorithmDialog, one row per scene."""
    from processing.gui.BatchAlgorithmDialog import BatchAlgorithmDialog
    from processing.tools import dataobjects

    alg = QgsApplication.processingRegistry().algorithmById("padm:pansharpen")
    dialog = BatchAlgorithmDialog(alg.create())
    panel = dialog.mainWidget()
    names = ["landsat8", "vhr4b", "wv3"]
    panel.addRow(len(names) - 1)
    context = dataobjects.createContext()
    column = panel.parameter_to_column
    for row, name in enumerate(names):
        pan, ms = scenes[name]
        panel.wrappers[row][column["PAN"]].setParameterValue(pan, context)
        panel.wrappers[row][column["MS"]].setParameterValue(ms, context)
        panel.wrappers[row][column["STEPS"]].setParameterValue(1, context)
        panel.tblParameters.cellWidget(row + 1, column["OUTPUT"]).setValue(str(tmp_path / f"{name}.tif"))
    panel.checkLoadLayersOnCompletion.setChecked(False)
    assert panel.batchRowCount() == 3
    dialog.runAlgorithm()
    for name in names:
        check_fused(str(tmp_path / f"{name}.tif"), *scenes[name])
    written = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".aux.xml"))  # (GDAL statistics)
    assert written == sorted(f"{n}.tif" for n in names)
    dialog.deleteLater()


def test_evaluate_report_and_outputs(padm_provider, scenes, tmp_path):
    pan, ms = scenes["vhr4b"]
    fused = tmp_path / "gsa.tif"
    processing.run(ALG, {"PAN": pan, "MS": ms, "METHOD": "gsa", "OUTPUT": str(fused)})
    report = tmp_path / "metrics.json"
    result = processing.run("padm:evaluate", {"PAN": pan, "MS": ms, "FUSED": str(fused), "REPORT": str(report)})
    data = json.loads(report.read_text())
    assert set(data["FR"]) >= {"D_lambda_K", "D_s", "HQNR", "QNR"} and "RR" not in data
    for key in ("D_lambda_K", "D_s", "HQNR", "QNR"):
        assert result[key] == pytest.approx(data["FR"][key]) and 0 <= result[key] <= 1
    assert result["HQNR"] == pytest.approx((1 - result["D_lambda_K"]) * (1 - result["D_s"]))
    # the same numbers as the engine's CLI gives for the same files
    cli = subprocess.run([sys.executable, "-m", "padm_pansharpening", "evaluate", "--pan", pan, "--ms", ms,
                          "--fused", str(fused), "--json", str(tmp_path / "cli.json")], capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert json.loads((tmp_path / "cli.json").read_text())["FR"]["fused"] == pytest.approx(data["FR"])
    # with a reference: the reduced-resolution metrics too (the fused image scored against itself: perfect)
    md = tmp_path / "metrics.md"
    result = processing.run("padm:evaluate", {"PAN": pan, "MS": ms, "FUSED": str(fused), "REFERENCE": str(fused),
                                              "REPORT": str(md)})
    assert result["SAM"] == pytest.approx(0, abs=1e-6) and result["ERGAS"] == pytest.approx(0, abs=1e-6)
    assert result["Q2n"] == pytest.approx(1, abs=1e-6)
    text = md.read_text()
    assert "| full resolution |" in text and "| reduced resolution |" in text


def test_cli_child_runner_cancels_cleanly(scenes, tmp_path):
    """The child-process runner fine-tuning uses, on the engine's `degradation` command (JSON lines)."""
    import os
    import threading

    from padm_pansharpening.plugin import child

    pan, ms = scenes["wv3"]
    out = tmp_path / "profile.json"
    seen: list[str] = []
    first_line = threading.Event()

    def log(line: str) -> None:
        seen.append(line)
        first_line.set()

    cancel = threading.Event()
    threading.Timer(0, lambda: first_line.wait(60) and cancel.set()).start()
    t0 = time.monotonic()
    result = child.run_cli(["degradation", "--pan", pan, "--ms", ms, "--out", str(out), "--budget-seconds", "300",
                            "--threads", "1", "--progress", "json"], log=log, is_cancelled=cancel.is_set,
                           python=sys.executable, env=dict(os.environ))
    assert result.cancelled and not result.ok and result.returncode != 0
    assert time.monotonic() - t0 < 60  # not the 300 s budget
    assert seen and not out.exists() and list(tmp_path.iterdir()) == []
    done = child.run_cli(["degradation", "--pan", pan, "--ms", "/nonexistent.tif", "--out", str(out),
                          "--progress", "json"], python=sys.executable, env=dict(os.environ))
    assert done.returncode == 2 and "nonexistent.tif" in done.error and "\n" not in done.error


def _finetune_available() -> tuple[bool, str]:
    run = subprocess.run([sys.executable, "-m", "padm_pansharpening", "finetune", "--help"], capture_output=True,
                         text=True, timeout=120)
    return run.returncode == 0, (run.stderr.strip().splitlines() or [""])[-1]


@pytest.fixture
def finetune_command():
    ok, why = _finetune_available()
    if not ok:
        pytest.skip(f"the engine has no finetune command yet (`python -m padm_pansharpening finetune --help`: {why})")


def test_finetune_algorithm_makes_a_model_the_pansharpen_algorithm_uses(finetune_command, padm_provider, scenes,
                                                                        tmp_path, check_fused):
    pan, ms = scenes["wv3"]
    model_dir = tmp_path / "scene_model"
    result = processing.run("padm:finetune", {"PAN": pan, "MS": ms, "BUDGET": 4, "OUTPUT": str(model_dir)})
    assert Path(result["OUTPUT"]) == model_dir and Path(result["MODEL_FILE"]).parent == model_dir
    assert [p.name for p in tmp_path.iterdir()] == ["scene_model"]  # no staging folder left
    out = tmp_path / "fused_ft.tif"
    processing.run("padm:pansharpen", {"PAN": pan, "MS": ms, "MODEL": str(model_dir), "STEPS": 1, "OUTPUT": str(out)})
    # The scene model aligns the MS to the PAN (WV3 crop: ~0.36 MS pixel down): compare with the MS moved
    # by the learned shifts; against the unmoved MS, NIR1 shifted looks more like NIR2 than NIR1.
    shifts = json.loads((model_dir / "profile.json").read_text())["shifts"]
    check_fused(str(out), pan, ms, ms_shifts=shifts)


def test_finetune_cancel_leaves_no_folder(finetune_command, padm_provider, scenes, tmp_path):
    pan, ms = scenes["wv3"]
    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(lambda p: p > 0 and feedback.cancel())
    t0 = time.monotonic()
    result = processing.run("padm:finetune", {"PAN": pan, "MS": ms, "BUDGET": 10, "OUTPUT": str(tmp_path / "m")},
                            feedback=feedback)
    assert "OUTPUT" not in result and time.monotonic() - t0 < 300
    assert list(tmp_path.iterdir()) == []


def test_modeller_chains_pansharpen_and_evaluate(padm_provider, scenes, tmp_path):
    """A graphical-modeller model, built as the modeller builds it: fuse, then score the result."""
    from qgis.core import (
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource as Source,
        QgsProcessingModelOutput,
        QgsProcessingModelParameter,
        QgsProcessingParameterRasterLayer,
    )

    model = QgsProcessingModelAlgorithm("fuse_and_score", "tests")
    for name in ("pan", "ms"):
        model.addModelParameter(QgsProcessingParameterRasterLayer(name, name.upper()), QgsProcessingModelParameter(name))

    def child(alg_id: str, child_id: str, sources: dict, output: tuple[str, str]) -> None:
        step = QgsProcessingModelChildAlgorithm(alg_id)
        step.setChildId(child_id)
        for param, source in sources.items():
            step.addParameterSources(param, [source])
        out = QgsProcessingModelOutput(output[0], output[0])
        out.setChildId(child_id)
        out.setChildOutputName(output[1])
        step.setModelOutputs({output[0]: out})
        model.addChildAlgorithm(step)

    common = {"PAN": Source.fromModelParameter("pan"), "MS": Source.fromModelParameter("ms")}
    child(ALG, "fuse", {**common, "METHOD": Source.fromStaticValue("mtf-glp-hpm")}, ("fused", "OUTPUT"))
    child("padm:evaluate", "score", {**common, "FUSED": Source.fromChildOutput("fuse", "OUTPUT")}, ("report", "REPORT"))
    pan, ms = scenes["landsat8"]
    result = processing.run(model, {"pan": pan, "ms": ms, "fuse:fused": str(tmp_path / "fused.tif"),
                                    "score:report": str(tmp_path / "report.json")})
    report = json.loads((tmp_path / "report.json").read_text())
    assert Path(report["fused"]) == tmp_path / "fused.tif" and 0 < report["FR"]["HQNR"] <= 1
    assert Path(result["score:report"]) == tmp_path / "report.json"


def test_choices_are_accepted_by_number_as_the_help_lists_them(padm_provider, scenes, tmp_path):
    """Issue 16 item 8: SENSOR=6 is the help's '6: WV3', as a number or a string (qgis_process passes
    strings); names keep working; a number out of range is refused as QGIS refuses a bad value."""
    from qgis.core import QgsProcessingContext

    alg = QgsApplication.processingRegistry().createAlgorithmById(ALG)
    sensors, methods = alg.parameterDefinition("SENSOR").options(), alg.parameterDefinition("METHOD").options()
    wv3, gsa = sensors.index("WV3"), methods.index("gsa")
    pan, ms = scenes["wv3"]
    context = QgsProcessingContext()
    base = {"PAN": pan, "MS": ms, "OUTPUT": str(tmp_path / "x.tif")}
    for sensor in (wv3, str(wv3), "WV3"):
        ok, message = alg.checkParameterValues({**base, "SENSOR": sensor, "METHOD": gsa}, context)
        assert ok, message
    ok, message = alg.checkParameterValues({**base, "SENSOR": len(sensors), "METHOD": "gsa"}, context)
    assert not ok and "SENSOR" in message.upper()
    hfd = QgsApplication.processingRegistry().createAlgorithmById("padm:pansharpen")
    devices = hfd.parameterDefinition("DEVICE").options()
    assert hfd.checkParameterValues({**base, "DEVICE": str(devices.index("cpu")), "QUALITY": 0}, context)[0]

    out = tmp_path / "by_number.tif"
    processing.run(ALG, {**base, "SENSOR": str(wv3), "METHOD": gsa, "OUTPUT": str(out)})
    meta = gdal.Open(str(out)).GetMetadata()
    assert meta["PADM_SENSOR"] == "WV3" and meta["PADM_METHOD"] == "GSA"  # the numbers' names reached the engine


def test_engine_notes_in_qgis_words():
    """CLI wording becomes the fields' names; a warning note is told apart (pushed as a warning)."""
    from padm_pansharpening.plugin.wording import is_warning, qgis_wording

    assert qgis_wording("assumed WV3: pass --sensor WV2 if it is WV2") == "assumed WV3: choose Sensor WV2 if it is WV2"
    assert qgis_wording("negatives kept (--clip clips them)") == "negatives kept (Clip Float32 output clips them)"
    assert qgis_wording("see --unknown-option and x--tile") == "see --unknown-option and x--tile"
    assert is_warning("warning: PAN/MS misregistration measured") and not is_warning("note: fine")
