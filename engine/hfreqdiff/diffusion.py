"""Cosine noise schedule, position-keyed Gaussian noise and the DDIM x0 sampler (numpy only).

In the spirit of k-diffusion the sampler is a plain function over a denoiser callable
``denoiser(x_t, t, cond) -> x0``; the network knows nothing of the schedule, and the same sampler
drives the torch module and the ONNX Runtime session. Time ``t`` is continuous in [0, 1]
(1 = pure noise). The schedule helpers work on numpy arrays and torch tensors alike.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence

import numpy as np

Denoiser = Callable[[np.ndarray, float, Any], np.ndarray]

_COSINE_S = 0.008  # Nichol & Dhariwal offset


def alpha_bar(t):
    """Cosine schedule: signal fraction abar(t) = cos^2(((t+s)/(1+s)) pi/2) / cos^2(s/(1+s) pi/2).

    abar(0) = 1, abar(1) = 0. Accepts floats, numpy arrays or torch tensors.
    """
    f0 = math.cos(_COSINE_S / (1 + _COSINE_S) * math.pi / 2) ** 2
    lib = np if isinstance(t, (float, int, np.ndarray, np.generic)) else _torch()
    ft = lib.cos((t + _COSINE_S) / (1 + _COSINE_S) * (math.pi / 2)) ** 2
    return lib.clip(ft / f0, 0.0, 1.0)


def _torch():
    import torch

    return torch


def q_sample(x0, noise, t):
    """Forward process x_t = sqrt(abar) x0 + sqrt(1 - abar) noise (t broadcast against x0)."""
    ab = alpha_bar(t)
    return ab ** 0.5 * x0 + (1 - ab) ** 0.5 * noise


# --- counter-based noise ---------------------------------------------------------------------

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on uint64 arrays (wrap-around arithmetic)."""
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _u64(values) -> np.ndarray:
    """Signed integers -> uint64 (two's complement), so negative coordinates hash too."""
    return np.asarray(values, dtype=np.int64).view(np.uint64)


def position_noise(seed: int, bands: Sequence[int], rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Standard normal noise that is a pure function of (seed, band, global row, global col).

    ``rows``/``cols`` are 1-D integer arrays of global PAN coordinates (may be negative); returns
    float32 (len(bands), len(rows), len(cols)). A pixel gets the same value whatever tile holds it.
    """
    key = _splitmix64(_u64([seed]))
    rows32 = (_u64(rows) & np.uint64(0xFFFFFFFF)) << np.uint64(32)
    cols32 = _u64(cols) & np.uint64(0xFFFFFFFF)
    pos = rows32[:, None] | cols32[None, :]  # (H, W) unique per pixel
    out = np.empty((len(bands), len(rows), len(cols)), np.float32)
    for i, band in enumerate(bands):
        kb = _splitmix64(key ^ _splitmix64(_u64([band])))
        h1 = _splitmix64(pos ^ kb)
        h2 = _splitmix64(h1 ^ np.uint64(0xD1B54A32D192ED03))
        # 53-bit uniforms; u1 in (0, 1] so log is finite.
        u1 = ((h1 >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0 ** -53
        u2 = (h2 >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
        out[i] = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)  # Box-Muller
    return out


def tile_noise(seed: int, n_bands: int, shape: tuple[int, int], origin: tuple[int, int]) -> np.ndarray:
    """Noise (1, B, H, W) float32 for a tile whose top-left pixel is at global ``origin``."""
    rows = np.arange(shape[0]) + int(origin[0])
    cols = np.arange(shape[1]) + int(origin[1])
    return position_noise(seed, range(n_bands), rows, cols)[None]


# --- sampler ---------------------------------------------------------------------------------

def ddim_timesteps(steps: int) -> np.ndarray:
    """steps + 1 times from 1 (pure noise) down to 0, evenly spaced."""
    if steps < 1:
        raise ValueError("DDIM needs at least one step")
    return np.linspace(1.0, 0.0, steps + 1)


def ddim_sample(denoiser: Denoiser, x_init: np.ndarray, cond: Any, steps: int,
                callback: Optional[Callable[[int, int], None]] = None) -> np.ndarray:
    """Deterministic DDIM (eta = 0) with an x0-predicting denoiser.

    ``x_init`` is the noise at t = 1. At each step the x0 estimate and the implied noise
    eps = (x_t - sqrt(abar) x0) / sqrt(1 - abar) are re-combined at the next, lower t; the last
    step lands on t = 0 where x = x0 estimate. Returns the final x0 (same shape as ``x_init``).
    """
    ts = ddim_timesteps(steps)
    x = np.asarray(x_init, dtype=np.float32)
    x0 = x
    for i in range(steps):
        t, t_next = float(ts[i]), float(ts[i + 1])
        x0 = np.asarray(denoiser(x, t, cond), dtype=np.float32)
        ab, ab_next = float(alpha_bar(t)), float(alpha_bar(t_next))
        eps = (x - math.sqrt(ab) * x0) / math.sqrt(max(1.0 - ab, 1e-12))
        x = (math.sqrt(ab_next) * x0 + math.sqrt(max(1.0 - ab_next, 0.0)) * eps).astype(np.float32)
        if callback is not None:
            callback(i + 1, steps)
    return x
