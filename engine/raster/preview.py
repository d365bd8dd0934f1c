"""PNG previews: the fused GeoTIFF in natural colour, and a before | after picture (the MS
interpolated to the output's grid beside the fused result, one stretch for both).

Natural colour comes from the sensor's band table (engine.sensors: WorldView-2/3 bands 5-3-2,
4-band B-G-R-NIR 3-2-1, Landsat 8's B-G-R 3-2-1); the sensor is the one the output's metadata
records (PADM_SENSOR). An 8-band MS of unknown sensor is shown 5-3-2: every 8-band VNIR
pansharpening sensor (WorldView-2, WorldView-3) has that order, and its bands 3-2-1 are green,
blue and coastal (vegetation turns brown).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from osgeo import gdal

from ..errors import PansharpenError
from ..sensors import SENSORS, Sensor, get_sensor
from .gdalio import fresh_errors, gdal_errors, last_error, open_raster

GAP = 4  # white pixels between the two halves of a before | after picture
PERCENTILES = (2, 98)


def natural_colour_bands(sensor: Optional[Sensor], n_bands: int) -> tuple[int, int, int]:
    """0-based (R, G, B) band indices for a natural-colour picture of an n-band MS."""
    if sensor is not None and len(sensor.wavelengths_nm) == n_bands:
        return sensor.rgb_bands(n_bands)
    if n_bands == 8:
        return SENSORS["wv3"].rgb
    return (min(2, n_bands - 1), min(1, n_bands - 1), 0)


def recorded_sensor(ds: gdal.Dataset) -> Optional[Sensor]:
    """The sensor an output of this tool records (PADM_SENSOR), or None."""
    name = (ds.GetMetadata() or {}).get("PADM_SENSOR")
    try:
        return get_sensor(name) if name else None
    except PansharpenError:
        return None


def _check_bands(bands: Sequence[int], n: int, path) -> tuple[int, int, int]:
    bands = tuple(int(b) for b in bands)
    if len(bands) != 3 or not all(0 <= b < n for b in bands):
        raise PansharpenError(f"Preview bands {bands} do not exist in {path} ({n} bands): give three "
                              "0-based band indices.")
    return bands  # type: ignore[return-value]


def _preview_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _read_rgb(ds: gdal.Dataset, path, bands: Sequence[int], src_win: Sequence[float], size: tuple[int, int],
              resample: str) -> tuple[np.ndarray, np.ndarray]:
    """(3, h, w) float64 values and validity of a (possibly fractional) source window read at
    ``size`` through GDAL (an in-memory VRT: averaged when reducing, ``resample`` when enlarging)."""
    w, h = size
    with gdal_errors():
        vrt = gdal.Translate("", ds, format="VRT", srcWin=list(src_win), width=w, height=h,
                             bandList=[b + 1 for b in bands], resampleAlg=resample)
        arr = vrt.ReadAsArray() if vrt is not None else None
    if arr is None:
        raise PansharpenError(f"Cannot read {path} for the preview ({last_error()}).")
    arr = np.asarray(arr, np.float64).reshape(3, h, w)
    valid = np.isfinite(arr).all(axis=0)
    for k in range(3):
        nodata = vrt.GetRasterBand(k + 1).GetNoDataValue()
        if nodata is not None and not np.isnan(nodata):
            valid &= arr[k] != nodata
    return arr, valid


def stretch_limits(arr: np.ndarray, valid: np.ndarray) -> list[tuple[float, float]]:
    """Per band (2 %, 98 %) percentiles of the valid pixels."""
    if not valid.any():
        return [(0.0, 1.0)] * arr.shape[0]
    return [tuple(np.percentile(band[valid], PERCENTILES)) for band in arr]  # type: ignore[misc]


def to_bytes(arr: np.ndarray, valid: np.ndarray, limits: Sequence[tuple[float, float]]) -> np.ndarray:
    """Linear stretch of each band between its limits to 1..255; invalid pixels black (0)."""
    out = np.zeros(arr.shape, np.uint8)
    for k, (lo, hi) in enumerate(limits):
        scaled = np.clip((arr[k] - lo) / max(hi - lo, 1e-12) * 254 + 1, 1, 255)
        out[k] = np.where(valid, np.rint(scaled), 0).astype(np.uint8)
    return out


def _write_png(rgb: np.ndarray, png_path: str | os.PathLike) -> Path:
    _, h, w = rgb.shape
    mem = gdal.GetDriverByName("MEM").Create("", w, h, 3, gdal.GDT_Byte)
    for k in range(3):
        mem.GetRasterBand(k + 1).WriteArray(rgb[k])
    png_path = Path(png_path)
    with gdal_errors():
        out = gdal.GetDriverByName("PNG").CreateCopy(str(png_path), mem)
        if out is None:
            raise PansharpenError(f"Cannot write {png_path} ({last_error()}): check the folder is writable.")
    out = None
    return png_path


@fresh_errors
def write_preview_png(tif_path: str | os.PathLike, png_path: str | os.PathLike,
                      bands: Optional[Sequence[int]] = None, max_side: int = 1024) -> Path:
    """8-bit RGB PNG of three bands (0-based; default: natural colour for the recorded sensor),
    2-98 % stretch per band, at most max_side pixels on the longer side (averaged; nodata black)."""
    ds, info = open_raster(tif_path, "preview source")
    if bands is None:
        bands = natural_colour_bands(recorded_sensor(ds), info.bands)
    bands = _check_bands(bands, info.bands, tif_path)
    size = _preview_size(info.width, info.height, max_side)
    arr, valid = _read_rgb(ds, tif_path, bands, (0, 0, info.width, info.height), size, "average")
    return _write_png(to_bytes(arr, valid, stretch_limits(arr, valid)), png_path)


def ms_window(fused: gdal.Dataset, ms: gdal.Dataset) -> tuple[float, float, float, float]:
    """The MS pixel window (x, y, width, height; fractional) covering the fused raster: by the
    geotransforms when both are georeferenced, else the whole MS (pixel grids on r x r blocks)."""
    fg, mg = fused.GetGeoTransform(can_return_null=True), ms.GetGeoTransform(can_return_null=True)
    if fg is None or mg is None or not fused.GetProjection() or not ms.GetProjection():
        return 0.0, 0.0, float(ms.RasterXSize), float(ms.RasterYSize)
    x0, y0 = (fg[0] - mg[0]) / mg[1], (fg[3] - mg[3]) / mg[5]
    return x0, y0, fused.RasterXSize * fg[1] / mg[1], fused.RasterYSize * fg[5] / mg[5]


@fresh_errors
def write_before_after_png(ms_path: str | os.PathLike, fused_path: str | os.PathLike,
                           png_path: str | os.PathLike, bands: Optional[Sequence[int]] = None,
                           max_side: int = 1024) -> Path:
    """Before | after PNG: left the MS over the fused raster's extent, interpolated (cubic) to the
    same pixels; right the fused raster; a GAP-pixel white line between them. Both halves share one
    stretch (2-98 % of the MS per band), so a colour change is the fusion's, not the display's.
    Each half is at most max_side pixels on its longer side."""
    fused, finfo = open_raster(fused_path, "fused")
    ms, minfo = open_raster(ms_path, "MS")
    if minfo.bands != finfo.bands:
        raise PansharpenError(f"{ms_path} has {minfo.bands} bands but {fused_path} has {finfo.bands}: give the MS "
                              "the fused raster was made from.")
    if bands is None:
        bands = natural_colour_bands(recorded_sensor(fused), finfo.bands)
    bands = _check_bands(bands, finfo.bands, fused_path)
    size = _preview_size(finfo.width, finfo.height, max_side)
    window = ms_window(fused, ms)
    enlarge = size[0] > window[2]
    before, before_ok = _read_rgb(ms, ms_path, bands, window, size, "cubic" if enlarge else "average")
    after, after_ok = _read_rgb(fused, fused_path, bands, (0, 0, finfo.width, finfo.height), size, "average")
    limits = stretch_limits(before, before_ok)
    w, h = size
    rgb = np.full((3, h, 2 * w + GAP), 255, np.uint8)
    rgb[:, :, :w] = to_bytes(before, before_ok, limits)
    rgb[:, :, w + GAP:] = to_bytes(after, after_ok, limits)
    return _write_png(rgb, png_path)
