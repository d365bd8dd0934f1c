"""The value range of the output: integer outputs are clipped to the range the MS's encoding holds,
float outputs when asked; what fell outside is counted (PADM_CLIPPED / PADM_OUTSIDE_RANGE)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np
from osgeo import gdal

from .gdalio import RasterInfo


@dataclass(frozen=True)
class ValueRange:
    """Per band [low, high]: the range the MS's encoding holds (ms_valid_range); ``clip``: whether
    values outside it are clipped (always for integer outputs; for float ones with --clip)."""

    low: tuple[float, ...]
    high: tuple[float, ...]
    clip: bool


@dataclass
class RangeStats:
    """Per band, of the valid output pixels: how many fell below / above the range (before any
    clipping), how many were negative, and the extremes (before clipping)."""

    below: list[int] = field(default_factory=list)
    above: list[int] = field(default_factory=list)
    negative: list[int] = field(default_factory=list)
    vmin: list[float] = field(default_factory=list)
    vmax: list[float] = field(default_factory=list)

    def add(self, other: "RangeStats") -> None:
        if not self.below:
            n = len(other.below)
            self.below, self.above, self.negative = [0] * n, [0] * n, [0] * n
            self.vmin, self.vmax = [math.inf] * n, [-math.inf] * n
        for b in range(len(other.below)):
            self.below[b] += other.below[b]
            self.above[b] += other.above[b]
            self.negative[b] += other.negative[b]
            self.vmin[b] = min(self.vmin[b], other.vmin[b])
            self.vmax[b] = max(self.vmax[b], other.vmax[b])

    @classmethod
    def of(cls, values: np.ndarray, valid: np.ndarray, low: np.ndarray, high: np.ndarray) -> "RangeStats":
        v = values.reshape(-1, values.shape[-1])[valid.reshape(-1)]
        with np.errstate(invalid="ignore"):
            return cls((v < low).sum(0).tolist(), (v > high).sum(0).tolist(), (v < 0).sum(0).tolist(),
                       np.where(np.isnan(v), np.inf, v).min(0, initial=np.inf).tolist(),
                       np.where(np.isnan(v), -np.inf, v).max(0, initial=-np.inf).tolist())

    def to_dict(self) -> dict:
        return asdict(self)


def clip_limits(value_range: ValueRange, dtype: np.dtype, nodata: Optional[float]) -> tuple[np.ndarray, np.ndarray]:
    """Per-band [low, high] the values are clipped to: for an integer type the range within the
    type, kept off the nodata value (so valid pixels stay distinct from it)."""
    low, high = np.array(value_range.low, np.float64), np.array(value_range.high, np.float64)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        low, high = np.clip(np.ceil(low), info.min, info.max), np.clip(np.floor(high), info.min, info.max)
        if nodata is not None:
            low = np.where(low == nodata, low + 1, low)
            high = np.where((high == nodata) & (high > low), high - 1, high)
        high = np.maximum(high, low)
    return low, high


def convert_values(values: np.ndarray, valid: np.ndarray, dtype: np.dtype, nodata: Optional[float],
                   limits: Optional[tuple[np.ndarray, np.ndarray]] = None) -> np.ndarray:
    """Float64 values in the output type: clipped to ``limits`` (per band) when given; for an integer
    type rounded and clipped to the type's range (kept off the nodata value); the nodata value (or
    NaN) for invalid pixels only."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        if limits is None:
            info = np.iinfo(dtype)
            lo, hi = float(info.min), float(info.max)
            if nodata == lo:  # keep valid pixels distinct from nodata
                lo += 1
            elif nodata == hi:
                hi -= 1
        else:
            lo, hi = limits
        out = np.clip(np.rint(np.nan_to_num(values, nan=np.min(lo))), lo, hi).astype(dtype)
    else:
        out = (values if limits is None else np.clip(values, *limits)).astype(dtype)
    if nodata is not None:
        out[~valid] = nodata
    elif np.issubdtype(dtype, np.floating):
        out[~valid] = np.nan
    return out


class ValueConverter:
    """Converts float64 windows to the output type (convert_values) with the range's clipping, and
    counts what fell outside the range (``stats``)."""

    def __init__(self, dtype: np.dtype, nodata: Optional[float], value_range: Optional[ValueRange]):
        self.dtype, self.nodata, self.range = np.dtype(dtype), nodata, value_range
        self.stats = RangeStats()
        self.limits = clip_limits(value_range, self.dtype, nodata) if value_range is not None else None

    def __call__(self, values: np.ndarray, valid: np.ndarray) -> np.ndarray:
        if self.limits is None:
            return convert_values(values, valid, self.dtype, self.nodata)
        counted = np.rint(values) if np.issubdtype(self.dtype, np.integer) else values
        self.stats.add(RangeStats.of(counted, valid, *self.limits))
        return convert_values(values, valid, self.dtype, self.nodata, self.limits if self.range.clip else None)

    def metadata(self) -> dict[str, str]:
        """PADM_CLIP (ms-range | none), PADM_CLIP_RANGE, and PADM_CLIPPED (per-band counts of the
        pixels clipped) or, for a float output without clipping, PADM_OUTSIDE_RANGE and
        PADM_NEGATIVE_KEPT (per-band counts of the pixels kept outside the range / below zero)."""
        if self.limits is None or not self.stats.below:
            return {}
        low, high = self.limits
        md = {"PADM_CLIP": "ms-range" if self.range.clip else "none",
              "PADM_CLIP_RANGE": json.dumps([[_num(a), _num(b)] for a, b in zip(low, high)])}
        outside = [a + b for a, b in zip(self.stats.below, self.stats.above)]
        if self.range.clip:
            md["PADM_CLIPPED"] = json.dumps(outside)
        else:
            md["PADM_OUTSIDE_RANGE"] = json.dumps(outside)
            md["PADM_NEGATIVE_KEPT"] = json.dumps(self.stats.negative)
        return md

    def note(self) -> str:
        """One line on what happened to the values outside the MS's range."""
        if self.limits is None or not self.stats.below:
            return ""
        low, high = self.limits
        s = self.stats
        if self.range.clip:
            hit = [f"band {b + 1}: {s.below[b]} below {_num(low[b])}, {s.above[b]} above {_num(high[b])} "
                   f"(values {_num(s.vmin[b], 2)}..{_num(s.vmax[b], 2)})"
                   for b in range(len(low)) if s.below[b] or s.above[b]]
            return ("clipped to the range the MS's encoding holds: " + "; ".join(hit) if hit else
                    "no pixel outside the range the MS's encoding holds: nothing clipped") + " (PADM_CLIPPED in the metadata)"
        neg = [f"band {b + 1}: {s.negative[b]} (min {_num(s.vmin[b], 2)})" for b in range(len(low)) if s.negative[b]]
        return ("float output not clipped (--clip clips it to the range the MS's encoding holds): negative values kept in "
                + ("; ".join(neg) if neg else "no band") + " (PADM_NEGATIVE_KEPT in the metadata)")


def _num(v: float, digits: int = 6) -> float | int:
    v = float(v)
    return int(v) if v.is_integer() else round(v, digits)


def ms_valid_range(ds: gdal.Dataset, clip: bool, info: RasterInfo) -> ValueRange:
    """Per band, the range of values the MS's encoding holds: from 0 (or the band's minimum where the
    MS has negative values) up to the largest value of its bit depth: NBITS where the file says it,
    else the smallest 2^k - 1 (k >= 8) holding the MS's maximum (11-bit data in uint16: 2047); no upper
    limit for floating-point data. Not the MS's observed maximum: a fused pixel may rightly be brighter
    than the r x r average an MS pixel is (clipping there measurably lowered Q2n on the demo scene).
    The MS's valid pixels are read in strips (one pass over the MS, ratio**2 times smaller than the
    output); not GDAL's ComputeRasterMinMax, which through a VRT (--bands) saves an .aux.xml beside
    the input and counts masked pixels."""
    low, high = _masked_range(ds, info, max(1, (1 << 22) // max(1, info.width * info.bands)))
    low = np.where(np.isfinite(low), np.minimum(low, 0.0), -math.inf)
    if np.issubdtype(info.dtype, np.integer) and np.isfinite(high).any():
        nbits = ds.GetRasterBand(info.band_list[0] if info.band_list else 1).GetMetadataItem("NBITS", "IMAGE_STRUCTURE")
        bits = int(nbits) if nbits and nbits.isdigit() else max(8, int(np.ceil(np.log2(np.max(high[np.isfinite(high)]) + 1))))
        high = np.full(info.bands, min(float(2 ** bits - 1), float(np.iinfo(info.dtype).max)))
    else:
        high = np.full(info.bands, math.inf)
    return ValueRange(tuple(map(float, low)), tuple(map(float, high)), clip)


def _masked_range(ds: gdal.Dataset, info: RasterInfo, rows: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Per band (min, max) of the MS's valid pixels (a mask or alpha band, nodata and non-finite values
    excluded; +-inf where a band has none), read in strips of ``rows`` rows."""
    low, high = np.full(info.bands, math.inf), np.full(info.bands, -math.inf)
    for y in range(0, info.height, rows):
        values, valid = info.read(ds, 0, y, info.width, min(rows, info.height - y), "MS")
        if valid.any():
            v = values[valid].reshape(-1, info.bands)
            low, high = np.minimum(low, v.min(0)), np.maximum(high, v.max(0))
    empty = low > high  # no valid pixel: no limit
    return np.where(empty, -math.inf, low), np.where(empty, math.inf, high)
