"""engine.pipeline.fuse_files end to end on small GeoTIFFs: georeferencing, data type, nodata,
metadata, atomic writes, cancel, inputs untouched, tiling invariance; and the method registry."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
from osgeo import gdal, osr

from padm_pansharpening.engine import methods, pipeline
from padm_pansharpening.engine.errors import Cancelled, PansharpenError


def upsample(ms: np.ndarray, r: int) -> np.ndarray:
    return np.repeat(np.repeat(ms, r, axis=0), r, axis=1)


class Ratio:
    """Pointwise Brovey-like test method."""

    name = "ratio"

    def __init__(self, fail_at_tile: Optional[int] = None):
        self.fail_at_tile, self.calls = fail_at_tile, 0

    def halo(self, ratio: int) -> int:
        return 0

    def fit(self, pan, ms_lr, ratio, sensor) -> None:
        self.sensor = sensor

    def fuse_tile(self, pan, ms_lr, ratio, origin):
        self.calls += 1
        if self.fail_at_tile is not None and self.calls >= self.fail_at_tile:
            raise RuntimeError("method failed")
        up = upsample(ms_lr, ratio)
        return up * (pan / (up.mean(-1) + 1e-9))[..., None]


def utm(epsg: int = 32633) -> str:
    s = osr.SpatialReference()
    s.ImportFromEPSG(epsg)
    return s.ExportToWkt()


def write(path: Path, arr: np.ndarray, gt, dtype=gdal.GDT_UInt16, nodata=None, descriptions=None,
          metadata=None) -> Path:
    arr = arr[..., None] if arr.ndim == 2 else arr
    ds = gdal.GetDriverByName("GTiff").Create(str(path), arr.shape[1], arr.shape[0], arr.shape[2], dtype)
    ds.SetGeoTransform(gt)
    ds.SetProjection(utm())
    if metadata:
        ds.SetMetadata(metadata)
    for b in range(arr.shape[2]):
        band = ds.GetRasterBand(b + 1)
        band.WriteArray(arr[..., b])
        if nodata is not None:
            band.SetNoDataValue(nodata)
        if descriptions:
            band.SetDescription(descriptions[b])
    ds = None
    return path


PAN_GT = (400000.0, 0.5, 0.0, 5000000.0, 0.0, -0.5)


def make_pair(folder: Path, h: int = 40, w: int = 36, r: int = 4, bands: int = 4, shift=(8, 4),
              pan_nodata=None, ms_nodata=None, metadata=None) -> tuple[Path, Path]:
    """PAN larger than the MS; MS origin at +shift (cols, rows) PAN pixels; uint16 DNs."""
    rng = np.random.default_rng(1)
    ms = rng.integers(200, 1800, (h, w, bands)).astype(np.float64)
    pan = np.zeros((h * r + 20, w * r + 24))
    pan[shift[1]:shift[1] + h * r, shift[0]:shift[0] + w * r] = upsample(ms.mean(-1), r) + rng.normal(0, 30, (h * r, w * r))
    pan = np.clip(pan, 1, 4000)
    ms_gt = (PAN_GT[0] + shift[0] * 0.5, 0.5 * r, 0.0, PAN_GT[3] - shift[1] * 0.5, 0.0, -0.5 * r)
    pan_p = write(folder / "pan.tif", pan, PAN_GT, nodata=pan_nodata, metadata=metadata)
    ms_p = write(folder / "ms.tif", ms, ms_gt, nodata=ms_nodata, descriptions=[f"b{k}" for k in range(bands)])
    return pan_p, ms_p


def read(path: Path) -> tuple[gdal.Dataset, np.ndarray]:
    ds = gdal.Open(str(path))
    return ds, np.moveaxis(ds.ReadAsArray(), 0, -1)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_georeferencing_type_and_metadata(tmp_path):
    pan, ms = make_pair(tmp_path, metadata={"SENSOR": "WorldView-3"})
    out = tmp_path / "fused.tif"
    res = pipeline.fuse_files(pan, ms, out, Ratio(), tile=64, extra_metadata={"seed": 7, "model": "m.onnx"})
    assert (res.width, res.height, res.bands, res.method) == (144, 160, 4, "ratio")
    ds, arr = read(out)
    assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (144, 160, 4)
    # the processed region starts at PAN column 8, row 4: the PAN grid shifted by that many pixels
    assert ds.GetGeoTransform() == pytest.approx((400004.0, 0.5, 0.0, 4999998.0, 0.0, -0.5))
    ref = osr.SpatialReference(wkt=ds.GetProjection())
    assert ref.IsSame(osr.SpatialReference(wkt=utm()))
    assert arr.dtype == np.uint16
    assert [ds.GetRasterBand(b + 1).GetDescription() for b in range(4)] == ["b0", "b1", "b2", "b3"]
    assert ds.GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE") == "DEFLATE"
    assert ds.GetRasterBand(1).GetBlockSize() == [256, 256]
    md = ds.GetMetadata()
    assert md["PADM_METHOD"] == "ratio" and md["PADM_SEED"] == "7" and md["PADM_MODEL"] == "m.onnx"
    assert md["PADM_SENSOR"] == "WV3" and "PADM_VERSION" in md and '"tile": 64' in md["PADM_PARAMETERS"]
    assert any("assumed sensor WV3" in n for n in res.notes)
    # values: the pointwise method on the aligned inputs, rounded to uint16
    pan_a = gdal.Open(str(pan)).ReadAsArray(8, 4, 144, 160).astype(np.float64)
    ms_a = np.moveaxis(gdal.Open(str(ms)).ReadAsArray(), 0, -1).astype(np.float64)
    expected = Ratio().fuse_tile(pan_a, ms_a, 4, (0, 0))
    # rounded, then clipped to the range the MS's encoding holds (issue 17): 0 .. the top of its bit
    # depth, the count recorded
    hi = 2.0 ** max(8, int(np.ceil(np.log2(ms_a.max() + 1)))) - 1
    np.testing.assert_array_equal(arr, np.clip(np.rint(expected), 0, hi))
    outside = ((np.rint(expected) < 0) | (np.rint(expected) > hi)).sum((0, 1))
    assert json.loads(md["PADM_CLIPPED"]) == outside.tolist()


def test_tile_size_does_not_change_the_output(tmp_path):
    pan, ms = make_pair(tmp_path)
    outs = []
    for t in (64, 128, 4096):
        out = tmp_path / f"f{t}.tif"
        pipeline.fuse_files(pan, ms, out, Ratio(), tile=t, float_output=True)
        ds, arr = read(out)
        assert arr.dtype == np.float32
        outs.append(arr.astype(np.float64))
    for o in outs[1:]:
        np.testing.assert_allclose(o, outs[0], rtol=1e-6, atol=0)


def test_nodata_propagates(tmp_path):
    pan, ms = make_pair(tmp_path, pan_nodata=0, ms_nodata=0)
    ds = gdal.Open(str(pan), gdal.GA_Update)
    ds.GetRasterBand(1).WriteArray(np.zeros((8, 12)), 20, 30)  # PAN nodata block at region (26, 12)
    ds = None
    ds = gdal.Open(str(ms), gdal.GA_Update)
    ds.GetRasterBand(3).WriteArray(np.zeros((1, 1)), 5, 2)  # MS nodata pixel (row 2, col 5) in band 3
    ds = None
    out = tmp_path / "f.tif"
    pipeline.fuse_files(pan, ms, out, Ratio(), tile=64)
    ds, arr = read(out)
    assert ds.GetRasterBand(1).GetNoDataValue() == 0
    invalid = (arr == 0).all(-1)
    expected = np.zeros(invalid.shape, bool)
    expected[26:34, 12:24] = True
    expected[8:12, 20:24] = True
    np.testing.assert_array_equal(invalid, expected)
    assert (arr[~expected] > 0).all()


def test_sensor_given_and_guessed(tmp_path):
    pan, ms = make_pair(tmp_path)
    m = Ratio()
    res = pipeline.fuse_files(pan, ms, tmp_path / "a.tif", m, sensor="GeoEye1")
    assert m.sensor.name == "GeoEye1" and not any("assumed" in n for n in res.notes)
    res = pipeline.fuse_files(pan, ms, tmp_path / "b.tif", Ratio())
    assert any("assumed sensor 'none'" in n for n in res.notes)


def test_progress_per_tile(tmp_path):
    pan, ms = make_pair(tmp_path)
    seen = []
    pipeline.fuse_files(pan, ms, tmp_path / "f.tif", Ratio(), tile=64, progress=lambda f, t: seen.append((f, t)))
    tiles = [t for _, t in seen if "tile" in t]
    assert len(tiles) == 9 and tiles[-1].endswith("tile 9/9")  # 160x144 region, 64-pixel tiles: 3 x 3
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_cancel_leaves_nothing(tmp_path):
    pan, ms = make_pair(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 4

    with pytest.raises(Cancelled):
        pipeline.fuse_files(pan, ms, out_dir / "f.tif", Ratio(), tile=32, is_cancelled=cancelled)
    assert len(calls) == 5 and list(out_dir.iterdir()) == []


def test_error_leaves_nothing_and_keeps_old_output(tmp_path):
    pan, ms = make_pair(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(RuntimeError):
        pipeline.fuse_files(pan, ms, out_dir / "f.tif", Ratio(fail_at_tile=3), tile=32)
    assert list(out_dir.iterdir()) == []
    old = out_dir / "g.tif"
    old.write_bytes(b"previous result")
    with pytest.raises(RuntimeError):
        pipeline.fuse_files(pan, ms, old, Ratio(fail_at_tile=2), tile=32, overwrite=True)
    assert old.read_bytes() == b"previous result" and list(out_dir.iterdir()) == [old]


def test_inputs_are_never_modified(tmp_path):
    pan, ms = make_pair(tmp_path)
    before = (sha(pan), sha(ms))
    pipeline.fuse_files(pan, ms, tmp_path / "f.tif", Ratio(), tile=64)
    with pytest.raises(PansharpenError, match="input"):
        pipeline.fuse_files(pan, ms, ms, Ratio())
    assert (sha(pan), sha(ms)) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.tif", "ms.tif", "pan.tif"]


def test_wv3_real_pair(shared_data, tmp_path):
    base = shared_data / "wv3_hpf_geotiff"
    out = tmp_path / "wv3.tif"
    res = pipeline.fuse_files(base / "pan.tif", base / "mul.tif", out, Ratio(), tile=128)
    ds, arr = read(out)
    pan_gt = gdal.Open(str(base / "pan.tif")).GetGeoTransform()
    assert (res.width, res.height, res.bands) == (576, 572, 8)
    expected_gt = (pan_gt[0] + 2 * pan_gt[1], pan_gt[1], 0.0, pan_gt[3] + 1 * pan_gt[5], 0.0, pan_gt[5])
    assert ds.GetGeoTransform() == pytest.approx(expected_gt)
    assert arr.dtype == np.float32 and ds.GetRasterBand(1).GetNoDataValue() == 0
    # the fused image averaged back onto the MS grid reproduces the MS, band by band
    ms = np.moveaxis(gdal.Open(str(base / "mul.tif")).ReadAsArray(), 0, -1).astype(np.float64)
    back = arr.astype(np.float64).reshape(143, 4, 144, 4, 8).mean((1, 3))
    for b in range(8):
        assert np.corrcoef(back[..., b].ravel(), ms[..., b].ravel())[0, 1] > 0.9


# ------------------------------------------------------------------------------------- registry


def test_registry_names_and_errors():
    assert set(methods.METHOD_NAMES) >= {"exp", "brovey", "gsa", "mtf-glp-hpm", "bdsd-pc", "bt-h", "hfreqdiff"}
    with pytest.raises(PansharpenError, match="Unknown method"):
        methods.get_method("nope")


@pytest.mark.parametrize("name", ["exp", "brovey", "gsa", "mtf-glp-hpm", "bdsd-pc", "bt-h"])
def test_registry_gives_classical_methods(name):
    pytest.importorskip("padm_pansharpening.engine.classical")
    m = methods.get_method(name)
    assert isinstance(m, methods.FusionMethod) and m.name.lower() == name
    assert m is not methods.get_method(name)  # a fresh instance each time


def test_classical_method_by_name_is_tiling_invariant(tmp_path):
    """Integration: a registry method through fuse_files gives the same output for two tile sizes."""
    pytest.importorskip("padm_pansharpening.engine.classical")
    pan, ms = make_pair(tmp_path, h=48, w=40)
    a, b = tmp_path / "a.tif", tmp_path / "b.tif"
    pipeline.fuse_files(pan, ms, a, "gsa", sensor="GeoEye1", tile=96, float_output=True)
    res = pipeline.fuse_files(pan, ms, b, "gsa", sensor="GeoEye1", tile=4096, float_output=True)
    assert res.method == "GSA"
    np.testing.assert_allclose(read(a)[1], read(b)[1], rtol=1e-5, atol=1e-3)
