"""PNG previews of a fused GeoTIFF."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from osgeo import gdal

from ..errors import PansharpenError
from .gdalio import fresh_errors, gdal_errors, last_error, nodata_mask, open_raster


@fresh_errors
def write_preview_png(tif_path: str | os.PathLike, png_path: str | os.PathLike,
                      bands: Optional[Sequence[int]] = None, max_side: int = 1024) -> Path:
    """8-bit RGB PNG of three bands (0-based indices; default 2, 1, 0), 2-98 % stretch per band,
    at most max_side pixels on the longer side (GDAL's averaged decimated read; nodata -> black)."""
    ds, info = open_raster(tif_path, "preview source")
    n = info.bands
    bands = tuple(bands) if bands is not None else (min(2, n - 1), min(1, n - 1), 0)
    if len(bands) != 3 or not all(0 <= b < n for b in bands):
        raise PansharpenError(f"Preview bands {bands} do not exist in {tif_path} ({n} bands): give three "
                              "0-based band indices.")
    scale = min(1.0, max_side / max(info.width, info.height))
    w, h = max(1, round(info.width * scale)), max(1, round(info.height * scale))
    rgb = np.zeros((3, h, w), np.uint8)
    for k, b in enumerate(bands):
        band = ds.GetRasterBand(b + 1)
        with gdal_errors():
            arr = band.ReadAsArray(0, 0, info.width, info.height, buf_xsize=w, buf_ysize=h,
                                   resample_alg=gdal.GRIORA_Average)
        if arr is None:
            raise PansharpenError(f"Cannot read {tif_path} for the preview ({last_error()}).")
        arr = arr.astype(np.float64)
        valid = nodata_mask(arr, [info.nodata[b]])
        if not valid.any():
            continue
        lo, hi = np.percentile(arr[valid], [2, 98])
        scaled = np.clip((arr - lo) / max(hi - lo, 1e-12) * 254 + 1, 1, 255)
        rgb[k] = np.where(valid, np.rint(scaled), 0).astype(np.uint8)
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
