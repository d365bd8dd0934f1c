"""Bounded network memory: the network runs on windows of at most NETWORK_BAND_PIXELS band-pixels.

ONNX Runtime's peak memory grows with bands x window area (8 bands x 640 x 640 on the CPU: 2.1 GB
with its NCHWc layout transform, 1.6 GB without, as the engine runs it). A call on a larger array is split into pieces on the network's
4-pixel grid, each run with the network's context (NET_RADIUS) around it and stitched: the same x0
as one call to float32 rounding (test). The tiler's tile is shrunk to the piece size (``fitted_tile``) so tiles do not
waste work on piece overlaps.
"""

from __future__ import annotations

import math

import numpy as np

GRID = 4  # the network works on a grid of 4 PAN pixels (two stride-2 levels)
NET_REACH = 64  # receptive-field radius of the network in PAN pixels, worst grid phase (a test measures it)
# The context the network is given around what is kept (PAN px): beyond 40 px the inputs' influence on
# x0 is below 3e-5 (x0 units; at most 0.005 DN) on the WV3, Zhengzhou, Landsat 8 and GeoEye-1 scenes
# with the shipped model, against 1e-3 at 32 px (measured on 512 px crops of those scenes; the tests
# check the tiles and pieces it gives on a synthetic scene). The full reach (64) would cost 8-band
# scenes a third more network work.
NET_RADIUS = 40
# Band-pixels per network call: a default run peaked at 1.03 GB (2048^2 4-band, 1024^2 8-band) to
# 1.27 GB (8192^2 4-band) in lab/reports/presets.md; 0.71 GiB for 768^2 8-band (tests/test_network_pieces.py).
NETWORK_BAND_PIXELS = 1_680_000


def round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def piece_size(bands: int, budget: int = NETWORK_BAND_PIXELS) -> int:
    """Largest output side (multiple of GRID) whose window with the receptive field fits the budget."""
    side = math.isqrt(max(1, budget // max(1, bands)))
    return max(GRID, (side - 2 * NET_RADIUS) // GRID * GRID)


def spans(length: int, size: int) -> list[tuple[int, int]]:
    """Output spans covering [0, length): the core [R, length - R) cut into near-equal parts of at
    most ``size`` on the GRID, the outer ones extended to the edges (the receptive-field ring is
    computed once, with the piece next to it)."""
    core = length - 2 * NET_RADIUS
    if core <= size:
        return [(0, length)]
    n = -(-core // size)
    cuts = [NET_RADIUS + round_up(core * k // n, GRID) for k in range(1, n)]
    bounds = [0, *cuts, length]
    return list(zip(bounds[:-1], bounds[1:]))


def windows(length: int, size: int) -> list[tuple[int, int, int, int]]:
    """(window start, window end, output start, output end) of each piece along one axis."""
    return [(max(0, a - NET_RADIUS), min(length, b + NET_RADIUS), a, b) for a, b in spans(length, size)]


def network_area(height: int, width: int, size: int) -> int:
    """Pixels the network processes for a height x width array cut into pieces of ``size``."""
    return sum(e - s for s, e, _, _ in windows(height, size)) * sum(e - s for s, e, _, _ in windows(width, size))


def fitted_tile(tile: int, bands: int, ratio: int, budget: int = NETWORK_BAND_PIXELS) -> int:
    """The tile side to use for ``tile`` asked: one piece (a multiple of the ratio and GRID), less
    two grid cells of slack for the padding onto the network's grid at a scene's edge."""
    step = ratio * GRID // math.gcd(ratio, GRID)
    fit = max(step, (piece_size(bands, budget) - 2 * GRID) // step * step)
    return min(int(tile), fit)


def pieced(denoiser, budget: int = NETWORK_BAND_PIXELS):
    """The denoiser called on pieces of at most ``budget`` band-pixels, x0 stitched. Arrays are
    (N, B, H, W) / (N, B, C, H, W) / (N, C, H, W) on the network's global grid (H, W multiples of
    GRID and the top-left pixel on the grid)."""

    def denoise(x_t: np.ndarray, t: float, cond: dict) -> np.ndarray:
        n, b, h, w = x_t.shape
        size = piece_size(b, budget)
        rows, cols = windows(h, size), windows(w, size)
        if len(rows) == 1 and len(cols) == 1:
            return denoiser(x_t, t, cond)
        out = np.empty(x_t.shape, np.float32)
        for r0, r1, a0, a1 in rows:
            for c0, c1, b0, b1 in cols:
                win = (slice(r0, r1), slice(c0, c1))
                part = {**cond, "band": np.ascontiguousarray(cond["band"][..., win[0], win[1]]),
                        "pan": np.ascontiguousarray(cond["pan"][..., win[0], win[1]])}
                x0 = denoiser(np.ascontiguousarray(x_t[..., win[0], win[1]]), t, part)
                out[..., a0:a1, b0:b1] = x0[..., a0 - r0:a1 - r0, b0 - c0:b1 - c0]
        return out

    return denoise
