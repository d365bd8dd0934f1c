"""One raster through GDAL: open and describe it, read windows, turn GDAL errors into one-line
PansharpenErrors, and the nodata mask of its values."""

from __future__ import annotations

import functools
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import numpy as np
from osgeo import gdal, gdal_array

from ..errors import PansharpenError

IDENTITY_GT = (0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@contextmanager
def gdal_errors() -> Iterator[None]:
    """Quiet GDAL's own printing; errors are turned into PansharpenError by the callers."""
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    gdal.ErrorReset()
    try:
        yield
    finally:
        gdal.PopErrorHandler()


def fresh_errors(fn):
    """Re-raise a PansharpenError as a new one without the traceback: frames of a traceback keep
    GDAL datasets alive (until a late garbage collection, which crashes after QGIS has shut GDAL
    down), and the message is all a user needs."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PansharpenError as exc:
            message = str(exc)
        raise PansharpenError(message)

    return wrapper


def last_error(default: str = "unknown GDAL error") -> str:
    msg = gdal.GetLastErrorMsg().strip()
    return msg.splitlines()[0] if msg else default


def read_window(ds: gdal.Dataset, path: str, xoff: int, yoff: int, xsize: int, ysize: int,
                 band: Optional[int] = None) -> np.ndarray:
    """A window as float64: (h, w) for one band, (h, w, B) for the whole dataset."""
    with gdal_errors():
        try:
            src = ds.GetRasterBand(band) if band else ds
            arr = src.ReadAsArray(xoff, yoff, xsize, ysize)
        except RuntimeError:
            arr = None
        if arr is None:
            ds = src = None  # noqa: F841 - release the dataset before the traceback can hold it
            raise PansharpenError(f"Cannot read pixels of {path} ({last_error()}): the file is corrupt or "
                                  "truncated; re-export it (gdal_translate) or use another copy.")
    arr = arr.astype(np.float64, copy=False)
    return arr if band or arr.ndim == 2 else np.moveaxis(arr, 0, -1)


# --------------------------------------------------------------------------------------------
# Opening and describing one raster


@dataclass
class RasterInfo:
    path: str
    width: int
    height: int
    bands: int
    geotransform: tuple[float, ...]
    wkt: str
    georeferenced: bool
    dtype: np.dtype
    nodata: list[Optional[float]]  # per band
    descriptions: list[str]
    metadata_text: str


@fresh_errors
def open_raster(path: str | os.PathLike, role: str) -> tuple[gdal.Dataset, RasterInfo]:
    """Open any raster GDAL reads; role ('PAN', 'MS', ...) names it in error messages."""
    path = str(path)
    if not os.path.exists(path):
        raise PansharpenError(f"{role} file {path} does not exist: check the path.")
    with gdal_errors():
        try:
            ds = gdal.Open(path, gdal.GA_ReadOnly)
        except RuntimeError:
            ds = None
        if ds is None or ds.RasterCount == 0:
            raise PansharpenError(f"Cannot open {role} file {path} ({last_error('not a raster')}): "
                                  "give a raster file GDAL can read (GeoTIFF, JP2, VRT, ...).")
    gt = ds.GetGeoTransform(can_return_null=True)
    wkt = ds.GetProjection() or ""
    georeferenced = not ((gt is None or tuple(gt) == IDENTITY_GT) and not wkt)
    band1 = ds.GetRasterBand(1)
    gdal_type = band1.DataType
    if gdal.DataTypeIsComplex(gdal_type) or gdal_type == gdal.GDT_Unknown:
        raise PansharpenError(f"{role} file {path} has data type {gdal.GetDataTypeName(gdal_type)}: "
                              "convert it to an integer or real type (gdal_translate -ot Float32).")
    bands = [ds.GetRasterBand(i + 1) for i in range(ds.RasterCount)]
    info = RasterInfo(
        path=path, width=ds.RasterXSize, height=ds.RasterYSize, bands=ds.RasterCount,
        geotransform=tuple(gt) if gt is not None else IDENTITY_GT, wkt=wkt, georeferenced=georeferenced,
        dtype=np.dtype(gdal_array.GDALTypeCodeToNumericTypeCode(gdal_type)),
        nodata=[b.GetNoDataValue() for b in bands], descriptions=[b.GetDescription() or "" for b in bands],
        metadata_text=_metadata_text(ds, path),
    )
    _check_readable(ds, info, role)
    return ds, info


def _metadata_text(ds: gdal.Dataset, path: str) -> str:
    """All metadata of the dataset and its first band as one string (for sensor guessing)."""
    parts = [os.path.basename(path)]
    for domain in (ds.GetMetadataDomainList() or [""]):
        if domain in ("DERIVED_SUBDATASETS", "IMAGE_STRUCTURE"):  # file paths and encoding, no sensor
            continue
        md = ds.GetMetadata(domain if domain else "")
        if isinstance(md, dict):
            parts += [f"{k}={v}" for k, v in md.items()]
        elif isinstance(md, list):
            parts += [str(x) for x in md]
    parts += [f"{k}={v}" for k, v in (ds.GetRasterBand(1).GetMetadata() or {}).items()]
    return "\n".join(parts)


def _check_readable(ds: gdal.Dataset, info: RasterInfo, role: str) -> None:
    """Read one pixel at each corner: catches truncated and corrupt files before any work."""
    for x, y in ((0, 0), (info.width - 1, info.height - 1)):
        read_window(ds, f"{role} file {info.path}", x, y, 1, 1)


def nodata_mask(values: np.ndarray, nodata: Sequence[Optional[float]]) -> np.ndarray:
    """True where valid: finite and not equal to the band's nodata; values (h, w) or (h, w, B)."""
    valid = np.isfinite(values)
    if values.ndim == 2:
        nd = nodata[0]
        if nd is not None and not math.isnan(nd):
            valid &= values != nd
        return valid
    for b, nd in enumerate(nodata):
        if nd is not None and not math.isnan(nd):
            valid[..., b] &= values[..., b] != nd
    return valid.all(axis=-1)
