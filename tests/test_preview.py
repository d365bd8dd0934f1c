"""Previews (engine.raster.preview): natural colour from the sensor's band table, and the
before | after picture (the MS interpolated to the output grid beside the fused result, one stretch)."""

import numpy as np
import pytest
from osgeo import gdal, osr

from padm_pansharpening.engine.degradation import upsample_ms
from padm_pansharpening.engine.errors import PansharpenError
from padm_pansharpening.engine.pipeline import fuse_files
from padm_pansharpening.engine.raster.pair import open_pair
from padm_pansharpening.engine.raster.preview import (
    GAP,
    ms_window,
    natural_colour_bands,
    stretch_limits,
    to_bytes,
    write_before_after_png,
    write_preview_png,
)
from padm_pansharpening.engine.sensors import get_sensor


@pytest.mark.parametrize("sensor, n, rgb", [
    ("WV2", 8, (4, 2, 1)), ("WV3", 8, (4, 2, 1)),  # bands 5-3-2: red, green, blue (not 3-2-1: G, B, coastal)
    ("GeoEye1", 4, (2, 1, 0)), ("QB", 4, (2, 1, 0)), ("Pleiades", 4, (2, 1, 0)),  # B-G-R-NIR: 3-2-1
    ("Landsat8", 3, (2, 1, 0)),  # OLI B2-B3-B4 as shipped: 4-3-2 in OLI numbers
    ("Landsat7", 6, (2, 1, 0)),
    ("none", 8, (4, 2, 1)), ("none", 4, (2, 1, 0)), ("none", 3, (2, 1, 0)), ("none", 2, (1, 1, 0)),
    ("WV3", 4, (2, 1, 0)),  # a subset of WV3 bands: the table does not fit, generic order
])
def test_natural_colour_band_choice(sensor, n, rgb):
    assert natural_colour_bands(get_sensor(sensor), n) == rgb


def write_tif(path, arr, gt=None, metadata=None):
    h, w, b = arr.shape
    ds = gdal.GetDriverByName("GTiff").Create(str(path), w, h, b, gdal.GDT_Float32)
    if gt is not None:
        ds.SetGeoTransform(gt)
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(32633)
        ds.SetProjection(srs.ExportToWkt())
    for k in range(b):
        ds.GetRasterBand(k + 1).WriteArray(arr[:, :, k])
    if metadata:
        ds.SetMetadata(metadata)
    ds = None
    return path


def png_array(path):
    return gdal.Open(str(path)).ReadAsArray().astype(np.int64)


def test_preview_defaults_to_the_recorded_sensors_natural_colour(tmp_path):
    arr = np.random.default_rng(0).random((40, 60, 8)) * 1000
    tif = write_tif(tmp_path / "f.tif", arr, metadata={"PADM_SENSOR": "WV3"})
    got = png_array(write_preview_png(tif, tmp_path / "f.png"))
    bands = np.moveaxis(arr, 2, 0)[[4, 2, 1]]
    valid = np.ones((40, 60), bool)
    assert np.array_equal(got, to_bytes(bands, valid, stretch_limits(bands, valid)))


def test_before_after_of_a_shared_scene(shared_data, tmp_path):
    """Landsat 8 (3 bands B-G-R): the left half is the MS interpolated to the output grid, the right
    half the fused result, in one stretch (the MS's)."""
    d = shared_data / "landsat_oli_istanbul_geotiff"
    res = fuse_files(d / "pan.tif", d / "ms.tif", tmp_path / "exp.tif", method="exp", sensor="Landsat8")
    gsa = fuse_files(d / "pan.tif", d / "ms.tif", tmp_path / "gsa.tif", method="gsa", sensor="Landsat8")
    exp_png = write_before_after_png(d / "ms.tif", res.out_path, tmp_path / "exp.png")
    gsa_png = write_before_after_png(d / "ms.tif", gsa.out_path, tmp_path / "gsa.png")
    w, h = res.width, res.height  # 556 x 372: under 1024, full size
    exp, pair = png_array(exp_png), png_array(gsa_png)
    assert exp.shape == pair.shape == (3, h, 2 * w + GAP)
    assert (exp[:, :, w:w + GAP] == 255).all()
    assert np.array_equal(exp[:, :, :w], pair[:, :, :w])  # the same "before" whatever the method

    # the left half is the MS upsampled (by our interp23tap, independently of GDAL's cubic read),
    # and EXP (that very upsampling) looks the same on the right
    p = open_pair(d / "pan.tif", d / "ms.tif")
    try:
        ms = p.read(0, 0, p.height, p.width)[1]
    finally:
        p.close()
    up = np.moveaxis(upsample_ms(ms, 2), 2, 0)[[2, 1, 0]]
    valid = np.ones(up.shape[1:], bool)
    expected = to_bytes(up, valid, stretch_limits(up, valid)).astype(np.int64)
    inner = (slice(None), slice(4, -4), slice(4, w - 4))
    assert np.abs(exp[inner] - expected[inner]).mean() < 4
    assert np.abs(exp[:, :, w + GAP:][inner] - expected[inner]).mean() < 4
    # GSA injects PAN detail: its half holds more high frequency than its "before"
    lap = lambda a: np.abs(np.diff(a.astype(float), 2, axis=2)).mean()  # noqa: E731
    assert lap(pair[:, :, w + GAP:]) > 1.5 * lap(pair[:, :, :w])


def test_the_ms_window_follows_the_geotransforms(shared_data, tmp_path):
    d = shared_data / "wv3_hpf_geotiff"  # region: PAN rows 1.., columns 2..: the MS origin exactly
    res = fuse_files(d / "pan.tif", d / "mul.tif", tmp_path / "o.tif", method="exp", sensor="WV3")
    x0, y0, w, h = ms_window(gdal.Open(str(res.out_path)), gdal.Open(str(d / "mul.tif")))
    assert (x0, y0) == pytest.approx((0.0, 0.0), abs=1e-6)
    assert (w, h) == pytest.approx((res.width / 4, res.height / 4), abs=1e-6)
    png = png_array(write_before_after_png(d / "mul.tif", res.out_path, tmp_path / "o.png"))
    assert png.shape == (3, res.height, 2 * res.width + GAP)


def test_big_outputs_are_reduced_and_grids_without_georeferencing_use_the_whole_ms(tmp_path):
    rng = np.random.default_rng(1)
    ms = write_tif(tmp_path / "ms.tif", rng.random((300, 500, 4)) * 100)
    fused = write_tif(tmp_path / "f.tif", rng.random((1200, 2000, 4)) * 100)
    assert ms_window(gdal.Open(str(fused)), gdal.Open(str(ms))) == (0.0, 0.0, 500.0, 300.0)
    png = png_array(write_before_after_png(ms, fused, tmp_path / "p.png", max_side=400))
    assert png.shape == (3, 240, 2 * 400 + GAP)


def test_before_after_needs_the_ms_of_the_fused_raster(tmp_path):
    ms = write_tif(tmp_path / "ms.tif", np.ones((10, 10, 3)))
    fused = write_tif(tmp_path / "f.tif", np.ones((40, 40, 4)))
    with pytest.raises(PansharpenError, match="3 bands"):
        write_before_after_png(ms, fused, tmp_path / "p.png")


def test_demo_writes_the_preview_and_the_before_after(tmp_path, capsys):
    from padm_pansharpening.engine.cli import main

    assert main(["demo", "--method", "exp", "--out-dir", str(tmp_path), "--progress", "none"]) == 0
    out = capsys.readouterr().out
    assert "demo_exp.png" in out and "demo_exp_before_after.png" in out
    pair = gdal.Open(str(tmp_path / "demo_exp_before_after.png"))
    assert (pair.RasterXSize, pair.RasterYSize) == (2 * 512 + GAP, 512)
