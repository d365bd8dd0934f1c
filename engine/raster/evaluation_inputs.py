"""Whole aligned arrays for the quality metrics: PAN, MS, a fused raster and a reference, cut to
the region every raster covers (reads whole images: meant for evaluation sizes)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import PansharpenError
from ..sensors import Sensor
from .gdalio import fresh_errors, open_raster, read_window
from .pair import RATIO_TOL, PanMsPair, check_north_up, open_pair, resolve_sensor


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
        check_north_up(info, role)
        fg, rg = info.geotransform, pair.geotransform
        if abs(fg[1] / rg[1] - 1) > RATIO_TOL or abs(fg[5] / rg[5] - 1) > RATIO_TOL:
            raise PansharpenError(f"{role} file {path} is not on the PAN's pixel grid: resample it to the PAN "
                                  "pixel size (gdalwarp -tr).")
        c0f, r0f = (fg[0] - rg[0]) / rg[1], (fg[3] - rg[3]) / rg[5]
        c0, r0 = int(round(c0f)), int(round(r0f))
        if abs(c0f - c0) > 0.01 or abs(r0f - r0) > 0.01:
            raise PansharpenError(f"{role} file {path} is offset from the PAN grid by a fraction of a pixel: "
                                  "resample it onto the PAN grid (gdalwarp -tap).")
    arr = read_window(ds, f"{role} file {path}", 0, 0, info.width, info.height, band_list=info.band_list)
    return arr, r0, c0


@fresh_errors
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
