"""The command line: user mistakes give one line and exit status 2; a fuse run writes a GeoTIFF."""

import json
import os
import subprocess
import sys

import pytest
from osgeo import gdal, osr

from padm_pansharpening.engine import demo as datasets


def run_cli(*args, cwd=None):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-m", "padm_pansharpening", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    scene, truth = datasets.demo_scene(128, seed=2)
    pan, ms = datasets.write_geotiffs(scene, folder)
    return pan, ms, scene, truth


def test_fuse_writes_georeferenced_output(demo_files, tmp_path):
    pan, ms, scene, _ = demo_files
    out = tmp_path / "fused.tif"
    r = run_cli("fuse", "--pan", pan, "--ms", ms, "--out", out, "--method", "gsa", "--progress", "json")
    assert r.returncode == 0, r.stderr
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert last["result"]["bands"] == 4
    ds = gdal.Open(str(out))
    assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (128, 128, 4)
    assert ds.GetGeoTransform() == gdal.Open(str(pan)).GetGeoTransform()


def test_user_error_is_one_line_exit_2(demo_files, tmp_path):
    pan, ms, _, _ = demo_files
    # MS reprojected to another CRS label: a mismatched CRS is a user error, not a crash.
    other = tmp_path / "ms_other_crs.tif"
    src = gdal.Open(str(ms))
    dst = gdal.GetDriverByName("GTiff").CreateCopy(str(other), src)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    dst.SetProjection(srs.ExportToWkt())
    dst = None
    out = tmp_path / "never.tif"
    r = run_cli("fuse", "--pan", pan, "--ms", other, "--out", out, "--method", "gsa")
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in r.stderr
    assert not out.exists() and not list(tmp_path.glob("never*"))


def test_missing_file_and_unknown_sensor_are_user_errors(demo_files, tmp_path):
    pan, ms, _, _ = demo_files
    r = run_cli("fuse", "--pan", tmp_path / "nope.tif", "--ms", ms, "--out", tmp_path / "o.tif")
    assert r.returncode == 2 and "nope.tif" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("fuse", "--pan", pan, "--ms", ms, "--out", tmp_path / "o.tif", "--sensor", "XYZ")
    assert r.returncode == 2 and "XYZ" in r.stderr and "Traceback" not in r.stderr


def test_output_equal_to_input_is_refused_and_input_untouched(demo_files):
    pan, ms, _, _ = demo_files
    before = pan.read_bytes()
    r = run_cli("fuse", "--pan", pan, "--ms", ms, "--out", pan)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert pan.read_bytes() == before


def test_evaluate_any_fused_raster(demo_files, tmp_path):
    pan, ms, scene, truth = demo_files
    out = tmp_path / "fused.tif"
    assert run_cli("fuse", "--pan", pan, "--ms", ms, "--out", out, "--method", "exp", "--float").returncode == 0
    ref = tmp_path / "truth.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(ref), 128, 128, 4, gdal.GDT_Float32)
    ds.SetGeoTransform(gdal.Open(str(pan)).GetGeoTransform())
    ds.SetProjection(gdal.Open(str(pan)).GetProjection())
    for b in range(4):
        ds.GetRasterBand(b + 1).WriteArray(truth[:, :, b])
    ds = None
    js = tmp_path / "m.json"
    r = run_cli("evaluate", "--pan", pan, "--ms", ms, "--fused", out, "--reference", ref, "--json", js)
    assert r.returncode == 0, r.stderr
    m = json.loads(js.read_text())
    assert set(m["FR"]["fused"]) >= {"D_lambda_K", "D_s", "HQNR", "QNR"}
    assert set(m["RR"]["fused"]) >= {"Q2n", "Q", "SAM", "ERGAS", "SCC", "PSNR", "SSIM"}
    # EXP only interpolates: it must lose against the truth by a clear margin, yet be sane.
    assert 0.3 < m["RR"]["fused"]["Q2n"] < 0.99 and m["RR"]["fused"]["ERGAS"] > 0.5


def test_info_runs():
    r = run_cli("info")
    assert r.returncode == 0 and "GDAL" in r.stdout
