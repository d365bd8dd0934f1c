"""engine.raster: validation errors, alignment of the MS onto the PAN/ratio grid, output writing, previews."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pytest
from osgeo import gdal, osr

from padm_pansharpening.engine.raster import pair as raster_pair, preview as raster_preview, writer as raster_writer
from padm_pansharpening.engine.errors import PansharpenError


def wkt_of(epsg: int) -> str:
    s = osr.SpatialReference()
    s.ImportFromEPSG(epsg)
    return s.ExportToWkt()


def write_tif(path: Path, arr: np.ndarray, gt: Optional[Sequence[float]] = None, epsg: Optional[int] = 32633,
              nodata: Optional[float] = None, dtype: int = gdal.GDT_Float32) -> Path:
    """(H, W) or (H, W, B) array -> GeoTIFF (no georeferencing when gt is None)."""
    arr = arr[..., None] if arr.ndim == 2 else arr
    ds = gdal.GetDriverByName("GTiff").Create(str(path), arr.shape[1], arr.shape[0], arr.shape[2], dtype)
    if gt is not None:
        ds.SetGeoTransform(tuple(gt))
        if epsg:
            ds.SetProjection(wkt_of(epsg))
    for b in range(arr.shape[2]):
        band = ds.GetRasterBand(b + 1)
        if nodata is not None:
            band.SetNoDataValue(nodata)
        band.WriteArray(arr[:, :, b])
    ds = None
    return path


def pan_gt(px: float = 0.5, x0: float = 500000.0, y0: float = 4500000.0) -> tuple:
    return (x0, px, 0.0, y0, 0.0, -px)


def simple_pair(tmp: Path, r: int = 4, h: int = 16, w: int = 20, bands: int = 3, ms_shift_px=(0, 0),
                ms_px: Optional[float] = None, epsg_ms: int = 32633, ms_gt_rot: float = 0.0) -> tuple[Path, Path]:
    """PAN (h*r, w*r) at 0.5 m and MS (h, w, bands); MS origin shifted by ms_shift_px PAN pixels (col, row)."""
    rng = np.random.default_rng(0)
    pan = write_tif(tmp / "pan.tif", rng.random((h * r, w * r)) * 100, pan_gt())
    mpx = ms_px if ms_px is not None else 0.5 * r
    gt = (500000.0 + ms_shift_px[0] * 0.5, mpx, ms_gt_rot, 4500000.0 - ms_shift_px[1] * 0.5, 0.0, -mpx)
    ms = write_tif(tmp / "ms.tif", rng.random((h, w, bands)) * 100, gt, epsg=epsg_ms)
    return pan, ms


def expect_error(fn, *names: str) -> str:
    with pytest.raises(PansharpenError) as err:
        fn()
    msg = str(err.value)
    assert "\n" not in msg
    for name in names:
        assert name in msg, msg
    return msg


# ------------------------------------------------------------------------------------ validation


def test_different_crs(tmp_path):
    pan, ms = simple_pair(tmp_path, epsg_ms=32632)
    msg = expect_error(lambda: raster_pair.open_pair(pan, ms), str(ms), str(pan))
    assert "EPSG:32632" in msg and "gdalwarp" in msg


def test_no_overlap(tmp_path):
    pan, ms = simple_pair(tmp_path, ms_shift_px=(10000, 0))
    assert "do not overlap" in expect_error(lambda: raster_pair.open_pair(pan, ms), str(ms))


def test_non_integer_ratio(tmp_path):
    pan, ms = simple_pair(tmp_path, ms_px=1.7)  # 3.4 x the PAN pixel
    assert "not an integer" in expect_error(lambda: raster_pair.open_pair(pan, ms), str(ms))


def test_ratio_within_one_percent_is_accepted(tmp_path):
    pan, ms = simple_pair(tmp_path, ms_px=2.0 * 1.005)
    assert raster_pair.open_pair(pan, ms).ratio == 4


def test_pan_with_two_bands(tmp_path):
    _, ms = simple_pair(tmp_path)
    pan2 = write_tif(tmp_path / "pan2.tif", np.ones((64, 80, 2)), pan_gt())
    assert "one" in expect_error(lambda: raster_pair.open_pair(pan2, ms), str(pan2))


def test_ms_with_one_band(tmp_path):
    pan, _ = simple_pair(tmp_path)
    ms1 = write_tif(tmp_path / "ms1.tif", np.ones((16, 20)), (500000.0, 2.0, 0.0, 4500000.0, 0.0, -2.0))
    assert "at least 2" in expect_error(lambda: raster_pair.open_pair(pan, ms1), str(ms1))


def test_unreadable_and_missing_files(tmp_path):
    pan, _ = simple_pair(tmp_path)
    junk = tmp_path / "junk.tif"
    junk.write_bytes(os.urandom(4000))
    expect_error(lambda: raster_pair.open_pair(pan, junk), str(junk))
    expect_error(lambda: raster_pair.open_pair(tmp_path / "nope.tif", junk), "nope.tif", "does not exist")


def test_truncated_file(tmp_path):
    pan, _ = simple_pair(tmp_path)
    ms = write_tif(tmp_path / "big_ms.tif", np.random.default_rng(1).random((16, 20, 4)) * 100,
                   (500000.0, 2.0, 0.0, 4500000.0, 0.0, -2.0))
    data = ms.read_bytes()
    ms.write_bytes(data[: len(data) // 2])
    expect_error(lambda: raster_pair.open_pair(pan, ms), str(ms))


def test_rotated_geotransform(tmp_path):
    pan, ms = simple_pair(tmp_path, ms_gt_rot=0.1)
    assert "rotated" in expect_error(lambda: raster_pair.open_pair(pan, ms), str(ms))


def test_one_georeferenced_one_not(tmp_path):
    pan, _ = simple_pair(tmp_path)
    ms = write_tif(tmp_path / "plain.tif", np.ones((16, 20, 3)), None)
    expect_error(lambda: raster_pair.open_pair(pan, ms), str(ms), "georeferencing")


def test_ungeoreferenced_pair(tmp_path):
    pan = write_tif(tmp_path / "p.tif", np.ones((48, 60)), None)
    ms = write_tif(tmp_path / "m.tif", np.ones((16, 20, 4)), None)
    pair = raster_pair.open_pair(pan, ms)
    assert (pair.ratio, pair.height, pair.width, pair.geotransform) == (3, 48, 60, None)
    assert any("not georeferenced" in n or "neither file is georeferenced" in n for n in pair.notes)
    bad = write_tif(tmp_path / "m2.tif", np.ones((17, 20, 4)), None)
    expect_error(lambda: raster_pair.open_pair(pan, bad), str(bad))


def test_output_path_checks(tmp_path, monkeypatch):
    pan, ms = simple_pair(tmp_path)
    assert "input" in expect_error(lambda: raster_writer.check_output_path(ms, [pan, ms]), str(ms))
    link = tmp_path / "alias.tif"
    link.symlink_to(pan)
    expect_error(lambda: raster_writer.check_output_path(link, [pan, ms]), str(pan))
    expect_error(lambda: raster_writer.check_output_path(tmp_path / "no" / "out.tif", [pan]), "does not exist")
    monkeypatch.setattr(raster_writer.os, "access", lambda path, mode: False)  # root may write anywhere
    assert "not writable" in expect_error(lambda: raster_writer.check_output_path(tmp_path / "o.tif", [pan]), str(tmp_path))


# ------------------------------------------------------------------------------------ alignment


def smooth(y: np.ndarray, x: np.ndarray, band: int) -> np.ndarray:
    """A smooth analytic field (coordinates in PAN pixels)."""
    return 100 + 30 * np.sin(2 * np.pi * x / 37.0 + band) * np.cos(2 * np.pi * y / 53.0) + 0.2 * x + 0.1 * y * band


@pytest.mark.parametrize("offset, by_index", [(-0.5, True), (-0.25, False)])
def test_offset_grids_against_truth(tmp_path, offset, by_index):
    """MS origin ``offset`` PAN pixels before the PAN's (r = 2); the MS is point-sampled from a known
    field at its pixel centres. Landsat-like (-0.5: each MS pixel centred on a PAN pixel): taken by
    index from the second PAN row/column on, MS pixel j on PAN pixel 2j+1 of the region (the phase of
    interp23tap). Any other offset (-0.25): resampled, equal to the field at the PAN block centres."""
    r, h, w, bands = 2, 40, 50, 3
    # MS pixel (i, j) centre lies at PAN pixel-edge coordinate r*i + r/2 + offset in both axes
    ci = (np.arange(h) * r + r / 2 + offset)
    cj = (np.arange(w) * r + r / 2 + offset)
    ms = np.stack([smooth(ci[:, None], cj[None, :], b) for b in range(bands)], -1)
    x0, y0 = 667642.5, 4554217.5
    write_tif(tmp_path / "pan.tif", np.zeros((h * r + 1, w * r + 1)), pan_gt(15.0, x0, y0))
    write_tif(tmp_path / "ms.tif", ms, (x0 + 15.0 * offset, 30.0, 0.0, y0 - 15.0 * offset, 0.0, -30.0))
    pair = raster_pair.open_pair(tmp_path / "pan.tif", tmp_path / "ms.tif")
    assert pair.ratio == 2 and pair.resampled != by_index and pair.rows.centred == by_index
    _, aligned, _, valid = pair.read(0, 0, pair.height, pair.width)
    centre = r // 2 + 0.5 if by_index else r / 2  # LR pixel centre within its block (pixel-edge coords)
    bi = pair.rows.start + np.arange(pair.height // r) * r + centre
    bj = pair.cols.start + np.arange(pair.width // r) * r + centre
    truth = np.stack([smooth(bi[:, None], bj[None, :], b) for b in range(bands)], -1)
    assert valid.all()
    if by_index:
        assert (pair.rows.start, pair.cols.start) == (1, 1) and any("centre-aligned" in n for n in pair.notes)
        stored = ms.astype(np.float32).astype(np.float64)  # write_tif stores float32
        np.testing.assert_array_equal(aligned, stored[1:1 + truth.shape[0], 1:1 + truth.shape[1]])
        np.testing.assert_allclose(aligned, truth, rtol=1e-6)
        return
    inner = (slice(2, -2), slice(2, -2))  # away from the replicated MS edges
    err = np.abs(aligned - truth)[inner].max()
    naive = np.abs(ms[: truth.shape[0], : truth.shape[1]] - truth)[inner].max()
    assert err < 0.05 and naive > 10 * err, (err, naive)


def test_integer_offset_is_taken_by_index(tmp_path):
    """WV3-like: MS origin offset by +2 / +1 PAN pixels (r = 4): the region starts there, no resampling,
    and the aligned MS is the MS itself; block means of a PAN built from it match exactly."""
    r, h, w = 4, 12, 15
    rng = np.random.default_rng(3)
    hr = rng.random(((h + 1) * r, (w + 1) * r)) * 50
    ms = hr[1:1 + h * r, 2:2 + w * r].reshape(h, r, w, r).mean((1, 3))[..., None] * np.array([1.0, 2.0])
    write_tif(tmp_path / "pan.tif", hr, pan_gt(0.3))
    write_tif(tmp_path / "ms.tif", ms, (500000.0 + 0.6, 1.2, 0.0, 4500000.0 - 0.3, 0.0, -1.2))
    pair = raster_pair.open_pair(tmp_path / "pan.tif", tmp_path / "ms.tif")
    assert (pair.rows.start, pair.cols.start, pair.height, pair.width) == (1, 2, h * r, w * r)
    assert not pair.resampled
    pan, aligned, _, _ = pair.read(0, 0, pair.height, pair.width)
    np.testing.assert_array_equal(aligned, ms.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(pan.reshape(h, r, w, r).mean((1, 3)), aligned[..., 0], rtol=1e-6)
    assert pair.geotransform == pytest.approx((500000.6, 0.3, 0.0, 4499999.7, 0.0, -0.3))


def test_windowed_reads_equal_whole_read(tmp_path):
    """Reading aligned windows (cubic taps included) gives the same values as one whole read."""
    pan_p, ms_p = simple_pair(tmp_path, r=2, h=30, w=26, ms_shift_px=(-0.25, 0.75))  # quarter PAN pixels: resampled
    pair = raster_pair.open_pair(pan_p, ms_p)
    assert pair.resampled
    pan, ms, pv, mv = pair.read(0, 0, pair.height, pair.width)
    for r0, c0, hh, ww in ((0, 0, 10, 8), (12, 6, 20, 18), (pair.height - 6, pair.width - 4, 6, 4)):
        p, m, _, v = pair.read(r0, c0, hh, ww)
        np.testing.assert_array_equal(p, pan[r0:r0 + hh, c0:c0 + ww])
        np.testing.assert_allclose(m, ms[r0 // 2:(r0 + hh) // 2, c0 // 2:(c0 + ww) // 2], rtol=0, atol=1e-12)


def test_nodata_masks(tmp_path):
    pan = np.full((32, 32), 5.0)
    pan[0:4, 0:4] = 0
    ms = np.full((8, 8, 2), 7.0)
    ms[5, 6, 1] = -1
    write_tif(tmp_path / "p.tif", pan, pan_gt(), nodata=0)
    write_tif(tmp_path / "m.tif", ms, (500000.0, 2.0, 0.0, 4500000.0, 0.0, -2.0), nodata=-1)
    pair = raster_pair.open_pair(tmp_path / "p.tif", tmp_path / "m.tif")
    _, _, pv, mv = pair.read(0, 0, 32, 32)
    assert (~pv).sum() == 16 and not pv[0:4, 0:4].any()
    assert (~mv).sum() == 1 and not mv[5, 6]


# ------------------------------------------------------------------------------------ real data


def _block_corr(pan: np.ndarray, ms_mean: np.ndarray, r: int) -> float:
    h, w = ms_mean.shape
    blocks = pan[: h * r, : w * r].reshape(h, r, w, r).mean((1, 3))
    return float(np.corrcoef(blocks.ravel(), ms_mean.ravel())[0, 1])


def _centred_corr(pan: np.ndarray, ms_mean: np.ndarray, r: int) -> float:
    """Like _block_corr with an r-wide box centred on PAN pixel r*j + r//2 (centre-aligned grids)."""
    from scipy.ndimage import correlate1d

    k = np.r_[0.5, np.ones(r - 1), 0.5] / r
    smooth_pan = correlate1d(correlate1d(pan, k, axis=0, mode="nearest"), k, axis=1, mode="nearest")
    h, w = ms_mean.shape
    return float(np.corrcoef(smooth_pan[r // 2::r, r // 2::r][:h, :w].ravel(), ms_mean.ravel())[0, 1])


@pytest.mark.parametrize("folder, pan_name, ms_name, bands, centred, start, floor", [
    ("wv3_hpf_geotiff", "pan.tif", "mul.tif", slice(1, 7), False, (1, 2), 0.98),
    ("landsat_oli_istanbul_geotiff", "pan.tif", "ms.tif", slice(0, 3), True, (1, 1), 0.98),
])
def test_real_pairs_align_better_than_naive(shared_data, folder, pan_name, ms_name, bands, centred, start, floor):
    base = shared_data / folder
    pair = raster_pair.open_pair(base / pan_name, base / ms_name)
    r = pair.ratio
    assert not pair.resampled and (pair.rows.start, pair.cols.start) == start
    assert pair.rows.centred == pair.cols.centred == centred
    pan, ms, _, _ = pair.read(0, 0, pair.height, pair.width)
    aligned = (_centred_corr if centred else _block_corr)(pan, ms[..., bands].mean(-1), r)
    raw_pan = gdal.Open(str(base / pan_name)).ReadAsArray().astype(np.float64)
    raw_ms = np.moveaxis(gdal.Open(str(base / ms_name)).ReadAsArray().astype(np.float64), 0, -1)
    h, w = min(raw_pan.shape[0] // r, raw_ms.shape[0]), min(raw_pan.shape[1] // r, raw_ms.shape[1])
    naive = _block_corr(raw_pan, raw_ms[:h, :w, bands].mean(-1), r)
    # WV3 README: 0.95 -> 0.98; Landsat: 0.935 -> 0.986 (0.962 when its MS was resampled onto block centres)
    assert aligned > naive + 0.02 and aligned > floor, (aligned, naive)


# ------------------------------------------------------------------------------------ output


def test_writer_converts_and_keeps_nodata_distinct(tmp_path):
    out = tmp_path / "o.tif"
    w = raster_writer.OutputWriter(out, 4, 2, 2, np.dtype(np.uint16), pan_gt(), wkt_of(32633), 0.0, ["a", "b"], {"K": "v"})
    values = np.array([[[-3.0, 0.4], [0.6, 70000.0], [12.5, 13.5], [1.0, 2.0]]] * 2)
    valid = np.array([[True, True, True, False]] * 2)
    w.write(0, 0, values, valid)
    w.commit()
    ds = gdal.Open(str(out))
    got = np.moveaxis(ds.ReadAsArray(), 0, -1)[0]
    np.testing.assert_array_equal(got, [[1, 1], [1, 65535], [12, 14], [0, 0]])  # rint half-to-even, 0 reserved
    assert ds.GetRasterBand(2).GetDescription() == "b" and ds.GetMetadataItem("K") == "v"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.tif"]


def test_writer_abort_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with raster_writer.OutputWriter(tmp_path / "o.tif", 8, 8, 2, np.dtype(np.float32), None, "", None, ["", ""], {}):
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_preview_png(tmp_path):
    rng = np.random.default_rng(0)
    tif = write_tif(tmp_path / "f.tif", rng.random((300, 2400, 4)) * 1000, pan_gt(), dtype=gdal.GDT_UInt16)
    png = raster_preview.write_preview_png(tif, tmp_path / "f.png", (2, 1, 0))
    ds = gdal.Open(str(png))
    assert ds.GetDriver().ShortName == "PNG"
    assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (1024, 128, 3)
    assert ds.GetRasterBand(1).DataType == gdal.GDT_Byte
    arr = ds.ReadAsArray()
    assert arr.min() >= 1 and arr.max() == 255
    expect_error(lambda: raster_preview.write_preview_png(tif, tmp_path / "x.png", (0, 1, 7)), str(tif))


def test_alpha_label_on_image_values_is_a_spectral_band(tmp_path):
    """GDAL labels band 4 of a 4-band Byte GeoTIFF made with its defaults 'alpha': a B-G-R-NIR MS saved
    that way keeps its NIR band (with a note); a real alpha (0 / 255) stays a mask."""
    from osgeo import gdal

    from padm_pansharpening.engine.raster.gdalio import open_raster

    rng = np.random.default_rng(0)
    for name, last in (("bgrn", rng.integers(1, 255, (16, 16))), ("rgba", np.where(np.arange(16) < 4, 0, 255)[None].repeat(16, 0))):
        path = tmp_path / f"{name}.tif"
        ds = gdal.GetDriverByName("GTiff").Create(str(path), 16, 16, 4, gdal.GDT_Byte)
        for b in range(3):
            ds.GetRasterBand(b + 1).WriteArray(rng.integers(1, 255, (16, 16)))
        ds.GetRasterBand(4).WriteArray(last)
        assert ds.GetRasterBand(4).GetColorInterpretation() == gdal.GCI_AlphaBand
        ds = None
        ds, info = open_raster(path, "MS")
        if name == "bgrn":
            assert info.bands == 4 and info.alpha_bands == [] and "labelled alpha but holds image values" in info.notes[0]
            values, valid = info.read(ds, 0, 0, 16, 16, "MS")
            assert values.shape == (16, 16, 4) and valid.all()
        else:
            assert info.bands == 3 and info.alpha_bands == [4] and not info.notes
            values, valid = info.read(ds, 0, 0, 16, 16, "MS")
            assert values.shape == (16, 16, 3) and not valid[:, :4].any() and valid[:, 4:].all()
        ds = None
