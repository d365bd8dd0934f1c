"""Raster I/O with GDAL: open and validate a PAN/MS pair, align the MS to the PAN/ratio grid,
read aligned windows, write the fused GeoTIFF atomically, and make PNG previews.

Geometry. The processed region is the part of the PAN covered by the MS: a window of the PAN
(row0, col0, height, width), height and width multiples of the ratio r. Its r x r PAN blocks form
the low-resolution (LR) grid that methods receive the MS on. For every LR row/column the MS
position of the block centre is computed from the two geotransforms. When that position is an
integer (within 1e-3 MS pixel) the MS is taken by index. Centre-aligned grids (Landsat: each MS
pixel centred on a PAN pixel) are taken by index too, with the MS pixel on PAN pixel r*j + r//2 of
its block: the phase at which interp23tap (the MS upsampling of every method and metric) places
LR samples, and the Wald decimation takes them — resampling them onto block centres would
interpolate the MS and then leave the upsampled MS half a PAN pixel off the PAN. Any other offset
is resampled onto block centres with a separable cubic convolution (Keys, a = -0.5; MS edges
replicated), our own code rather than a GDAL warped VRT, so that windows read tile by tile give
the same values as a whole-scene read. Among the first r PAN columns (rows) of the overlap, the
start that makes the MS positions integers is preferred, so integer offsets (WV3's +2/+1 PAN
pixels) never resample.

Files without georeferencing (no CRS, identity geotransform) are accepted when the PAN shape is
exactly r times the MS shape; both are then treated as pixel grids aligned on r x r blocks.

Nothing here reads a whole raster except ``read_for_evaluation`` (metrics need whole images).
"""

from __future__ import annotations

import functools
import json
import math
import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
from osgeo import gdal, gdal_array, osr

from .errors import PansharpenError
from .sensors import Sensor, get_sensor, guess_sensor

_IDENTITY_GT = (0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
_RATIO_TOL = 0.01  # pixel-size ratio must be an integer within 1 %
_INT_TOL = 1e-3  # MS positions within this of an integer (MS pixels) are taken by index


# --------------------------------------------------------------------------------------------
# GDAL calls with one-line errors


@contextmanager
def _gdal_errors() -> Iterator[None]:
    """Quiet GDAL's own printing; errors are turned into PansharpenError by the callers."""
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    gdal.ErrorReset()
    try:
        yield
    finally:
        gdal.PopErrorHandler()


def _fresh_errors(fn):
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


def _last_error(default: str = "unknown GDAL error") -> str:
    msg = gdal.GetLastErrorMsg().strip()
    return msg.splitlines()[0] if msg else default


def _read_window(ds: gdal.Dataset, path: str, xoff: int, yoff: int, xsize: int, ysize: int,
                 band: Optional[int] = None) -> np.ndarray:
    """A window as float64: (h, w) for one band, (h, w, B) for the whole dataset."""
    with _gdal_errors():
        try:
            src = ds.GetRasterBand(band) if band else ds
            arr = src.ReadAsArray(xoff, yoff, xsize, ysize)
        except RuntimeError:
            arr = None
        if arr is None:
            ds = src = None  # noqa: F841 - release the dataset before the traceback can hold it
            raise PansharpenError(f"Cannot read pixels of {path} ({_last_error()}): the file is corrupt or "
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


@_fresh_errors
def open_raster(path: str | os.PathLike, role: str) -> tuple[gdal.Dataset, RasterInfo]:
    """Open any raster GDAL reads; role ('PAN', 'MS', ...) names it in error messages."""
    path = str(path)
    if not os.path.exists(path):
        raise PansharpenError(f"{role} file {path} does not exist: check the path.")
    with _gdal_errors():
        try:
            ds = gdal.Open(path, gdal.GA_ReadOnly)
        except RuntimeError:
            ds = None
        if ds is None or ds.RasterCount == 0:
            raise PansharpenError(f"Cannot open {role} file {path} ({_last_error('not a raster')}): "
                                  "give a raster file GDAL can read (GeoTIFF, JP2, VRT, ...).")
    gt = ds.GetGeoTransform(can_return_null=True)
    wkt = ds.GetProjection() or ""
    georeferenced = not ((gt is None or tuple(gt) == _IDENTITY_GT) and not wkt)
    band1 = ds.GetRasterBand(1)
    gdal_type = band1.DataType
    if gdal.DataTypeIsComplex(gdal_type) or gdal_type == gdal.GDT_Unknown:
        raise PansharpenError(f"{role} file {path} has data type {gdal.GetDataTypeName(gdal_type)}: "
                              "convert it to an integer or real type (gdal_translate -ot Float32).")
    bands = [ds.GetRasterBand(i + 1) for i in range(ds.RasterCount)]
    info = RasterInfo(
        path=path, width=ds.RasterXSize, height=ds.RasterYSize, bands=ds.RasterCount,
        geotransform=tuple(gt) if gt is not None else _IDENTITY_GT, wkt=wkt, georeferenced=georeferenced,
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
        _read_window(ds, f"{role} file {info.path}", x, y, 1, 1)


def _nodata_mask(values: np.ndarray, nodata: Sequence[Optional[float]]) -> np.ndarray:
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


# --------------------------------------------------------------------------------------------
# Alignment of the MS onto the PAN/ratio grid


@dataclass(frozen=True)
class AxisMap:
    """One axis of the alignment: PAN start/length of the region and MS position of LR index j."""

    start: int  # first PAN row/column of the processed region
    length: int  # PAN pixels, multiple of the ratio
    ms_pos0: float  # MS pixel-centre coordinate of LR index 0 (0.0 = centre of MS pixel 0)
    ms_step: float  # MS pixels per LR pixel (1.0 unless pixel sizes differ slightly)
    ms_size: int
    centred: bool = False  # MS pixel centres on PAN pixel r*j + r//2 (even r), not on block centres

    @property
    def by_index(self) -> bool:
        return self.ms_step == 1.0 and self.ms_pos0 == round(self.ms_pos0)

    def taps(self, j0: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """MS indices (n, k) and weights (n, k) giving LR indices j0..j0+n-1 (k = 1 or 4 taps)."""
        pos = self.ms_pos0 + self.ms_step * np.arange(j0, j0 + n, dtype=np.float64)
        if self.by_index:
            idx = np.clip(np.rint(pos).astype(np.int64), 0, self.ms_size - 1)
            return idx[:, None], np.ones((n, 1))
        base = np.floor(pos)
        t = pos - base
        idx = np.clip(base.astype(np.int64)[:, None] + np.arange(-1, 3)[None, :], 0, self.ms_size - 1)
        return idx, _keys_weights(t)


def _keys_weights(t: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Cubic convolution weights (Keys 1981) for taps at -1, 0, 1, 2 around fractional position t."""
    d = np.stack([1 + t, t, 1 - t, 2 - t], axis=1)
    near = (a + 2) * d**3 - (a + 3) * d**2 + 1
    far = a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a
    return np.where(d <= 1, near, far)


def _axis_map(pan_origin: float, pan_step: float, pan_size: int, ms_origin: float, ms_step: float,
              ms_size: int, ratio: int, exact: bool) -> Optional[AxisMap]:
    """Alignment along one axis, or None when the PAN and MS do not overlap by one LR pixel."""
    q = abs(pan_step / ms_step)  # MS pixels per PAN pixel (≈ 1/ratio)
    if exact or abs(q * ratio - 1.0) < 1e-9:
        q = 1.0 / ratio
    lo = (ms_origin - pan_origin) / pan_step  # MS edges in PAN pixel coordinates
    hi = lo + ms_size / q
    first, last = max(0.0, lo), min(float(pan_size), hi)
    start0 = math.ceil(first - 1e-6)

    def pos0(start: int, centre: float) -> float:
        """MS pixel-centre coordinate of LR pixel 0, centred at PAN pixel-edge coordinate start + centre."""
        return (start + centre - lo) * q - 0.5

    # LR pixel centre within its r x r PAN block: the block centre, or the centre of PAN pixel r//2
    # (centre-aligned grids; the phase of interp23tap and of the Wald decimation). They differ for
    # even ratios only.
    phases = ((ratio * 0.5, False), (ratio // 2 + 0.5, True))
    start, centred = start0, False
    found = False
    if q * ratio == 1.0:  # prefer a start (and phase) that avoids resampling, if one exists
        for centre, is_centred in phases:
            for cand in range(start0, start0 + ratio):
                p = pos0(cand, centre)
                if abs(p - round(p)) < _INT_TOL:
                    start, centred, found = cand, is_centred, True
                    break
            if found:
                break
    length = int(math.floor((last + 1e-6 - start) / ratio)) * ratio
    if length < ratio:
        return None
    p0 = pos0(start, phases[1][0] if centred else phases[0][0])
    if q * ratio == 1.0 and abs(p0 - round(p0)) < _INT_TOL:
        p0 = float(round(p0))
    return AxisMap(start, length, p0, q * ratio, ms_size, centred and ratio % 2 == 0)


# --------------------------------------------------------------------------------------------
# The validated, aligned pair


@dataclass
class PanMsPair:
    """An open PAN/MS pair, validated and aligned; reads windows of the processed region."""

    pan_ds: gdal.Dataset
    ms_ds: gdal.Dataset
    pan: RasterInfo
    ms: RasterInfo
    ratio: int
    rows: AxisMap
    cols: AxisMap
    notes: list[str] = field(default_factory=list)

    @property
    def height(self) -> int:
        return self.rows.length

    @property
    def width(self) -> int:
        return self.cols.length

    @property
    def bands(self) -> int:
        return self.ms.bands

    @property
    def geotransform(self) -> Optional[tuple[float, ...]]:
        """PAN geotransform of the processed region (None without georeferencing)."""
        if not self.pan.georeferenced:
            return None
        gt = self.pan.geotransform
        return (gt[0] + self.cols.start * gt[1], gt[1], 0.0, gt[3] + self.rows.start * gt[5], 0.0, gt[5])

    @property
    def resampled(self) -> bool:
        return not (self.rows.by_index and self.cols.by_index)

    def read(self, r0: int, c0: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """PAN (h, w), aligned MS (h/r, w/r, B), PAN validity (h, w), MS validity (h/r, w/r) of a
        ratio-aligned window of the processed region (region coordinates, PAN pixels)."""
        r = self.ratio
        assert r0 % r == 0 and c0 % r == 0 and h % r == 0 and w % r == 0, "window must be ratio-aligned"
        assert 0 <= r0 and r0 + h <= self.height and 0 <= c0 and c0 + w <= self.width, "window outside region"
        pan = _read_window(self.pan_ds, f"PAN file {self.pan.path}", self.cols.start + c0, self.rows.start + r0, w, h, 1)
        pan_valid = _nodata_mask(pan, self.pan.nodata)
        ms, ms_valid = self._read_ms(r0 // r, c0 // r, h // r, w // r)
        return pan, ms, pan_valid, ms_valid

    def _read_ms(self, i0: int, j0: int, n_i: int, n_j: int) -> tuple[np.ndarray, np.ndarray]:
        """Aligned LR MS block: index taps or separable cubic taps, one windowed read."""
        ri, rw = self.rows.taps(i0, n_i)
        ci, cw = self.cols.taps(j0, n_j)
        y0, y1, x0, x1 = int(ri.min()), int(ri.max()) + 1, int(ci.min()), int(ci.max()) + 1
        raw = _read_window(self.ms_ds, f"MS file {self.ms.path}", x0, y0, x1 - x0, y1 - y0)
        valid = _nodata_mask(raw, self.ms.nodata).astype(np.float64)
        raw = np.where(valid[..., None] > 0, raw, 0.0)
        ri, ci = ri - y0, ci - x0
        # rows, then columns: out[i, j] = sum_a sum_b rw[i,a] cw[j,b] raw[ri[i,a], ci[j,b]]
        tmp = np.einsum("ia,iaxb->ixb", rw, raw[ri])
        out = np.einsum("jb,ijbc->ijc", cw, tmp[:, ci])
        # an LR pixel is valid when every tap with a non-zero weight is valid
        used_r, used_c = (np.abs(rw) > 1e-12), (np.abs(cw) > 1e-12)
        bad = 1.0 - valid
        bad_r = np.einsum("ia,iax->ix", used_r.astype(np.float64), bad[ri])
        bad_rc = np.einsum("jb,ijb->ij", used_c.astype(np.float64), bad_r[:, ci])
        return out, bad_rc == 0

    def metadata_text(self) -> str:
        return self.pan.metadata_text + "\n" + self.ms.metadata_text

    def close(self) -> None:
        self.pan_ds = None
        self.ms_ds = None


def _check_north_up(info: RasterInfo, role: str) -> None:
    gt = info.geotransform
    if gt[2] != 0.0 or gt[4] != 0.0:
        raise PansharpenError(f"{role} file {info.path} has a rotated geotransform: warp it to a north-up grid "
                              "first (gdalwarp).")


def _same_crs(wkt_a: str, wkt_b: str) -> bool:
    if not wkt_a and not wkt_b:
        return True
    if not wkt_a or not wkt_b:
        return False
    a, b = osr.SpatialReference(), osr.SpatialReference()
    a.ImportFromWkt(wkt_a)
    b.ImportFromWkt(wkt_b)
    if a.IsSame(b):
        return True
    codes = []
    for s in (a, b):
        s.AutoIdentifyEPSG()
        codes.append((s.GetAuthorityName(None), s.GetAuthorityCode(None)))
    return codes[0][1] is not None and codes[0] == codes[1]


def _crs_name(wkt: str) -> str:
    if not wkt:
        return "no CRS"
    s = osr.SpatialReference()
    s.ImportFromWkt(wkt)
    code = s.GetAuthorityCode(None)
    return f"EPSG:{code}" if code else (s.GetName() or "unnamed CRS")


@_fresh_errors
def open_pair(pan_path: str | os.PathLike, ms_path: str | os.PathLike) -> PanMsPair:
    """Open, validate and align a PAN/MS pair; raises PansharpenError with a one-line message."""
    pan_ds, pan = open_raster(pan_path, "PAN")
    ms_ds, ms = open_raster(ms_path, "MS")
    if pan.bands != 1:
        raise PansharpenError(f"PAN file {pan.path} has {pan.bands} bands, the PAN must have one: extract the "
                              "panchromatic band (gdal_translate -b N).")
    if ms.bands < 2:
        raise PansharpenError(f"MS file {ms.path} has {ms.bands} band, the MS needs at least 2: give the "
                              "multispectral raster (stack the bands with gdalbuildvrt -separate).")
    notes: list[str] = []
    if pan.georeferenced != ms.georeferenced:
        has, lacks = (pan, ms) if pan.georeferenced else (ms, pan)
        raise PansharpenError(f"{lacks.path} has no georeferencing but {has.path} has: georeference both files "
                              "(gdal_edit -a_ullr/-a_srs) or neither.")
    if not pan.georeferenced:
        rows, cols, ratio = _pixel_grid_alignment(pan, ms)
        notes.append(f"neither file is georeferenced: treated as pixel grids aligned on {ratio}x{ratio} blocks "
                     "(MS pixel (i, j) = PAN block rows ratio*i.., cols ratio*j..)")
    else:
        for info, role in ((pan, "PAN"), (ms, "MS")):
            _check_north_up(info, role)
        if not _same_crs(pan.wkt, ms.wkt):
            raise PansharpenError(f"MS file {ms.path} is in {_crs_name(ms.wkt)} but PAN file {pan.path} is in "
                                  f"{_crs_name(pan.wkt)}: reproject the MS to the PAN's CRS (gdalwarp -t_srs).")
        rows, cols, ratio = _georef_alignment(pan, ms)
    pair = PanMsPair(pan_ds, ms_ds, pan, ms, ratio, rows, cols, notes)
    if pan.georeferenced:
        if pair.rows.centred or pair.cols.centred:
            notes.append(f"MS pixel centres fall on PAN pixel centres (centre-aligned grids, as Landsat's): MS taken "
                         f"by index, each MS pixel on the centre of PAN pixel {ratio}i+{ratio // 2} of its "
                         f"{ratio}x{ratio} block — the geometry of the MS upsampling (interp23tap), no resampling")
        if pair.resampled:
            notes.append(f"MS resampled onto the PAN/{ratio} grid (cubic convolution): its grid is offset by "
                         f"{_frac_note(rows, ratio)} PAN px (rows) and {_frac_note(cols, ratio)} PAN px (columns)")
        if (rows.start, cols.start, rows.length, cols.length) != (0, 0, pan.height, pan.width):
            notes.append(f"processed region: PAN rows {rows.start}..{rows.start + rows.length - 1}, columns "
                         f"{cols.start}..{cols.start + cols.length - 1} (where the MS covers the PAN, "
                         f"ratio-aligned)")
    return pair


def _frac_note(axis: AxisMap, ratio: int) -> str:
    """Sub-pixel offset of the MS grid from the LR grid, in PAN pixels."""
    frac = axis.ms_pos0 - math.floor(axis.ms_pos0)
    return f"{frac * ratio:.2f}"


def _pixel_grid_alignment(pan: RasterInfo, ms: RasterInfo) -> tuple[AxisMap, AxisMap, int]:
    ratio = pan.width // ms.width if ms.width else 0
    if ratio < 2 or pan.width != ratio * ms.width or pan.height != ratio * ms.height:
        raise PansharpenError(f"Without georeferencing the PAN ({pan.path}, {pan.width}x{pan.height}) must be exactly "
                              f"2, 3, 4... times the MS ({ms.path}, {ms.width}x{ms.height}): crop them to matching "
                              "extents or add georeferencing.")
    rows = _axis_map(0.0, 1.0, pan.height, 0.0, float(ratio), ms.height, ratio, exact=True)
    cols = _axis_map(0.0, 1.0, pan.width, 0.0, float(ratio), ms.width, ratio, exact=True)
    assert rows is not None and cols is not None
    return rows, cols, ratio


def _georef_alignment(pan: RasterInfo, ms: RasterInfo) -> tuple[AxisMap, AxisMap, int]:
    pg, mg = pan.geotransform, ms.geotransform
    if pg[1] * mg[1] <= 0 or pg[5] * mg[5] <= 0:
        raise PansharpenError(f"MS file {ms.path} and PAN file {pan.path} have grids flipped relative to each other: "
                              "warp the MS to the PAN's orientation (gdalwarp).")
    rx, ry = mg[1] / pg[1], mg[5] / pg[5]
    ratio = int(round(rx))
    if ratio < 2 or abs(rx - ratio) > _RATIO_TOL * ratio or abs(ry - ratio) > _RATIO_TOL * ratio:
        raise PansharpenError(f"MS file {ms.path}: the MS/PAN pixel-size ratio is {rx:.3g} x {ry:.3g}, not an integer "
                              "2, 3, 4...: resample the MS to an integer multiple of the PAN pixel size "
                              "(gdalwarp -tr).")
    cols = _axis_map(pg[0], pg[1], pan.width, mg[0], mg[1], ms.width, ratio, exact=False)
    rows = _axis_map(pg[3], pg[5], pan.height, mg[3], mg[5], ms.height, ratio, exact=False)
    if rows is None or cols is None:
        raise PansharpenError(f"MS file {ms.path} and PAN file {pan.path} do not overlap (by at least one MS pixel): "
                              "give a PAN and an MS of the same area.")
    return rows, cols, ratio


def resolve_sensor(pair: PanMsPair, sensor: Optional[str | Sensor]) -> tuple[Sensor, list[str]]:
    """The given sensor, or one guessed from band count and metadata (with a note saying so)."""
    if isinstance(sensor, Sensor):
        return sensor, []
    if sensor:
        return get_sensor(sensor), []
    guessed, what = guess_sensor(pair.bands, pair.metadata_text())
    return guessed, [f"assumed {what}"]


# --------------------------------------------------------------------------------------------
# Output


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
        with _gdal_errors():
            self.ds = gdal.GetDriverByName("GTiff").Create(str(self.tmp_path), width, height, bands, gdal_type, options)
            if self.ds is None:
                raise PansharpenError(f"Cannot create {self.tmp_path} ({_last_error()}): check free space and "
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
        if np.issubdtype(self.dtype, np.integer):
            info = np.iinfo(self.dtype)
            lo, hi = float(info.min), float(info.max)
            if self.nodata == lo:  # keep valid pixels distinct from nodata
                lo += 1
            elif self.nodata == hi:
                hi -= 1
            out = np.clip(np.rint(np.nan_to_num(values, nan=lo)), lo, hi).astype(self.dtype)
        else:
            out = values.astype(self.dtype)
        if self.nodata is not None:
            out[~valid] = self.nodata
        elif np.issubdtype(self.dtype, np.floating):
            out[~valid] = np.nan
        return out

    def write(self, r0: int, c0: int, values: np.ndarray, valid: np.ndarray) -> None:
        """Write a (h, w, B) float window at row r0, column c0."""
        out = self.convert(values, valid)
        with _gdal_errors():
            for b in range(out.shape[2]):
                if self.ds.GetRasterBand(b + 1).WriteArray(out[:, :, b], c0, r0) != 0:
                    raise PansharpenError(f"Cannot write {self.tmp_path} ({_last_error()}): check free disk space.")

    def commit(self) -> Path:
        with _gdal_errors():
            self.ds.FlushCache()
            failed = gdal.GetLastErrorType() >= gdal.CE_Failure
            msg = _last_error()
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


# --------------------------------------------------------------------------------------------
# Preview and evaluation helpers


@_fresh_errors
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
        with _gdal_errors():
            arr = band.ReadAsArray(0, 0, info.width, info.height, buf_xsize=w, buf_ysize=h,
                                   resample_alg=gdal.GRIORA_Average)
        if arr is None:
            raise PansharpenError(f"Cannot read {tif_path} for the preview ({_last_error()}).")
        arr = arr.astype(np.float64)
        valid = _nodata_mask(arr, [info.nodata[b]])
        if not valid.any():
            continue
        lo, hi = np.percentile(arr[valid], [2, 98])
        scaled = np.clip((arr - lo) / max(hi - lo, 1e-12) * 254 + 1, 1, 255)
        rgb[k] = np.where(valid, np.rint(scaled), 0).astype(np.uint8)
    mem = gdal.GetDriverByName("MEM").Create("", w, h, 3, gdal.GDT_Byte)
    for k in range(3):
        mem.GetRasterBand(k + 1).WriteArray(rgb[k])
    png_path = Path(png_path)
    with _gdal_errors():
        out = gdal.GetDriverByName("PNG").CreateCopy(str(png_path), mem)
        if out is None:
            raise PansharpenError(f"Cannot write {png_path} ({_last_error()}): check the folder is writable.")
    out = None
    return png_path


@dataclass
class EvaluationInputs:
    pan: np.ndarray  # (H, W)
    ms_lr: np.ndarray  # (H/r, W/r, B), aligned
    fused: Optional[np.ndarray]  # (H, W, B) on the same grid
    reference: Optional[np.ndarray]
    ratio: int
    sensor: Sensor
    bits: int
    notes: list[str]


def _read_on_region(path: str | os.PathLike, pair: PanMsPair, role: str) -> tuple[np.ndarray, int, int]:
    """A raster on the PAN grid, located in the processed region by geotransform (or by index when
    nothing is georeferenced): returns the whole raster (h, w, B) and its (row, col) in the region."""
    ds, info = open_raster(path, role)
    if info.bands != pair.bands:
        raise PansharpenError(f"{role} file {path} has {info.bands} bands but the MS has {pair.bands}: give the "
                              "matching fused image.")
    r0 = c0 = 0
    if info.georeferenced and pair.pan.georeferenced:
        _check_north_up(info, role)
        fg, rg = info.geotransform, pair.geotransform
        if abs(fg[1] / rg[1] - 1) > _RATIO_TOL or abs(fg[5] / rg[5] - 1) > _RATIO_TOL:
            raise PansharpenError(f"{role} file {path} is not on the PAN's pixel grid: resample it to the PAN "
                                  "pixel size (gdalwarp -tr).")
        c0f, r0f = (fg[0] - rg[0]) / rg[1], (fg[3] - rg[3]) / rg[5]
        c0, r0 = int(round(c0f)), int(round(r0f))
        if abs(c0f - c0) > 0.01 or abs(r0f - r0) > 0.01:
            raise PansharpenError(f"{role} file {path} is offset from the PAN grid by a fraction of a pixel: "
                                  "resample it onto the PAN grid (gdalwarp -tap).")
    arr = _read_window(ds, f"{role} file {path}", 0, 0, info.width, info.height)
    return arr, r0, c0


@_fresh_errors
def read_for_evaluation(pan_path: str | os.PathLike, ms_path: str | os.PathLike,
                        fused_path: Optional[str | os.PathLike] = None,
                        reference_path: Optional[str | os.PathLike] = None,
                        sensor: Optional[str | Sensor] = None) -> EvaluationInputs:
    """Whole aligned arrays for the metrics: the processed region (cut to where the fused and
    reference rasters cover it, ratio-aligned). Reads whole images: meant for evaluation sizes."""
    pair = open_pair(pan_path, ms_path)
    sensor_obj, notes = resolve_sensor(pair, sensor)
    notes = list(pair.notes) + notes
    r = pair.ratio
    top, left, bottom, right = 0, 0, pair.height, pair.width
    extra = []
    for path, role in ((fused_path, "fused"), (reference_path, "reference")):
        if path is None:
            extra.append(None)
            continue
        arr, r0, c0 = _read_on_region(path, pair, role)
        extra.append((arr, r0, c0))
        top, left = max(top, r0), max(left, c0)
        bottom, right = min(bottom, r0 + arr.shape[0]), min(right, c0 + arr.shape[1])
    top, left = -(-top // r) * r, -(-left // r) * r
    h, w = (bottom - top) // r * r, (right - left) // r * r
    if h < r or w < r:
        raise PansharpenError(f"The fused raster does not overlap the PAN/MS region of {pan_path}: evaluate it "
                              "with the inputs it was made from.")
    if (h, w) != (pair.height, pair.width):
        notes.append(f"evaluated on the {w}x{h} part of the region covered by every raster")
    pan, ms_lr, pan_valid, ms_valid = pair.read(top, left, h, w)
    cut = [None if e is None else e[0][top - e[1]: top - e[1] + h, left - e[2]: left - e[2] + w] for e in extra]
    bits = _bits(pair.ms.dtype, ms_lr)
    return EvaluationInputs(pan, ms_lr, cut[0], cut[1], r, sensor_obj, bits, notes)


def _bits(dtype: np.dtype, ms: np.ndarray) -> int:
    """Radiometric resolution L for PSNR/Q2n: 8 for uint8, else bits needed by the MS maximum (>= 8)."""
    if dtype == np.uint8:
        return 8
    peak = float(np.nanmax(ms)) if ms.size else 255.0
    return max(8, int(math.ceil(math.log2(max(peak, 1.0) + 1))))
