"""The fused output: output path checks, the nodata value, the atomic tiled GeoTIFF writer and
the provenance metadata it carries."""

from __future__ import annotations

import json
import math
import os
import uuid
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from osgeo import gdal, gdal_array

from ..errors import PansharpenError
from ..sensors import Sensor
from .gdalio import gdal_errors, last_error
from .pair import PanMsPair


def check_output_path(out_path: str | os.PathLike, inputs: Sequence[str | os.PathLike]) -> Path:
    """The output must differ from every input and its folder must exist and be writable."""
    out = Path(out_path).expanduser().absolute()
    for inp in inputs:
        p = Path(inp).expanduser().absolute()
        same = os.path.realpath(out) == os.path.realpath(p)
        if not same and out.exists() and p.exists():
            same = os.path.samefile(out, p)
        if same:
            raise PansharpenError(f"Output {out} is the input file {inp}: choose another output name "
                                  "(inputs are never overwritten).")
    folder = out.parent
    if not folder.is_dir():
        raise PansharpenError(f"Output folder {folder} does not exist: create it or choose another output path.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PansharpenError(f"Output folder {folder} is not writable: choose a folder you can write to.")
    if out.is_dir():
        raise PansharpenError(f"Output {out} is a folder: give a file name ending in .tif.")
    return out


def output_nodata(pair: PanMsPair, dtype: np.dtype) -> Optional[float]:
    """The nodata value written: the MS's, else the PAN's, if representable in dtype (else its minimum)."""
    candidates = [v for v in (pair.ms.nodata[0], pair.pan.nodata[0]) if v is not None]
    if not candidates:
        return None
    for v in candidates:
        if np.issubdtype(dtype, np.floating):
            return float(v)
        if not math.isnan(v) and float(v).is_integer():
            info = np.iinfo(dtype)
            if info.min <= v <= info.max:
                return float(v)
    return float(np.iinfo(dtype).min) if np.issubdtype(dtype, np.integer) else float("nan")


def convert_values(values: np.ndarray, valid: np.ndarray, dtype: np.dtype, nodata: Optional[float]) -> np.ndarray:
    """Float64 values in the output type: rounded and clipped to an integer type's range (kept off the
    nodata value), the nodata value (or NaN) for invalid pixels only."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        lo, hi = float(info.min), float(info.max)
        if nodata == lo:  # keep valid pixels distinct from nodata
            lo += 1
        elif nodata == hi:
            hi -= 1
        out = np.clip(np.rint(np.nan_to_num(values, nan=lo)), lo, hi).astype(dtype)
    else:
        out = values.astype(dtype)
    if nodata is not None:
        out[~valid] = nodata
    elif np.issubdtype(dtype, np.floating):
        out[~valid] = np.nan
    return out


class OutputWriter:
    """A tiled, compressed GeoTIFF written under a temporary name in the output folder.

    ``write`` converts float64 windows to the output type (rounded and clipped to an integer
    type's range, the nodata value kept for invalid pixels only); ``commit`` renames the file into
    place; ``abort`` deletes it. Use as a context manager: an exception aborts.
    """

    def __init__(self, out_path: str | os.PathLike, width: int, height: int, bands: int, dtype: np.dtype,
                 geotransform: Optional[Sequence[float]], wkt: str, nodata: Optional[float],
                 descriptions: Sequence[str], metadata: dict[str, str]):
        self.out_path = Path(out_path)
        self.tmp_path = self.out_path.with_name(f".{self.out_path.name}.{uuid.uuid4().hex[:8]}.part")
        self.dtype = np.dtype(dtype)
        self.nodata = nodata
        gdal_type = gdal_array.NumericTypeCodeToGDALTypeCode(self.dtype)
        predictor = "3" if np.issubdtype(self.dtype, np.floating) else "2"
        options = ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256", "COMPRESS=DEFLATE", f"PREDICTOR={predictor}",
                   "BIGTIFF=IF_SAFER"]
        with gdal_errors():
            self.ds = gdal.GetDriverByName("GTiff").Create(str(self.tmp_path), width, height, bands, gdal_type, options)
            if self.ds is None:
                raise PansharpenError(f"Cannot create {self.tmp_path} ({last_error()}): check free space and "
                                      "permissions of the output folder.")
        if geotransform is not None:
            self.ds.SetGeoTransform(tuple(geotransform))
        if wkt:
            self.ds.SetProjection(wkt)
        self.ds.SetMetadata({k: str(v) for k, v in metadata.items()})
        for b in range(bands):
            band = self.ds.GetRasterBand(b + 1)
            if descriptions[b]:
                band.SetDescription(descriptions[b])
            if nodata is not None:
                band.SetNoDataValue(nodata)

    def convert(self, values: np.ndarray, valid: np.ndarray) -> np.ndarray:
        return convert_values(values, valid, self.dtype, self.nodata)

    def write(self, r0: int, c0: int, values: np.ndarray, valid: np.ndarray) -> None:
        """Write a (h, w, B) float window at row r0, column c0."""
        self.write_converted(r0, c0, self.convert(values, valid))

    def write_converted(self, r0: int, c0: int, out: np.ndarray) -> None:
        """Write a (h, w, B) window already in the output type (convert's result, e.g. a chunk made
        by another process) at row r0, column c0."""
        with gdal_errors():
            for b in range(out.shape[2]):
                if self.ds.GetRasterBand(b + 1).WriteArray(out[:, :, b], c0, r0) != 0:
                    raise PansharpenError(f"Cannot write {self.tmp_path} ({last_error()}): check free disk space.")

    def commit(self) -> Path:
        with gdal_errors():
            self.ds.FlushCache()
            failed = gdal.GetLastErrorType() >= gdal.CE_Failure
            msg = last_error()
        self.ds = None
        if failed:
            self.abort()
            raise PansharpenError(f"Cannot finish {self.out_path} ({msg}): check free disk space.")
        stale_aux = Path(str(self.out_path) + ".aux.xml")
        if stale_aux.exists():
            stale_aux.unlink()
        os.replace(self.tmp_path, self.out_path)
        return self.out_path

    def abort(self) -> None:
        self.ds = None
        for p in (self.tmp_path, Path(str(self.tmp_path) + ".aux.xml")):
            if p.exists():
                p.unlink()

    def __enter__(self) -> "OutputWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or self.ds is not None:
            self.abort()


def provenance_metadata(method_name: str, parameters: dict, sensor: Sensor, version: str,
                        extra: Optional[dict] = None) -> dict[str, str]:
    """Output metadata items: PADM_METHOD, PADM_PARAMETERS (JSON), PADM_VERSION, PADM_SENSOR, PADM_<KEY>..."""
    md = {
        "PADM_METHOD": method_name,
        "PADM_PARAMETERS": json.dumps(parameters, sort_keys=True, default=str),
        "PADM_VERSION": version,
        "PADM_SENSOR": sensor.name,
        "TIFFTAG_SOFTWARE": f"PADM Pansharpening {version}",
    }
    for k, v in (extra or {}).items():
        md[f"PADM_{str(k).upper()}"] = v if isinstance(v, str) else json.dumps(v, default=str)
    return md
