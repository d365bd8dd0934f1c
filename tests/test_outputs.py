"""The fused output file (issue 17, items 3 and 4): a Cloud-Optimised GeoTIFF by default with the
plain GeoTIFF's full-resolution pixels, --format/--co, the extension and overwrite checks, clipping
to the MS's valid range (and its count in the metadata), float --clip, the band labels carried from
the MS and the sensor table, and `build.py run`'s output name per scene."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from padm_pansharpening.engine.errors import Cancelled, PansharpenError
from padm_pansharpening.engine.pipeline import fuse_files
from padm_pansharpening.engine.raster.values import ValueRange
from padm_pansharpening.engine.raster.writer import OutputFormat, OutputWriter

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, cwd: Path, **env_vars: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONDONTWRITEBYTECODE="1", **env_vars)
    return subprocess.run([sys.executable, "-m", "padm_pansharpening", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def crop(pan_src: Path, ms_src: Path, folder: Path, name: str, size: int, offset: int = 0) -> tuple[Path, Path]:
    """A size x size PAN crop of a shared scene and the MS of the same area (GeoTIFFs in folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    pan_ds, ms_ds = gdal.Open(str(pan_src)), gdal.Open(str(ms_src))
    r = round(ms_ds.GetGeoTransform()[1] / pan_ds.GetGeoTransform()[1])
    pan, ms = folder / f"{name}pan.tif", folder / f"{name}ms.tif"
    gdal.Translate(str(pan), pan_ds, srcWin=[offset, offset, size, size])
    gdal.Translate(str(ms), ms_ds, srcWin=[offset // r, offset // r, size // r, size // r])
    return pan, ms


@pytest.fixture(scope="module")
def zz(shared_data, tmp_path_factory) -> tuple[Path, Path]:
    """The Zhengzhou pair (uint16, RGB colour interpretation), whole: 800 x 800 PAN pixels."""
    base = shared_data / "vhr4b_zhengzhou_geotiff"
    return base / "pan.tif", base / "ms.tif"


@pytest.fixture(scope="module")
def wv3(shared_data, tmp_path_factory) -> tuple[Path, Path]:
    """A 256 x 256 crop of the WV3 pair (float32 DNs, nodata 0)."""
    base = shared_data / "wv3_hpf_geotiff"
    return crop(base / "pan.tif", base / "mul.tif", tmp_path_factory.mktemp("wv3"), "", 256, 64)


def bands(path: Path) -> np.ndarray:
    return gdal.Open(str(path)).ReadAsArray()


def test_cog_by_default_with_overviews_and_the_plain_geotiffs_pixels(zz, tmp_path):
    from osgeo_utils.samples.validate_cloud_optimized_geotiff import validate

    cog, plain = tmp_path / "cog.tif", tmp_path / "plain.tif"
    fuse_files(*zz, cog, "gsa", sensor="none")
    fuse_files(*zz, plain, "gsa", sensor="none", output_format="GTiff")
    ds = gdal.Open(str(cog))
    assert ds.GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE") == "COG"
    assert ds.GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE") == "DEFLATE"
    warnings, errors, _ = validate(str(cog), full_check=True)
    assert errors == [] and warnings == []
    band = ds.GetRasterBand(1)
    assert [(band.GetOverview(k).XSize, band.GetOverview(k).YSize) for k in range(band.GetOverviewCount())] == \
        [(400, 400), (200, 200)]
    assert gdal.Open(str(plain)).GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE") is None
    assert gdal.Open(str(plain)).GetRasterBand(1).GetOverviewCount() == 0
    np.testing.assert_array_equal(bands(cog), bands(plain))
    keep = lambda md: {k: v for k, v in md.items() if k != "PADM_MISREGISTRATION"}  # noqa: E731
    assert keep(ds.GetMetadata()) == keep(gdal.Open(str(plain)).GetMetadata())
    # the overviews average the full resolution (2 x 2 blocks, nodata-free scene)
    full = band.ReadAsArray().astype(np.float64)
    mean = full.reshape(400, 2, 400, 2).mean((1, 3))
    assert np.abs(band.GetOverview(0).ReadAsArray() - mean).max() <= 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cog.tif", "plain.tif"]  # no temporary file left


def test_creation_options_pass_through_and_bad_ones_are_refused(wv3, tmp_path):
    out = tmp_path / "lzw.tif"
    fuse_files(*wv3, out, "gsa", sensor="WV3", creation_options=["COMPRESS=LZW", "BLOCKSIZE=128"])
    ds = gdal.Open(str(out))
    assert ds.GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE") == "LZW"
    assert ds.GetRasterBand(1).GetBlockSize() == [128, 128]
    out2 = tmp_path / "gtiff.tif"
    fuse_files(*wv3, out2, "gsa", sensor="WV3", output_format="gtiff", creation_options=["COMPRESS=LZW"])
    assert gdal.Open(str(out2)).GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE") == "LZW"
    np.testing.assert_array_equal(bands(out), bands(out2))
    for bad, says in ((("COMPRESS",), "KEY=VALUE"), (("FOO=1",), "no creation option FOO"),
                      (("TILING_SCHEME=GoogleMapsCompatible",), "grid")):
        with pytest.raises(PansharpenError, match=says):
            OutputFormat("COG", bad)
    with pytest.raises(PansharpenError, match="COG or GTiff"):
        OutputFormat("PNG")


def test_cli_refuses_a_wrong_extension_and_an_existing_output_unless_overwrite(wv3, tmp_path):
    pan, ms = wv3
    r = cli("fuse", "--pan", pan, "--ms", ms, "--out", "result.jpg", "--method", "gsa", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and ".tif or .tiff" in r.stderr
    assert list(tmp_path.iterdir()) == []
    r = cli("fuse", "--pan", pan, "--ms", ms, "--out", "o.tif", "--method", "gsa", "--format", "GTiff",
            "--co", "COMPRESS=LZW", "--progress", "none", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert gdal.Open(str(tmp_path / "o.tif")).GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE") == "LZW"
    stamp = (tmp_path / "o.tif").stat().st_mtime_ns
    r = cli("fuse", "--pan", pan, "--ms", ms, "--out", "o.tif", "--method", "gsa", "--progress", "none", cwd=tmp_path)
    assert r.returncode == 2 and "already exists" in r.stderr and "--overwrite" in r.stderr
    assert (tmp_path / "o.tif").stat().st_mtime_ns == stamp
    r = cli("fuse", "--pan", pan, "--ms", ms, "--out", "o.tif", "--method", "gsa", "--overwrite", "--progress", "none",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert gdal.Open(str(tmp_path / "o.tif")).GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE") == "COG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.tif"]


def test_an_existing_uncertainty_file_is_refused_too(wv3, tmp_path):
    out = tmp_path / "h.tif"
    side = tmp_path / "h_uncertainty.tif"
    side.write_bytes(b"someone's file")
    opts = {"samples": 2, "ensemble": "none", "steps": 1}
    with pytest.raises(PansharpenError, match="h_uncertainty.tif already exists"):
        fuse_files(*wv3, out, "hfreqdiff", sensor="WV3", tile=128, method_options=opts)
    assert side.read_bytes() == b"someone's file" and not out.exists()


def test_integer_output_is_clipped_to_the_ms_range_and_counted(zz, tmp_path):
    pan, ms = zz
    r = cli("fuse", "--pan", pan, "--ms", ms, "--out", "int.tif", "--method", "gsa", "--sensor", "none",
            "--progress", "none", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "clipped to the range the MS's encoding holds" in r.stderr
    fuse_files(pan, ms, tmp_path / "float.tif", "gsa", sensor="none", float_output=True)
    ms_a = bands(ms).astype(np.float64)
    # 0 .. the top of the MS's bit depth: 11-bit data (max 1623) -> 2047
    assert ms_a.min() >= 0 and 1024 <= ms_a.max() < 2048
    lo, hi = np.zeros(ms_a.shape[0]), np.full(ms_a.shape[0], 2047.0)
    values = np.rint(bands(tmp_path / "float.tif").astype(np.float64))
    assert values.max() > 2047 or values.min() < 0  # the method overshoots: the case this is about
    ds = gdal.Open(str(tmp_path / "int.tif"))
    md = ds.GetMetadata()
    got = ds.ReadAsArray()
    assert md["PADM_CLIP"] == "ms-range"
    assert json.loads(md["PADM_CLIP_RANGE"]) == [[int(a), int(b)] for a, b in zip(lo, hi)]
    assert (got.min((1, 2)) >= lo).all() and (got.max((1, 2)) <= hi).all()
    outside = ((values < lo[:, None, None]) | (values > hi[:, None, None])).sum((1, 2))
    clipped = np.array(json.loads(md["PADM_CLIPPED"]))
    assert np.abs(clipped - outside).max() <= 2 and clipped.sum() > 0  # float32 rounding at .5 edges
    inside = (values >= lo[:, None, None]) & (values <= hi[:, None, None])
    assert np.abs(got[inside] - values[inside]).max() <= 1


def test_float_output_keeps_negatives_unless_clip(wv3, tmp_path):
    kept, clipped = tmp_path / "kept.tif", tmp_path / "clipped.tif"
    res = fuse_files(*wv3, kept, "gsa", sensor="WV3")
    res_clip = fuse_files(*wv3, clipped, "gsa", sensor="WV3", clip=True)
    ms_ds = gdal.Open(str(wv3[1]))
    ms_a = ms_ds.ReadAsArray()
    valid_ms = np.where(ms_a == 0, np.nan, ms_a)
    # float data: from 0 (the MS has no negative value), no upper limit
    assert np.nanmin(valid_ms) >= 0
    lo, hi = np.zeros(ms_a.shape[0]), np.full(ms_a.shape[0], np.inf)
    k_ds, c_ds = gdal.Open(str(kept)), gdal.Open(str(clipped))
    k, c = k_ds.ReadAsArray(), c_ds.ReadAsArray()
    valid = k != 0  # nodata 0
    negative = ((k < 0) & valid).sum((1, 2))
    assert negative.sum() > 0
    md = k_ds.GetMetadata()
    assert md["PADM_CLIP"] == "none" and json.loads(md["PADM_NEGATIVE_KEPT"]) == negative.tolist()
    assert any("negative values kept" in n and "--clip" in n for n in res.notes)
    cmd = c_ds.GetMetadata()
    assert cmd["PADM_CLIP"] == "ms-range"
    outside = (((k < lo[:, None, None]) | (k > hi[:, None, None])) & valid).sum((1, 2))
    assert json.loads(cmd["PADM_CLIPPED"]) == outside.tolist() == json.loads(md["PADM_OUTSIDE_RANGE"])
    assert any("clipped to the range the MS's encoding holds" in n for n in res_clip.notes)
    for b in range(k.shape[0]):
        cv = c[b][valid[b]]
        assert cv.min() >= np.float32(lo[b]) and cv.max() <= np.float32(hi[b])
    np.testing.assert_array_equal(c[valid], np.clip(k, lo[:, None, None], hi[:, None, None]).astype(np.float32)[valid])
    assert json.loads(cmd["PADM_REQUEST"])["clip"] is True and "clip" not in json.loads(md["PADM_REQUEST"])


def test_colour_interpretation_wavelengths_and_scale_offset_are_carried(zz, wv3, tmp_path):
    # Zhengzhou: the MS says Red, Green, Blue, (undefined); its RGB used to be lost
    out = tmp_path / "zz.tif"
    ms = tmp_path / "zz_ms_scaled.tif"
    gdal.Translate(str(ms), str(zz[1]))
    ds = gdal.Open(str(ms), gdal.GA_Update)
    for b in range(4):
        ds.GetRasterBand(b + 1).SetScale(0.01 * (b + 1))
        ds.GetRasterBand(b + 1).SetOffset(-1.5)
    ds = None
    fuse_files(zz[0], ms, out, "brovey", sensor="none")
    ds = gdal.Open(str(out))
    got = [gdal.GetColorInterpretationName(ds.GetRasterBand(b + 1).GetColorInterpretation()) for b in range(4)]
    assert got[:3] == ["Red", "Green", "Blue"] and got[3] != "Red"
    assert [ds.GetRasterBand(b + 1).GetScale() for b in range(4)] == pytest.approx([0.01, 0.02, 0.03, 0.04])
    assert [ds.GetRasterBand(b + 1).GetOffset() for b in range(4)] == [-1.5] * 4
    assert ds.GetRasterBand(1).GetMetadataItem("CENTRAL_WAVELENGTH_UM") is None  # sensor unknown: no guess
    # WV3 (8 bands, band 1 'Gray' in the file): colours, names and wavelengths from the sensor table
    out = tmp_path / "wv3.tif"
    fuse_files(*wv3, out, "gsa", sensor="WV3")
    ds = gdal.Open(str(out))
    colours = {gdal.GetColorInterpretationName(ds.GetRasterBand(b + 1).GetColorInterpretation()): b + 1
               for b in range(8)}
    assert (colours["Red"], colours["Green"], colours["Blue"]) == (5, 3, 2)
    assert [ds.GetRasterBand(b + 1).GetMetadataItem("CENTRAL_WAVELENGTH_UM") for b in range(8)] == \
        ["0.425", "0.48", "0.545", "0.605", "0.66", "0.725", "0.833", "0.95"]
    assert ds.GetRasterBand(8).GetDescription() == "nir2"
    # a band subset keeps each band's own labels
    out = tmp_path / "wv3_rgb.tif"
    fuse_files(*wv3, out, "gsa", sensor="WV3", bands="5,3,2")
    ds = gdal.Open(str(out))
    assert [gdal.GetColorInterpretationName(ds.GetRasterBand(b + 1).GetColorInterpretation()) for b in range(3)] == \
        ["Red", "Green", "Blue"]
    assert [ds.GetRasterBand(b + 1).GetMetadataItem("CENTRAL_WAVELENGTH_UM") for b in range(3)] == \
        ["0.66", "0.545", "0.48"]
    assert [ds.GetRasterBand(b + 1).GetDescription() for b in range(3)] == ["red", "green", "blue"]


def test_nothing_is_written_beside_the_inputs_even_with_gdal_sidecars_on(wv3, tmp_path):
    """The MS's valid range is read, not asked of GDAL: its min/max through the --bands VRT would
    save statistics in an .aux.xml beside the MS (GDAL 3.6)."""
    pan, ms = tmp_path / "pan.tif", tmp_path / "ms.tif"
    pan.write_bytes(wv3[0].read_bytes())
    ms.write_bytes(wv3[1].read_bytes())
    (tmp_path / "out").mkdir()
    r = cli("fuse", "--pan", pan, "--ms", ms, "--out", "out/o.tif", "--method", "gsa", "--bands", "5,3,2",
            "--float", "--clip", "--progress", "none", cwd=tmp_path, GDAL_PAM_ENABLED="YES")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ms.tif", "out", "pan.tif"]


def test_cancel_while_writing_the_cog_leaves_nothing(tmp_path):
    calls = []
    with OutputWriter(tmp_path / "o.tif", 600, 600, 2, np.dtype(np.uint16), None, "", 0.0, ["a", "b"], {},
                      value_range=ValueRange((10.0, 10.0), (50.0, 50.0), True)) as writer:
        writer.write(0, 0, np.full((600, 600, 2), 70.0), np.ones((600, 600), bool))
        with pytest.raises(Cancelled):
            writer.commit(lambda f, t: calls.append(f), lambda: len(calls) > 0)
    assert list(tmp_path.iterdir()) == []
    assert writer.stats.above == [360000, 360000]


def test_run_names_outputs_per_scene_and_never_overwrites_another_scenes_result(shared_data, tmp_path):
    """Three scenes whose PAN is pan.tif: three outputs; a rerun replaces its own; a file of
    another origin at the name is kept and the result goes beside it."""
    scenes = {"zz": ("vhr4b_zhengzhou_geotiff", "ms.tif"), "wv3": ("wv3_hpf_geotiff", "mul.tif"),
              "l8": ("landsat_oli_istanbul_geotiff", "ms.tif")}
    pairs = {}
    for name, (folder, ms) in scenes.items():
        pan_p, ms_p = crop(shared_data / folder / "pan.tif", shared_data / folder / ms, tmp_path / name, "", 128, 64)
        pan_p.rename(tmp_path / name / "pan.tif")  # every scene's PAN is pan.tif
        pairs[name] = (tmp_path / name / "pan.tif", ms_p)
    out_dir = tmp_path / "run"
    for name, (pan, ms) in pairs.items():
        r = cli("demo", "--pan", pan, "--ms", ms, "--method", "gsa", "--out-dir", out_dir, "--progress", "none",
                cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    fused = sorted(p.name for p in out_dir.glob("*.tif"))
    assert fused == ["l8_pan_gsa.tif", "wv3_pan_gsa.tif", "zz_pan_gsa.tif"]
    for name, (pan, ms) in pairs.items():
        assert json.loads(gdal.Open(str(out_dir / f"{name}_pan_gsa.tif")).GetMetadataItem("PADM_REQUEST"))["ms"] == \
            str(ms.absolute())
    # the same scene again: its own result is replaced, not duplicated
    r = cli("demo", "--pan", pairs["zz"][0], "--ms", pairs["zz"][1], "--method", "gsa", "--out-dir", out_dir,
            "--progress", "none", cwd=tmp_path)
    assert r.returncode == 0 and sorted(p.name for p in out_dir.glob("*.tif")) == fused
    # a scene whose name is taken by another scene's result (or any other file): suffixed
    (tmp_path / "zz" / "pan.tif").rename(tmp_path / "zz" / "pan_copy.tif")
    other = tmp_path / "other" / "zz"
    other.mkdir(parents=True)
    (other / "pan.tif").write_bytes((tmp_path / "zz" / "pan_copy.tif").read_bytes())
    before = (out_dir / "zz_pan_gsa.tif").read_bytes()
    r = cli("demo", "--pan", other / "pan.tif", "--ms", pairs["zz"][1], "--method", "gsa", "--out-dir", out_dir,
            "--progress", "none", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (out_dir / "zz_pan_gsa.tif").read_bytes() == before and (out_dir / "zz_pan_gsa_2.tif").exists()
