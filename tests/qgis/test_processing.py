"""The Processing provider: registration, parameters, and padm:pansharpen_classical on real scenes,
through processing.run and through qgis_process.bin."""

from __future__ import annotations

import json
import subprocess
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
    from padm_pansharpening.engine.methods import METHOD_NAMES
    from padm_pansharpening.engine.sensors import get_sensor

    assert padm_provider.name() == "PADM Pansharpening"
    alg = QgsApplication.processingRegistry().algorithmById(ALG)
    assert alg is not None and alg.displayName() == "Pansharpen (classical)"
    assert len(alg.shortHelpString()) > 100
    names = [p.name() for p in alg.parameterDefinitions()]
    assert names == ["PAN", "MS", "METHOD", "SENSOR", "TILE", "FLOAT", "OUTPUT"]
    for param in alg.parameterDefinitions():
        assert param.help().strip(), f"parameter {param.name()} has no help text"
    methods = alg.parameterDefinition("METHOD").options()
    assert methods == ["exp", "brovey", "gsa", "mtf-glp-hpm", "bdsd-pc"]
    assert set(methods) <= set(METHOD_NAMES)  # every choice is a method the engine knows
    sensors = alg.parameterDefinition("SENSOR").options()
    assert sensors[0] == "auto" and {"WV3", "GeoEye1", "QB"} <= set(sensors)
    for name in sensors[1:]:
        assert get_sensor(name).name == name
    advanced = {p.name() for p in alg.parameterDefinitions() if p.flags() & p.FlagAdvanced}
    assert advanced == {"TILE", "FLOAT"}


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
    run = qgis_process_here("--json", "run", ALG, "--", f"PAN={pan}", f"MS={ms}", "METHOD=gsa", "SENSOR=WV3",
                            f"OUTPUT={out}")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    results = json.loads(run.stdout[run.stdout.index("{"):])["results"]
    assert Path(results["OUTPUT"]) == out
    check_fused(str(out), pan, ms)


def test_qgis_process_reports_user_error(qgis_process_here, landsat, wv3, tmp_path):
    run = qgis_process_here("run", ALG, "--", f"PAN={landsat[0]}", f"MS={wv3[1]}", f"OUTPUT={tmp_path / 'never.tif'}")
    assert run.returncode != 0
    assert "reproject the MS" in run.stdout + run.stderr  # the engine's one-line message reaches the user
    assert "Traceback" not in run.stdout + run.stderr
    assert not (tmp_path / "never.tif").exists()
