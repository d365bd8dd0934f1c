"""Tiled fusion: a tile grid over the processed region, windowed reads with reflection padding at
the scene borders, feathered blending of overlaps, and windowed writes in tile order.

Grid. The region (H x W PAN pixels, multiples of the ratio r) is cut into n = ceil(L / tile) cores
per axis with ratio-aligned boundaries, as equal as possible. Each core is widened by the
feather overlap ``ov`` on each side (its output window); each output window by the method's
``halo`` (its input window, what ``fuse_tile`` receives). Parts of an input window outside the
region are filled by symmetric reflection (half-sample, so r x r PAN blocks stay aligned with
the MS pixels), exactly as a whole-scene run pads the scene.

Nodata. Invalid pixels (nodata, mask or alpha bands: engine.raster) take the value of the nearest
valid pixel of the same image (engine.validity.infill), PAN at PAN scale, MS at MS scale, so nothing
outside the valid range reaches the valid pixels through the halo, the upsampling or the blend. A
tile holding invalid pixels is read ``fill_reach`` wider for its in-fill, which makes the fill (and
so the output) the whole scene's on any tiling. The fit sees the in-filled sample plus its validity
and takes its statistics from valid pixels only. Output pixels are valid where PAN and MS are.

Blending. Across each core boundary the two tiles' outputs are blended with linear ramps over
the 2*ov pixels around it; the weights of overlapping tiles sum to 1 (products of 1-D ramps in
2-D). A pointwise method, or a spatial one whose support lies within its halo, therefore gives
the whole-scene result on any tiling; a method with tile-dependent output (e.g. noise) gets
seamless transitions.

Memory. Tiles are processed row by row; each output cell (a core shifted by -ov) is written as
soon as every tile touching it is done. Held at once: one tile with its halo, and the pending
overlap strip of the next tile row (2*ov rows x W x B float64) — never a whole raster.
"""

from __future__ import annotations

import inspect
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Optional, Protocol, Sequence

import numpy as np

from . import DEFAULT_TILE
from .errors import Cancelled
from .methods import FusionMethod
from .sensors import Sensor, get_sensor
from .validity import infill, infill_reach, upsample_mask

FIT_SAMPLE = 2048  # method.fit sees the whole region up to this size, else a central crop of it


class TileSource(Protocol):
    """A processed region that can be read in ratio-aligned windows (engine.raster.PanMsPair)."""

    ratio: int

    @property
    def height(self) -> int: ...

    @property
    def width(self) -> int: ...

    @property
    def bands(self) -> int: ...

    def read(self, r0: int, c0: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """pan (h, w), ms_lr (h/r, w/r, B), pan_valid (h, w), ms_valid (h/r, w/r)."""
        ...


class ArraySource:
    """A TileSource over in-memory arrays (already aligned: MS pixel (i, j) <-> PAN block (r*i, r*j))."""

    def __init__(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int):
        if pan.shape != (ms_lr.shape[0] * ratio, ms_lr.shape[1] * ratio):
            raise ValueError(f"pan {pan.shape} is not ratio {ratio} times ms_lr {ms_lr.shape[:2]}")
        self.pan = np.asarray(pan, dtype=np.float64)
        self.ms = np.asarray(ms_lr, dtype=np.float64)
        self.ratio = ratio

    height = property(lambda self: self.pan.shape[0])
    width = property(lambda self: self.pan.shape[1])
    bands = property(lambda self: self.ms.shape[2])

    def read(self, r0: int, c0: int, h: int, w: int):
        r = self.ratio
        pan = self.pan[r0:r0 + h, c0:c0 + w]
        ms = self.ms[r0 // r:(r0 + h) // r, c0 // r:(c0 + w) // r]
        return pan.copy(), ms.copy(), np.isfinite(pan), np.isfinite(ms).all(axis=-1)


# ---------------------------------------------------------------------------------- the grid


def _round_up(n: int, r: int) -> int:
    return -(-n // r) * r


def _boundaries(length: int, ratio: int, tile: int) -> list[int]:
    """Core boundaries 0 = b0 < b1 < ... < bn = length, multiples of ratio, cores <= tile."""
    n = max(1, math.ceil(length / tile))
    units = length // ratio
    return [ratio * ((k * units + n // 2) // n) for k in range(n + 1)]


@dataclass(frozen=True)
class TileGrid:
    height: int
    width: int
    ratio: int
    tile: int  # core size, PAN pixels (multiple of ratio)
    halo: int  # context on each side of the output window (multiple of ratio)
    overlap: int  # feather half-width ov: overlaps are 2*ov wide (multiple of ratio)
    row_bounds: tuple[int, ...]
    col_bounds: tuple[int, ...]

    @classmethod
    def plan(cls, height: int, width: int, ratio: int, tile: int = DEFAULT_TILE, halo: int = 0,
             overlap: Optional[int] = None) -> "TileGrid":
        """Grid for a region; overlap defaults to tile/16 (at least one MS pixel) and is capped so
        that ramps of neighbouring boundaries never meet."""
        if height % ratio or width % ratio:
            raise ValueError(f"region {height}x{width} is not a multiple of ratio {ratio}")
        tile = _round_up(max(int(tile), ratio), ratio)
        halo = _round_up(max(int(halo), 0), ratio)
        rows, cols = _boundaries(height, ratio, tile), _boundaries(width, ratio, tile)
        if overlap is None:
            overlap = ratio * max(1, math.ceil(tile / 16 / ratio))
        interior = [b - a for bounds in (rows, cols) for a, b in zip(bounds[1:-2], bounds[2:-1])]
        cap = min([tile // 2] + [c // 2 for c in interior] + [c for bounds in (rows, cols) for c in
                                                                (bounds[1] - bounds[0], bounds[-1] - bounds[-2])])
        overlap = (min(_round_up(max(int(overlap), 0), ratio), cap) // ratio) * ratio
        return cls(height, width, ratio, tile, halo, overlap, tuple(rows), tuple(cols))

    @property
    def n_tiles(self) -> int:
        return (len(self.row_bounds) - 1) * (len(self.col_bounds) - 1)


def _ramp(a0: int, a1: int, o0: int, o1: int, length: int, ov: int) -> np.ndarray:
    """1-D feather weights over the output window [o0, o1) of the core [a0, a1)."""
    w = np.ones(o1 - o0)
    if ov == 0:
        return w
    pos = np.arange(o0, o1) + 0.5
    if a0 > 0:
        w = np.minimum(w, (pos - (a0 - ov)) / (2 * ov))
    if a1 < length:
        w = np.minimum(w, ((a1 + ov) - pos) / (2 * ov))
    return w


def _windows(bounds: Sequence[int], ov: int) -> list[tuple[int, int, int, int, int, int]]:
    """Per core: (a0, a1, o0, o1, f0, f1) = core, output window, cell finalised after this tile."""
    n, length = len(bounds) - 1, bounds[-1]
    out = []
    for k in range(n):
        a0, a1 = bounds[k], bounds[k + 1]
        o0, o1 = max(0, a0 - ov), min(length, a1 + ov)
        f1 = length if k == n - 1 else a1 - ov
        out.append((a0, a1, o0, o1, o0, f1))
    return out


# ---------------------------------------------------------------------------------- reading


def read_padded(source: TileSource, r0: int, c0: int, h: int, w: int,
                fill: tuple[float, np.ndarray], reach: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Window [r0, r0+h) x [c0, c0+w) of the region (may reach outside it: symmetric reflection),
    invalid pixels in-filled from the nearest valid ones (engine.validity.infill; the constant fill
    values only where a window has no valid pixel); returns pan, ms_lr, valid (PAN and MS valid).

    ``reach`` (PAN px, a multiple of the ratio): where the window has invalid pixels it is read that
    much wider for the in-fill and cropped back, so the fill equals the whole scene's wherever it
    can reach a valid pixel within ``reach`` (see validity.infill_reach)."""
    r = source.ratio
    pan, ms, pan_valid, ms_valid = _read_reflected(source, r0, c0, h, w)
    valid = pan_valid & upsample_mask(ms_valid, r)
    if pan_valid.all() and ms_valid.all():
        return pan, ms, valid
    if reach > 0:
        pan, ms, pan_valid, ms_valid = _read_reflected(source, r0 - reach, c0 - reach, h + 2 * reach, w + 2 * reach)
    pan, ms = _apply_fill(pan, ms, pan_valid, ms_valid, fill)
    if reach > 0:
        lr = reach // r
        pan, ms = pan[reach:reach + h, reach:reach + w], ms[lr:lr + h // r, lr:lr + w // r]
    return pan, ms, valid


def _read_reflected(source: TileSource, r0: int, c0: int, h: int, w: int):
    """pan, ms, pan_valid, ms_valid of a window; parts outside the region by symmetric reflection
    (repeated for windows wider than the region)."""
    r = source.ratio
    y0, y1 = max(0, r0), min(source.height, r0 + h)
    x0, x1 = max(0, c0), min(source.width, c0 + w)
    pan, ms, pan_valid, ms_valid = source.read(y0, x0, y1 - y0, x1 - x0)
    pad = ((y0 - r0, r0 + h - y1), (x0 - c0, c0 + w - x1))
    if any(p for pp in pad for p in pp):
        lr_pad = tuple((a // r, b // r) for a, b in pad)
        pan = np.pad(pan, pad, mode="symmetric")
        pan_valid = np.pad(pan_valid, pad, mode="symmetric")
        ms = np.pad(ms, lr_pad + ((0, 0),), mode="symmetric")
        ms_valid = np.pad(ms_valid, lr_pad, mode="symmetric")
    return pan, ms, pan_valid, ms_valid


def _apply_fill(pan: np.ndarray, ms: np.ndarray, pan_valid: np.ndarray, ms_valid: np.ndarray,
                fill: tuple[float, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Invalid pixels from the nearest valid one of the same image; the fill values where none is valid."""
    pan_fill, ms_fill = fill
    return infill(pan, pan_valid, pan_fill), infill(ms, ms_valid, np.asarray(ms_fill))


def central_window(height: int, width: int, ratio: int, size: int = FIT_SAMPLE,
                   side_multiple: Optional[int] = None) -> tuple[int, int, int, int]:
    """(row, col, height, width) of the central crop of a region (height x width PAN pixels, multiples
    of the ratio): at most size x size, sides multiples of ``side_multiple`` (default the ratio),
    ratio-aligned. The whole region when it fits. The one central window of the engine: the fit
    sample, PADM's learning window and the fine-tuning crop."""
    m = side_multiple or ratio
    h, w = min(height, size) // m * m, min(width, size) // m * m
    r0, c0 = (height - h) // 2 // ratio * ratio, (width - w) // 2 // ratio * ratio
    return r0, c0, h, w


def fill_values(pan: np.ndarray, ms: np.ndarray, pan_valid: np.ndarray,
                ms_valid: np.ndarray) -> tuple[float, np.ndarray]:
    """Scene-wide values that stand in for nodata pixels: means of the valid sample pixels."""
    pan_fill = float(pan[pan_valid].mean()) if pan_valid.any() else 0.0
    ms_fill = ms[ms_valid].mean(axis=0) if ms_valid.any() else np.zeros(ms.shape[2])
    return pan_fill, ms_fill


def fit_on_sample(source: TileSource, method: FusionMethod, sensor: Sensor) -> tuple[float, np.ndarray]:
    """Call method.fit on the scene sample (see central_window); returns the nodata fill values.

    Where the sample has invalid pixels they are in-filled and the method's fit also gets
    ``valid=(pan_valid, ms_valid)`` (if it takes that keyword), to take its statistics from valid
    pixels only (engine.validity.fit_masks); a sample without invalid pixels is fitted as before."""
    r0, c0, h, w = central_window(source.height, source.width, source.ratio)
    pan, ms, pan_valid, ms_valid = source.read(r0, c0, h, w)
    fill = fill_values(pan, ms, pan_valid, ms_valid)
    if pan_valid.all() and ms_valid.all():
        method.fit(pan, ms, source.ratio, sensor)
        return fill
    pan, ms = _apply_fill(pan, ms, pan_valid, ms_valid, fill)
    if _takes_valid(method.fit):
        method.fit(pan, ms, source.ratio, sensor, valid=(pan_valid, ms_valid))
    else:
        method.fit(pan, ms, source.ratio, sensor)
    return fill


def _takes_valid(fn: Callable) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "valid" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def fill_reach(grid: "TileGrid") -> int:
    """Extra read width (PAN px per side) for in-filling tiles that hold invalid pixels."""
    return _round_up(infill_reach(grid.halo), grid.ratio) if grid.halo else 0


# ---------------------------------------------------------------------------------- fusing


WriteFn = Callable[[int, int, np.ndarray, np.ndarray], None]  # (row, col, values (h,w,B), valid (h,w))


def fuse_tiles(source: TileSource, method: FusionMethod, grid: TileGrid, write: WriteFn,
               fill: tuple[float, np.ndarray], progress: Optional[Callable[[float, int], None]] = None,
               is_cancelled: Optional[Callable[[], bool]] = None, out_bands: Optional[int] = None,
               tile_rows: Optional[tuple[int, int]] = None) -> None:
    """Fuse every tile of the grid (method already fitted) and write finished cells in tile order.

    ``progress(done, total)``: tiles written; fractional while a method that reports from inside a tile
    (a ``tile_progress`` attribute: HFreqDiff, per network call) works on one. ``is_cancelled`` is asked
    before each tile and at each of those reports (Cancelled is raised).
    ``out_bands``: the number of bands fuse_tile returns, when not the MS band count (e.g. mean and spread).
    ``tile_rows`` (i0, i1): only the cells of tile rows i0 .. i1-1 (PAN rows row_span(grid, i0, i1)),
    for one chunk of a scene split across processes. Tile row i0-1 is computed too (its overlap strip
    blends into row i0) but not written, so the chunks' cells equal those of one whole run."""
    r, hal, ov = grid.ratio, grid.halo, grid.overlap
    rows, cols = _windows(grid.row_bounds, ov), _windows(grid.col_bounds, ov)
    bands = out_bands or source.bands
    i0, i1 = tile_rows or (0, len(rows))
    context = {"context": hal} if getattr(method, "context_aware", False) else {}  # the halo is discarded
    first = max(0, i0 - 1)
    reach = fill_reach(grid)
    done, total = 0, (i1 - i0) * (len(cols))
    prev_strip: Optional[np.ndarray] = None  # rows [f0, f0 + 2ov) of this tile row, from the previous
    for i, (a0, a1, o0, o1, f0, f1) in enumerate(rows):
        if not first <= i < i1:
            continue
        writes = i >= i0
        last_row = i == len(rows) - 1
        next_strip = None if last_row else np.zeros((o1 - f1, grid.width, bands))
        wy = _ramp(a0, a1, o0, o1, grid.height, ov)
        hcarry: Optional[np.ndarray] = None  # left columns of this cell, from the previous tile
        for j, (b0, b1, p0, p1, g0, g1) in enumerate(cols):
            if is_cancelled is not None and is_cancelled():
                raise Cancelled()
            pan, ms, valid = read_padded(source, o0 - hal, p0 - hal, o1 - o0 + 2 * hal, p1 - p0 + 2 * hal, fill,
                                         reach)
            with _reporting(method, progress if writes else None, is_cancelled, done, total):
                fused = np.asarray(method.fuse_tile(pan, ms, r, (o0 - hal, p0 - hal), **context), dtype=np.float64)
            if fused.shape != pan.shape + (bands,):
                raise ValueError(f"{method.name}.fuse_tile returned {fused.shape}, expected {pan.shape + (bands,)}")
            inner = (slice(hal, hal + o1 - o0), slice(hal, hal + p1 - p0))
            weighted = fused[inner] * (wy[:, None] * _ramp(b0, b1, p0, p1, grid.width, ov)[None, :])[..., None]
            n_rows, n_cols = f1 - o0, g1 - p0
            if next_strip is not None:
                next_strip[:, p0:p1] += weighted[n_rows:]
            cell = weighted[:n_rows, :n_cols].copy()
            if hcarry is not None:
                cell[:, :hcarry.shape[1]] += hcarry
            if prev_strip is not None:
                cell[:prev_strip.shape[0]] += prev_strip[:, g0:g1]
            hcarry = weighted[:n_rows, n_cols:].copy() if j < len(cols) - 1 else None
            if writes:
                write(f0, g0, cell, valid[inner][:n_rows, :n_cols])
                done += 1
                if progress is not None:
                    progress(done, total)
        prev_strip = next_strip


SUB_TILE_REPORT_S = 0.5  # least time between two progress reports from inside one tile


@contextmanager
def _reporting(method: FusionMethod, progress: Optional[Callable[[float, int], None]],
               is_cancelled: Optional[Callable[[], bool]], done: int, total: int):
    """While one tile is fused: the method's ``tile_progress`` hook (when it has one) reports
    ``done`` + the fraction of the tile it gives, and raises Cancelled once ``is_cancelled()``."""
    if not hasattr(method, "tile_progress") or (progress is None and is_cancelled is None):
        yield
        return
    last = [0.0]  # the first report passes

    def within(fraction: float) -> None:
        if is_cancelled is not None and is_cancelled():
            raise Cancelled()
        now = time.monotonic()
        if progress is not None and now - last[0] >= SUB_TILE_REPORT_S:
            last[0] = now
            progress(done + min(max(fraction, 0.0), 1.0), total)

    method.tile_progress = within
    try:
        yield
    finally:
        method.tile_progress = None


def output_spans(bounds: Sequence[int], overlap: int) -> list[tuple[int, int]]:
    """Per tile along one axis: the [start, stop) of the window it outputs (its core plus overlaps)."""
    return [(o0, o1) for _, _, o0, o1, _, _ in _windows(bounds, overlap)]


def row_span(grid: TileGrid, i0: int, i1: int) -> tuple[int, int]:
    """PAN rows [start, stop) whose cells tile rows i0 .. i1-1 write (fuse_tiles' tile_rows)."""
    rows = _windows(grid.row_bounds, grid.overlap)
    return rows[i0][4], rows[i1 - 1][5]


def n_tile_rows(grid: TileGrid) -> int:
    return len(grid.row_bounds) - 1


def grid_for(method: FusionMethod, height: int, width: int, bands: int, ratio: int, tile: int,
             overlap: Optional[int] = None) -> TileGrid:
    """The method's tile grid: ``tile`` shrunk where the method bounds its memory (``fitted_tile``),
    and no feathered overlap for a method whose tiles equal the whole scene (``seamless``)."""
    fit = getattr(method, "fitted_tile", None)
    tile = int(fit(tile, bands, ratio)) if fit is not None else int(tile)
    if overlap is None and getattr(method, "seamless", False):
        overlap = 0
    return TileGrid.plan(height, width, ratio, tile, method.halo(ratio), overlap)


def fuse_array(pan: np.ndarray, ms_lr: np.ndarray, method: FusionMethod, ratio: int,
               sensor: Optional[Sensor] = None, tile: int = DEFAULT_TILE, overlap: Optional[int] = None,
               fit: bool = True) -> np.ndarray:
    """Tiled fusion of aligned in-memory arrays (the same code path as files): (H, W, B) float64."""
    source = ArraySource(pan, ms_lr, ratio)
    if fit:
        fill = fit_on_sample(source, method, sensor or get_sensor(None))
    else:
        fill = fill_values(*source.read(0, 0, source.height, source.width))
    grid = grid_for(method, source.height, source.width, source.bands, ratio, tile, overlap)
    out = np.zeros((source.height, source.width, source.bands))

    def write(r0: int, c0: int, values: np.ndarray, valid: np.ndarray) -> None:
        out[r0:r0 + values.shape[0], c0:c0 + values.shape[1]] = np.where(valid[..., None], values, np.nan)

    fuse_tiles(source, method, grid, write, fill)
    return out
