"""The fused output: output path and format checks, the nodata value, the atomic writer (tiled
GeoTIFF, then Cloud-Optimised GeoTIFF by default) and the provenance metadata it carries; the value
range and its clipping are engine.raster.values."""

from __future__ import annotations

import glob
import json
import math
import os
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
from osgeo import gdal, gdal_array

from ..errors import Cancelled, PansharpenError
from ..sensors import Sensor
from .gdalio import gdal_errors, last_error
from .pair import PanMsPair
from .values import RangeStats, ValueConverter, ValueRange

OUTPUT_FORMATS: tuple[str, ...] = ("COG", "GTiff")  # GDAL driver names
DEFAULT_FORMAT = "COG"
OUTPUT_EXTENSIONS: tuple[str, ...] = (".tif", ".tiff")
# COG: DEFLATE with the predictor, overviews made by averaging, BigTIFF when needed. Nodata is the
# nodata value (as the plain GeoTIFF's); no internal mask band.
COG_OPTIONS = {"COMPRESS": "DEFLATE", "PREDICTOR": "YES", "BLOCKSIZE": "256", "OVERVIEWS": "AUTO",
               "RESAMPLING": "AVERAGE", "BIGTIFF": "IF_SAFER"}
# COG options that would reproject or resample the full-resolution grid: refused (warp the result instead)
COG_GRID_OPTIONS = ("TILING_SCHEME", "ZOOM_LEVEL", "ZOOM_LEVEL_STRATEGY", "TARGET_SRS", "RES", "EXTENT",
                    "ALIGNED_LEVELS", "WARP_RESAMPLING", "ADD_ALPHA")
GTIFF_GRID_OPTIONS = ("TILED", "BLOCKXSIZE", "BLOCKYSIZE", "STREAMABLE_OUTPUT", "INTERLEAVE")  # the tiled writes


@dataclass(frozen=True)
class OutputFormat:
    """How the output file is written: GDAL driver (COG or GTiff) and the user's creation options
    (KEY=VALUE, each replacing the default of its key)."""

    driver: str = DEFAULT_FORMAT
    creation_options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        known = {f.lower(): f for f in OUTPUT_FORMATS}
        if str(self.driver).lower() not in known:
            raise PansharpenError(f"Unknown output format '{self.driver}': use {' or '.join(OUTPUT_FORMATS)}.")
        object.__setattr__(self, "driver", known[str(self.driver).lower()])
        options = tuple(self.creation_options or ())
        object.__setattr__(self, "creation_options", options)
        allowed = _creation_option_names(self.driver)
        refused = COG_GRID_OPTIONS if self.driver == "COG" else GTIFF_GRID_OPTIONS
        for item in options:
            key, sep, value = str(item).partition("=")
            key = key.strip().upper()
            if not sep or not key or not value.strip():
                raise PansharpenError(f"Creation option '{item}' is not KEY=VALUE: write e.g. --co COMPRESS=ZSTD.")
            if allowed and key not in allowed:
                raise PansharpenError(f"The {self.driver} driver has no creation option {key}: see "
                                      f"https://gdal.org/drivers/raster/{self.driver.lower()}.html for the valid ones.")
            if key in refused:
                raise PansharpenError(f"Creation option {key} would change the output's grid or tiling: drop it "
                                      "(reproject or retile the result with gdalwarp/gdal_translate).")

    def options_for(self, defaults: dict[str, str]) -> list[str]:
        """The creation options: the defaults, each replaced by the user's value for the same key."""
        merged = dict(defaults)
        for item in self.creation_options:
            key, _, value = item.partition("=")
            merged[key.strip().upper()] = value.strip()
        return [f"{k}={v}" for k, v in merged.items()]


def _creation_option_names(driver: str) -> set[str]:
    xml = gdal.GetDriverByName(driver).GetMetadataItem("DMD_CREATIONOPTIONLIST") or ""
    try:
        return {o.get("name", "").upper() for o in ET.fromstring(xml)} if xml else set()
    except ET.ParseError:
        return set()


def _has_codec(name: str) -> bool:
    xml = gdal.GetDriverByName("GTiff").GetMetadataItem("DMD_CREATIONOPTIONLIST") or ""
    return f"<Value>{name}</Value>" in xml


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


def check_raster_output(out_path: str | os.PathLike, inputs: Sequence[str | os.PathLike],
                        overwrite: bool = False) -> Path:
    """check_output_path, and: a GeoTIFF extension (.tif/.tiff: COG and GTiff alike); an existing
    file only when ``overwrite``."""
    out = check_output_path(out_path, inputs)
    if out.suffix.lower() not in OUTPUT_EXTENSIONS:
        raise PansharpenError(f"Output {out} does not end in {' or '.join(OUTPUT_EXTENSIONS)}: the output is a "
                              "GeoTIFF (COG or GTiff), so name it e.g. result.tif.")
    if not overwrite and (out.exists() or out.is_symlink()):
        raise PansharpenError(f"Output {out} already exists: give another output path, or allow replacing it "
                              "(--overwrite).")
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


# --------------------------------------------------------------------------------------------
# Band labels and the writer


@dataclass(frozen=True)
class BandLabel:
    """What the output says about a band: description, colour interpretation (a GDAL GCI_ value),
    centre wavelength, scale and offset (None: not set)."""

    description: str = ""
    colour: Optional[int] = None
    wavelength_nm: Optional[float] = None
    scale: Optional[float] = None
    offset: Optional[float] = None


def _label_band(band: gdal.Band, label: BandLabel, nodata: Optional[float]) -> None:
    if label.description:
        band.SetDescription(label.description)
    if nodata is not None:
        band.SetNoDataValue(nodata)
    if label.colour is not None:
        band.SetColorInterpretation(label.colour)
    if label.wavelength_nm is not None:
        um = f"{label.wavelength_nm / 1000.0:g}"
        # the GDAL 3.10 IMAGERY convention, and the default domain (GDAL 3.6's COG copies only that one)
        band.SetMetadataItem("CENTRAL_WAVELENGTH_UM", um, "IMAGERY")
        band.SetMetadataItem("CENTRAL_WAVELENGTH_UM", um)
    if label.scale is not None and label.scale != 1.0:
        band.SetScale(label.scale)
    if label.offset is not None and label.offset != 0.0:
        band.SetOffset(label.offset)


ProgressFn = Callable[[float, str], None]


class OutputWriter:
    """The output written under temporary names in the output folder: a tiled, compressed GeoTIFF
    written window by window, then (format COG) copied by GDAL's COG driver into a second temporary
    file with overviews; ``commit`` renames the finished file into place; ``abort`` deletes every
    temporary file. Use as a context manager: an exception aborts.

    ``write`` converts float64 windows to the output type (ValueConverter: clipped to the value
    range when it says so, rounded and kept within an integer type, the nodata value for invalid
    pixels only); what fell outside the range is recorded in the metadata at commit.
    """

    def __init__(self, out_path: str | os.PathLike, width: int, height: int, bands: int, dtype: np.dtype,
                 geotransform: Optional[Sequence[float]], wkt: str, nodata: Optional[float],
                 descriptions: Sequence[str | BandLabel], metadata: dict[str, str],
                 output_format: Optional[OutputFormat] = None, value_range: Optional[ValueRange] = None):
        self.out_path = Path(out_path)
        self.token = uuid.uuid4().hex[:8]
        self.tmp_path = self._temp(".part")
        self.format = output_format or OutputFormat()
        self.dtype = np.dtype(dtype)
        self.nodata = nodata
        self.converter = ValueConverter(self.dtype, nodata, value_range)
        gdal_type = gdal_array.NumericTypeCodeToGDALTypeCode(self.dtype)
        predictor = "3" if np.issubdtype(self.dtype, np.floating) else "2"
        defaults = {"TILED": "YES", "BLOCKXSIZE": "256", "BLOCKYSIZE": "256", "COMPRESS": "DEFLATE",
                    "PREDICTOR": predictor, "BIGTIFF": "IF_SAFER"}
        if self.format.driver == "GTiff":
            options = self.format.options_for(defaults)
        else:  # a temporary file the COG driver recompresses: the fastest lossless codec will do
            fast = {"COMPRESS": "ZSTD", "ZSTD_LEVEL": "1"} if _has_codec("ZSTD") else {}
            options = [f"{k}={v}" for k, v in {**defaults, **fast}.items()]
        with gdal_errors():
            try:
                self.ds = gdal.GetDriverByName("GTiff").Create(str(self.tmp_path), width, height, bands, gdal_type,
                                                               options)
            except RuntimeError:
                self.ds = None
            if self.ds is None:
                raise PansharpenError(f"Cannot create {self.tmp_path} ({last_error()}): check free space and "
                                      "permissions of the output folder and the creation options.")
        if geotransform is not None:
            self.ds.SetGeoTransform(tuple(geotransform))
        if wkt:
            self.ds.SetProjection(wkt)
        self.ds.SetMetadata({k: str(v) for k, v in metadata.items()})
        for b in range(bands):
            label = descriptions[b] if isinstance(descriptions[b], BandLabel) else BandLabel(descriptions[b] or "")
            _label_band(self.ds.GetRasterBand(b + 1), label, nodata)

    def _temp(self, suffix: str) -> Path:
        return self.out_path.with_name(f".{self.out_path.name}.{self.token}{suffix}")

    @property
    def stats(self) -> RangeStats:
        return self.converter.stats

    def note(self) -> str:
        return self.converter.note()

    def convert(self, values: np.ndarray, valid: np.ndarray) -> np.ndarray:
        return self.converter(values, valid)

    def write(self, r0: int, c0: int, values: np.ndarray, valid: np.ndarray) -> None:
        """Write a (h, w, B) float window at row r0, column c0."""
        self.write_converted(r0, c0, self.convert(values, valid))

    def write_converted(self, r0: int, c0: int, out: np.ndarray) -> None:
        """Write a (h, w, B) window already in the output type (convert's result, e.g. a chunk made
        by another process, whose RangeStats then go to ``stats.add``) at row r0, column c0."""
        with gdal_errors():
            for b in range(out.shape[2]):
                if self.ds.GetRasterBand(b + 1).WriteArray(out[:, :, b], c0, r0) != 0:
                    raise PansharpenError(f"Cannot write {self.tmp_path} ({last_error()}): check free disk space.")

    def commit(self, progress: Optional[ProgressFn] = None, is_cancelled: Optional[Callable[[], bool]] = None) -> Path:
        """Finish the file and rename it into place (COG: after the copy with overviews, which
        reports to ``progress`` and stops, leaving no file, when ``is_cancelled``)."""
        for key, value in self.converter.metadata().items():
            self.ds.SetMetadataItem(key, value)
        with gdal_errors():
            self.ds.FlushCache()
            failed = gdal.GetLastErrorType() >= gdal.CE_Failure
            msg = last_error()
        self.ds = None
        if failed:
            self.abort()
            raise PansharpenError(f"Cannot finish {self.out_path} ({msg}): check free disk space.")
        final = self.tmp_path
        if self.format.driver == "COG":
            final = self._to_cog(progress, is_cancelled)
        stale_aux = Path(str(self.out_path) + ".aux.xml")
        if stale_aux.exists():
            stale_aux.unlink()
        os.replace(final, self.out_path)
        self.abort()  # the GeoTIFF the COG was made from, and anything GDAL left beside it
        return self.out_path

    def _to_cog(self, progress: Optional[ProgressFn], is_cancelled: Optional[Callable[[], bool]]) -> Path:
        cog = self._temp(".cog.part")

        def callback(fraction, message, data) -> int:
            if is_cancelled is not None and is_cancelled():
                return 0
            if progress is not None:
                progress(fraction, "writing the Cloud-Optimised GeoTIFF (overviews)")
            return 1

        with gdal_errors():
            try:
                ds = gdal.Translate(str(cog), str(self.tmp_path), format="COG",
                                    creationOptions=self.format.options_for(COG_OPTIONS), callback=callback)
            except RuntimeError:
                ds = None
            ok = ds is not None
            if ok:
                ds.FlushCache()
                ok = gdal.GetLastErrorType() < gdal.CE_Failure
            ds = None
            msg = last_error()
        if not ok:
            self.abort()
            if is_cancelled is not None and is_cancelled():
                raise Cancelled()
            raise PansharpenError(f"Cannot write the Cloud-Optimised GeoTIFF {self.out_path} ({msg}): check free "
                                  "disk space and the creation options (--co), or write --format GTiff.")
        return cog

    def abort(self) -> None:
        """Delete every temporary file of this writer (never the output)."""
        self.ds = None
        for p in glob.glob(glob.escape(str(self._temp(""))) + ".*"):
            Path(p).unlink(missing_ok=True)

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
