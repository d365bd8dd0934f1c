"""Raster I/O with GDAL: open and validate a PAN/MS pair, align the MS to the PAN/ratio grid,
read aligned windows (engine.raster.writer writes the output).

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

Nothing here reads a whole raster (engine.raster.evaluation_inputs does, for the metrics).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from osgeo import gdal, osr

from ..errors import PansharpenError
from ..sensor_guess import SensorGuess, guess
from ..sensors import Sensor, get_sensor
from .alignment import AxisMap, axis_map
from .gdalio import RasterInfo, fresh_errors, open_raster
from .product import read_facts

RATIO_TOL = 0.01  # pixel-size ratio must be an integer within 1 %


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
        ratio-aligned window of the processed region (region coordinates, PAN pixels). Validity:
        finite, not nodata, not masked by a mask or alpha band (engine.raster.gdalio); alpha bands
        are not read as MS bands."""
        r = self.ratio
        assert r0 % r == 0 and c0 % r == 0 and h % r == 0 and w % r == 0, "window must be ratio-aligned"
        assert 0 <= r0 and r0 + h <= self.height and 0 <= c0 and c0 + w <= self.width, "window outside region"
        pan, pan_valid = self.pan.read(self.pan_ds, self.cols.start + c0, self.rows.start + r0, w, h, "PAN")
        ms, ms_valid = self._read_ms(r0 // r, c0 // r, h // r, w // r)
        return pan, ms, pan_valid, ms_valid

    def _read_ms(self, i0: int, j0: int, n_i: int, n_j: int) -> tuple[np.ndarray, np.ndarray]:
        """Aligned LR MS block: index taps or separable cubic taps, one windowed read."""
        ri, rw = self.rows.taps(i0, n_i)
        ci, cw = self.cols.taps(j0, n_j)
        y0, y1, x0, x1 = int(ri.min()), int(ri.max()) + 1, int(ci.min()), int(ci.max()) + 1
        raw, valid = self.ms.read(self.ms_ds, x0, y0, x1 - x0, y1 - y0, "MS")
        valid = valid.astype(np.float64)
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

    def close(self) -> None:
        self.pan_ds = None
        self.ms_ds = None


def check_north_up(info: RasterInfo, role: str) -> None:
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


@fresh_errors
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
    notes: list[str] = pan.notes + ms.notes
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
            check_north_up(info, role)
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
    rows = axis_map(0.0, 1.0, pan.height, 0.0, float(ratio), ms.height, ratio, exact=True)
    cols = axis_map(0.0, 1.0, pan.width, 0.0, float(ratio), ms.width, ratio, exact=True)
    assert rows is not None and cols is not None
    return rows, cols, ratio


def _georef_alignment(pan: RasterInfo, ms: RasterInfo) -> tuple[AxisMap, AxisMap, int]:
    pg, mg = pan.geotransform, ms.geotransform
    if pg[1] * mg[1] <= 0 or pg[5] * mg[5] <= 0:
        raise PansharpenError(f"MS file {ms.path} and PAN file {pan.path} have grids flipped relative to each other: "
                              "warp the MS to the PAN's orientation (gdalwarp).")
    rx, ry = mg[1] / pg[1], mg[5] / pg[5]
    ratio = int(round(rx))
    if ratio < 2 or abs(rx - ratio) > RATIO_TOL * ratio or abs(ry - ratio) > RATIO_TOL * ratio:
        raise PansharpenError(f"MS file {ms.path}: the MS/PAN pixel-size ratio is {rx:.3g} x {ry:.3g}, not an integer "
                              "2, 3, 4...: resample the MS to an integer multiple of the PAN pixel size "
                              "(gdalwarp -tr).")
    cols = axis_map(pg[0], pg[1], pan.width, mg[0], mg[1], ms.width, ratio, exact=False)
    rows = axis_map(pg[3], pg[5], pan.height, mg[3], mg[5], ms.height, ratio, exact=False)
    if rows is None or cols is None:
        raise PansharpenError(f"MS file {ms.path} and PAN file {pan.path} do not overlap (by at least one MS pixel): "
                              "give a PAN and an MS of the same area.")
    return rows, cols, ratio


def resolve_sensor(pair: PanMsPair, sensor: Optional[str | Sensor]) -> tuple[Sensor, list[str]]:
    """The given sensor, or the one the product names or its bands suggest (with a note saying so)."""
    if isinstance(sensor, Sensor):
        return sensor, []
    if sensor:
        return get_sensor(sensor), []
    found = guess_pair_sensor(pair)
    return found.sensor, [found.note()]


def guess_pair_sensor(pair: PanMsPair) -> SensorGuess:
    """The sensor guess of the pair (its candidates and reason): the MS's product first, then the PAN's."""
    return guess(read_facts(pair.ms_ds, pair.ms), read_facts(pair.pan_ds, pair.pan))
