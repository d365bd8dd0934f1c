"""One raster through GDAL: open and describe it, read windows, turn GDAL errors into one-line
PansharpenErrors, and which pixels are valid.

Validity follows GDAL's mask model (RFC 15), per spectral band: GMF_ALL_VALID (every finite value),
GMF_NODATA (values equal to the band's nodata are invalid), GMF_PER_DATASET / GMF_ALPHA (an internal
or .msk mask band, or an alpha band: 0 is invalid, anything else valid), and per-band mask bands.
A pixel is valid when it is finite, not nodata and unmasked in every band. Alpha bands (colour
interpretation alpha) are masks, not spectral bands: ``RasterInfo.bands`` and every read leave them
out (an RGBA MS is a 3-band MS with a mask)."""

from __future__ import annotations

import functools
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
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
                 band: Optional[int] = None, band_list: Optional[Sequence[int]] = None) -> np.ndarray:
    """A window as float64: (h, w) for one band, (h, w, B) for the whole dataset (or its bands
    ``band_list``, 1-based)."""
    with gdal_errors():
        try:
            src = ds.GetRasterBand(band) if band else ds
            if band or band_list is None:
                arr = src.ReadAsArray(xoff, yoff, xsize, ysize)
            else:
                arr = src.ReadAsArray(xoff, yoff, xsize, ysize, band_list=list(band_list))
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
    band_list: list[int] = field(default_factory=list)  # 1-based indices of the bands (alpha bands left out)
    alpha_bands: list[int] = field(default_factory=list)  # 1-based indices of alpha bands
    mask_flags: list[int] = field(default_factory=list)  # GDAL mask flags of each band of band_list
    notes: list[str] = field(default_factory=list)  # what was assumed on reading it

    @property
    def masked(self) -> bool:
        """A mask band or alpha band (not just nodata values) says where the pixels are valid."""
        return bool(self.alpha_bands) or any(not f & (gdal.GMF_ALL_VALID | gdal.GMF_NODATA) for f in self.mask_flags)

    def read(self, ds: gdal.Dataset, xoff: int, yoff: int, xsize: int, ysize: int,
             role: str) -> tuple[np.ndarray, np.ndarray]:
        """Values (h, w, B) of every band of band_list (h, w for one band) and their validity (h, w)."""
        name = f"{role} file {self.path}"
        if len(self.band_list) == 1:
            values = read_window(ds, name, xoff, yoff, xsize, ysize, self.band_list[0])
        else:
            everything = self.band_list == list(range(1, ds.RasterCount + 1))
            values = read_window(ds, name, xoff, yoff, xsize, ysize, band_list=None if everything else self.band_list)
        return values, self.validity(ds, values, xoff, yoff, name)

    def validity(self, ds: gdal.Dataset, values: np.ndarray, xoff: int, yoff: int, name: str) -> np.ndarray:
        """True where every band is valid: finite, not nodata, not masked (mask or alpha band)."""
        valid = nodata_mask(values, self.nodata)
        masked = [b for b, f in zip(self.band_list, self.mask_flags) if not f & (gdal.GMF_ALL_VALID | gdal.GMF_NODATA)]
        if all(f & gdal.GMF_PER_DATASET for b, f in zip(self.band_list, self.mask_flags) if b in masked):
            masked = masked[:1]  # one mask for all bands
        # GDAL takes an alpha band for the mask of 2- and 4-band datasets only; an alpha band masks
        # every band here (8 bands + alpha too)
        alpha = [] if any(f & gdal.GMF_ALPHA for f in self.mask_flags) else self.alpha_bands
        h, w = values.shape[:2]
        for b, is_alpha in [(b, False) for b in masked] + [(a, True) for a in alpha]:
            with gdal_errors():
                try:
                    band = ds.GetRasterBand(b)
                    mask = (band if is_alpha else band.GetMaskBand()).ReadAsArray(xoff, yoff, w, h)
                except RuntimeError:
                    mask = None
                if mask is None:
                    raise PansharpenError(f"Cannot read the mask of {name} ({last_error()}): the file or its mask "
                                          "(.msk) is corrupt; re-export it (gdal_translate).")
            valid &= mask > 0
        return valid


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
    alpha = [i for i in range(1, ds.RasterCount + 1)
             if ds.GetRasterBand(i).GetColorInterpretation() == gdal.GCI_AlphaBand]
    notes: list[str] = []
    image_alpha = [i for i in alpha if not _holds_a_mask(ds.GetRasterBand(i))]
    if image_alpha:
        # GDAL labels the 4th band of any 4-band Byte GeoTIFF written with its defaults "alpha": a
        # B-G-R-NIR MS saved that way holds image values there, not a mask
        alpha = [i for i in alpha if i not in image_alpha]
        notes.append(f"{role} band {', '.join(map(str, image_alpha))} is labelled alpha but holds image values: "
                     "used as a spectral band, not as a mask")
    band_list = [i for i in range(1, ds.RasterCount + 1) if i not in alpha] or list(range(1, ds.RasterCount + 1))
    alpha = [i for i in alpha if i not in band_list]
    band1 = ds.GetRasterBand(band_list[0])
    gdal_type = band1.DataType
    if gdal.DataTypeIsComplex(gdal_type) or gdal_type == gdal.GDT_Unknown:
        raise PansharpenError(f"{role} file {path} has data type {gdal.GetDataTypeName(gdal_type)}: "
                              "convert it to an integer or real type (gdal_translate -ot Float32).")
    bands = [ds.GetRasterBand(i) for i in band_list]
    info = RasterInfo(
        path=path, width=ds.RasterXSize, height=ds.RasterYSize, bands=len(band_list),
        geotransform=tuple(gt) if gt is not None else IDENTITY_GT, wkt=wkt, georeferenced=georeferenced,
        dtype=np.dtype(gdal_array.GDALTypeCodeToNumericTypeCode(gdal_type)),
        nodata=[b.GetNoDataValue() for b in bands], descriptions=[b.GetDescription() or "" for b in bands],
        metadata_text=_metadata_text(ds, path), band_list=band_list, alpha_bands=alpha,
        mask_flags=[_mask_flags(b, image_alpha) for b in bands], notes=notes,
    )
    _check_readable(ds, info, role)
    return ds, info


def _holds_a_mask(band: gdal.Band) -> bool:
    """Whether an alpha-labelled band looks like a mask: at most two values, one of them 0 where there
    are two, on a nearest-neighbour subsample of at most 256 x 256."""
    w, h = band.XSize, band.YSize
    with gdal_errors():
        try:
            sample = band.ReadAsArray(0, 0, w, h, buf_xsize=min(w, 256), buf_ysize=min(h, 256))
        except RuntimeError:
            sample = None
    if sample is None:
        return True  # unreadable here: the corner check of open_raster reports it
    values = np.unique(sample)
    return len(values) == 1 or (len(values) == 2 and values[0] == 0)


def _mask_flags(band: gdal.Band, image_alpha: list[int]) -> int:
    """The band's GDAL mask flags; where GDAL would take an alpha band that holds image values for the
    mask, the nodata value (if any) or all valid instead."""
    flags = band.GetMaskFlags()
    if image_alpha and flags & gdal.GMF_ALPHA:
        return gdal.GMF_NODATA if band.GetNoDataValue() is not None else gdal.GMF_ALL_VALID
    return flags


def _metadata_text(ds: gdal.Dataset, path: str) -> str:
    """All metadata of the dataset and its first band as one string (for sensor names written in it,
    engine.sensor_guess). IMAGERY is asked for by name: GDAL lists it only once its sidecar reader
    has run. Left out: file paths, encoding, RPCs and whole XML documents (xml:*)."""
    parts = []
    for domain in dict.fromkeys(["", "IMAGERY", *(ds.GetMetadataDomainList() or [])]):
        if domain in ("DERIVED_SUBDATASETS", "IMAGE_STRUCTURE", "RPC") or domain.startswith("xml:"):
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
