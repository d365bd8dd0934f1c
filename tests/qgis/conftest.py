"""Fixtures for the QGIS tests: the plugin's Processing provider, loaded as qgis_process loads it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
from osgeo import gdal
from scipy import ndimage
from qgis.core import QgsApplication, QgsCoordinateReferenceSystem, QgsRasterLayer


@pytest.fixture(scope="session")
def padm_provider(qgis_processing):  # noqa: ARG001 - the fixture initialises Processing
    """The 'padm' provider registered through classFactory(None).initProcessing(), as under qgis_process."""
    import padm_pansharpening

    plugin = padm_pansharpening.classFactory(None)
    plugin.initProcessing()
    provider = QgsApplication.processingRegistry().providerById("padm")
    assert provider is not None, "initProcessing() did not register the 'padm' provider"
    yield provider
    plugin.unload()


@pytest.fixture(scope="session")
def check_fused():
    """A checker of a fused GeoTIFF against its PAN and MS inputs, independent of the engine.

    Geometry: PAN CRS and pixel size, origin on the PAN grid, extent inside PAN ∩ MS and within one
    MS pixel of each of its edges (the processed region is a whole number of MS pixels; only inside it
    when ``full_extent`` is False), MS band count. Radiometry: the fused image averaged back onto the MS grid (GDAL
    'average' warp) must reproduce the MS (per-band correlation and mean), as any pansharpening must.
    A model that aligns the MS to the PAN (a PADM scene model) is compared with the MS moved to where
    its pixels lie: ``ms_shifts`` [[dx, dy] per band, MS pixels, x right, y down], as profile.json gives them.
    """
    def bounds(ds) -> tuple[float, float, float, float]:
        x0, px, _, y0, _, py = ds.GetGeoTransform()
        return x0, y0 + py * ds.RasterYSize, x0 + px * ds.RasterXSize, y0

    def check(out_path: str, pan_path: str, ms_path: str, min_corr: float = 0.9, full_extent: bool = True,
              ms_shifts: Optional[list[list[float]]] = None) -> None:
        layer = QgsRasterLayer(str(out_path), "fused", "gdal")
        assert layer.isValid(), f"output is not a readable raster: {out_path}"
        pan, ms, out = (gdal.Open(str(p)) for p in (pan_path, ms_path, out_path))
        assert layer.crs() == QgsCoordinateReferenceSystem(pan.GetProjection())
        assert layer.bandCount() == ms.RasterCount

        pgt, ogt = pan.GetGeoTransform(), out.GetGeoTransform()
        px, py = pgt[1], -pgt[5]
        assert ogt[1] == pytest.approx(px) and -ogt[5] == pytest.approx(py)
        assert ((ogt[0] - pgt[0]) / px) == pytest.approx(round((ogt[0] - pgt[0]) / px), abs=1e-6)
        assert ((ogt[3] - pgt[3]) / py) == pytest.approx(round((ogt[3] - pgt[3]) / py), abs=1e-6)
        pb, mb = bounds(pan), bounds(ms)
        inter = (max(pb[0], mb[0]), max(pb[1], mb[1]), min(pb[2], mb[2]), min(pb[3], mb[3]))
        ext = layer.extent()
        got = (ext.xMinimum(), ext.yMinimum(), ext.xMaximum(), ext.yMaximum())
        ms_px, ms_py = ms.GetGeoTransform()[1], -ms.GetGeoTransform()[5]
        inward = (got[0] - inter[0], got[1] - inter[1], inter[2] - got[2], inter[3] - got[3])
        for gap, ms_pixel in zip(inward, (ms_px, ms_py, ms_px, ms_py)):  # full_extent False: a part of it
            assert -1e-6 <= gap and (gap < ms_pixel - 1e-6 or not full_extent), f"output extent {got} vs PAN ∩ MS {inter}"

        # Average the fused image onto the MS pixels it covers completely, compare with the MS.
        mx0, mpx, _, my0, _, mpy = ms.GetGeoTransform()
        c0, c1 = int(np.ceil((got[0] - mx0) / mpx - 1e-6)), int(np.floor((got[2] - mx0) / mpx + 1e-6))
        r0, r1 = int(np.ceil((got[3] - my0) / mpy - 1e-6)), int(np.floor((got[1] - my0) / mpy + 1e-6))
        assert c1 - c0 > 8 and r1 - r0 > 8
        down = gdal.Warp("", out, format="MEM", resampleAlg="average", xRes=mpx, yRes=-mpy,
                         outputBounds=(mx0 + c0 * mpx, my0 + r1 * mpy, mx0 + c1 * mpx, my0 + r0 * mpy))
        fused_lr = down.ReadAsArray().astype(np.float64).reshape(ms.RasterCount, r1 - r0, c1 - c0)
        if ms_shifts is None:
            ms_win = ms.ReadAsArray(c0, r0, c1 - c0, r1 - r0).astype(np.float64).reshape(fused_lr.shape)
        else:  # MS pixel (i, j) lies at (j + dx, i + dy): its value on the PAN-aligned grid comes from (j - dx, i - dy)
            whole = ms.ReadAsArray().astype(np.float64).reshape(ms.RasterCount, ms.RasterYSize, ms.RasterXSize)
            ms_win = np.stack([ndimage.shift(band, (dy, dx), order=3, mode="nearest")
                               for band, (dx, dy) in zip(whole, ms_shifts)])[:, r0:r1, c0:c1]
        n = ms.RasterCount
        corr = np.corrcoef(fused_lr.reshape(n, -1), ms_win.reshape(n, -1))[:n, n:]  # fused band a vs MS band b
        for b in range(n):
            assert corr[b, b] > min_corr, f"band {b + 1}: fused (averaged to MS grid) vs MS correlation {corr[b, b]:.3f}"
            assert corr[b].argmax() == b, f"fused band {b + 1} resembles MS band {corr[b].argmax() + 1} most"
            assert fused_lr[b].mean() == pytest.approx(ms_win[b].mean(), rel=0.1), f"band {b + 1} mean"

    return check


def _headless_env(profile: Path, plugin_path: Optional[Path] = None) -> dict[str, str]:
    """Environment for a QGIS child process: offscreen, profile folder ``profile`` (never the user's),
    no bytecode written into plugin folders, QGIS_PLUGINPATH only when given."""
    env = {k: v for k, v in os.environ.items() if k not in ("QGIS_PLUGINPATH", "PYTHONPATH", "PYTHONHOME")}
    # QGIS's embedded Python finds its prefix through the first `python3` on PATH: a pyenv or other
    # interpreter there gives it a foreign standard library and QGIS cannot import its bindings.
    env["PATH"] = os.pathsep.join(["/usr/bin", "/bin"] + [d for d in env.get("PATH", "").split(os.pathsep)
                                                          if d and ".pyenv" not in d and d not in ("/usr/bin", "/bin")])
    env.update(QT_QPA_PLATFORM="offscreen", QGIS_CUSTOM_CONFIG_PATH=str(profile), QGIS_OPTIONS_PATH=str(profile),
               PYTHONDONTWRITEBYTECODE="1")
    if plugin_path is not None:
        env["QGIS_PLUGINPATH"] = str(plugin_path)
    return env


@pytest.fixture(scope="session")
def headless_env():
    return _headless_env


@pytest.fixture(scope="session")
def qgis_process():
    """Runs ``qgis_process.bin ARGS`` with ``_headless_env(profile, plugin_path)``; skips without it."""
    if shutil.which("qgis_process.bin") is None:
        pytest.skip("qgis_process.bin not found (Debian package qgis)")

    def run(profile: Path, *args: str, plugin_path: Optional[Path] = None) -> subprocess.CompletedProcess:
        return subprocess.run(["qgis_process.bin", *args], env=_headless_env(profile, plugin_path),
                              capture_output=True, text=True, timeout=300)

    return run


def crop_pair(pan: Path, ms: Path, out_dir: Path, xoff: int, yoff: int, size: int) -> tuple[str, str]:
    """A size x size PAN crop at (xoff, yoff) and the MS crop covering the same ground (gdal_translate)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pan_out, ms_out = out_dir / "pan.tif", out_dir / "ms.tif"
    gdal.Translate(str(pan_out), str(pan), srcWin=[xoff, yoff, size, size])
    src = gdal.Open(str(pan))
    if src.GetProjection():
        x0, px, _, y0, _, py = gdal.Open(str(pan_out)).GetGeoTransform()
        gdal.Translate(str(ms_out), str(ms), projWin=[x0, y0, x0 + size * px, y0 + size * py])
    else:  # not georeferenced: the grids match by pixel index
        ratio = src.RasterXSize // gdal.Open(str(ms)).RasterXSize
        gdal.Translate(str(ms_out), str(ms), srcWin=[xoff // ratio, yoff // ratio, size // ratio, size // ratio])
    return str(pan_out), str(ms_out)


@pytest.fixture(scope="session")
def scenes(shared_data: Path, tmp_path_factory) -> dict[str, tuple[str, str]]:
    """Small crops (256 x 256 PAN) of three real shared scenes: name -> (pan, ms). HFreqDiff with one
    step takes seconds on them."""
    root = tmp_path_factory.mktemp("scenes")
    spec = {"wv3": ("wv3_hpf_geotiff", "pan.tif", "mul.tif", 160, 160),
            "landsat8": ("landsat_oli_istanbul_geotiff", "pan.tif", "ms.tif", 120, 60),
            "vhr4b": ("vhr4b_zhengzhou_geotiff", "pan.tif", "ms.tif", 200, 200)}
    return {name: crop_pair(shared_data / folder / p, shared_data / folder / m, root / name, x, y, 256)
            for name, (folder, p, m, x, y) in spec.items()}
