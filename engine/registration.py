"""PAN/MS misregistration check: the global sub-pixel shift between the MS and the PAN, measured
before fusing (no torch, well under a second on the fit sample).

What is measured. PADM's stage-0 equation (:mod:`.padm.intensity`) without its learned kernel:
the PAN, degraded to the MS grid by the sensor's MTF guess (the profile operator
:func:`.padm.profile.degrade_band` with :func:`.padm.profile.mtf_guess_kernel`, so the PAN is seen
as the MS sensor would see it), should equal a linear combination of the MS bands (the intensity,
weights by least squares) — at the right shift. Both sides are low-passed (Gaussian, 1 MS pixel,
as PADM weights its residual: the aliased high frequencies are what interpolation gets wrong), an
integer search over +-2 MS pixels starts a Gauss-Newton refinement that solves the weights, the
bias and the shift update together (variable projection, as PADM does; here linearised, so no
torch is needed).

Convention (PADM's, :mod:`.padm.profile`): ``dx, dy`` in MS (low-resolution) pixels, x right,
y down; the MS pixel i holds the scene at PAN coordinate r*i + (r-1)/2 + r*d. The reported shift
is relative to where the geotransforms put the MS (block centres; on centre-aligned grids such as
Landsat's, PAN pixel r*i + r//2): a correctly registered pair measures ~0 in either geometry.
PADM's ``degradation`` command learns per-band shifts in the same convention, relative to the
block centre.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import ndimage

from .padm.profile import degrade_band, mtf_guess_kernel
from .sensors import Sensor

# Warn above 0.2 MS pixel (the length of (dx, dy)): where HFreqDiff loses 0.01 Q2n or more and MTF-GLP-HPM
# nearly as much on the shared scenes' Wald pairs (README, "Misregistration check").
WARN_LR_PX = 0.2
LOWPASS_SIGMA = 1.0  # MS pixels; PADM's intensity residual uses the same low-pass (padm.intensity)
SEARCH = 2  # integer search range, MS pixels each way
MIN_SIDE = 24  # MS pixels: smaller samples are not measured
MIN_CORRELATION = 0.5  # below it (a flat or unrelated pair) the shift means nothing: not reported
MEASURE_SIDE = 1024  # PAN pixels: central window of the fit sample that is measured
METADATA_KEY = "misregistration"  # -> PADM_MISREGISTRATION


@dataclass(frozen=True)
class Misregistration:
    """The measured PAN/MS shift (see the module docstring for the convention)."""

    dx: float  # MS pixels, x right
    dy: float  # MS pixels, y down
    ratio: int
    correlation: float  # PAN low-pass vs fitted MS intensity at the measured shift
    correlation_unshifted: float  # the same at zero shift
    pixels: int  # MS pixels used
    # where the fusion's MS upsampling (interp23tap, phase r*i + r//2) puts the MS, relative to its
    # georeferenced position: 1/(2r) MS px on block-aligned grids of even ratio, 0 on centre-aligned ones
    upsampling_phase: tuple[float, float] = (0.0, 0.0)

    @property
    def magnitude(self) -> float:
        return float(np.hypot(self.dx, self.dy))

    def exceeds(self, threshold: float = WARN_LR_PX) -> bool:
        return self.magnitude > threshold

    def as_record(self) -> dict:
        """The PADM_MISREGISTRATION metadata record (JSON)."""
        return {"dx_ms_px": round(self.dx, 4), "dy_ms_px": round(self.dy, 4),
                "dx_pan_px": round(self.dx * self.ratio, 3), "dy_pan_px": round(self.dy * self.ratio, 3),
                "magnitude_ms_px": round(self.magnitude, 4), "correlation": round(self.correlation, 4),
                "correlation_unshifted": round(self.correlation_unshifted, 4), "pixels": self.pixels,
                "upsampling_phase_ms_px": [round(v, 4) for v in self.upsampling_phase],
                "warn_above_ms_px": WARN_LR_PX,
                "convention": "MS content relative to its georeferenced position, x right, y down"}

    def note(self) -> str:
        text = (f"PAN/MS misregistration measured: dx {self.dx:+.3f}, dy {self.dy:+.3f} MS px "
                f"({self.dx * self.ratio:+.2f}, {self.dy * self.ratio:+.2f} PAN px; correlation "
                f"{self.correlation:.4f})")
        if not self.exceeds():
            return text
        return (f"warning: {text} exceeds {WARN_LR_PX} MS px: the fused image will show colour fringes along "
                "edges; co-register the MS to the PAN first (move the MS geotransform's origin by the measured "
                "dx, dy MS pixels), or let the 'finetune' command learn and apply the shift")


def _lowpass(img: np.ndarray) -> np.ndarray:
    sigma = (LOWPASS_SIGMA, LOWPASS_SIGMA) + (0,) * (img.ndim - 2)
    return ndimage.gaussian_filter(img, sigma, mode="nearest")


def _sample(img: np.ndarray, d: np.ndarray) -> np.ndarray:
    """img(i + dy, j + dx) for every pixel, cubic spline, edges repeated."""
    return ndimage.shift(img, (-d[1], -d[0]), order=3, mode="nearest", prefilter=True)


def _fit(target: np.ndarray, design: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    return coef, target - design @ coef


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a @ b) / max(np.sqrt((a @ a) * (b @ b)), 1e-300))


def measure_shift(pan: np.ndarray, ms: np.ndarray, ratio: int, sensor: Sensor,
                  nominal: tuple[float, float] = (0.0, 0.0), valid: Optional[np.ndarray] = None,
                  iterations: int = 12) -> Optional[Misregistration]:
    """The shift of ``ms`` (h, w, B) against ``pan`` (h*r, w*r), minus ``nominal`` (the shift the
    grids' geometry implies, MS px, profile convention); None when the sample is too small, or
    flat or unrelated (correlation under MIN_CORRELATION). ``valid`` (h, w): MS pixels whose block is fully valid (default: all)."""
    h, w, n_bands = ms.shape
    if min(h, w) < MIN_SIDE:
        return None
    if valid is not None and not valid.all():  # no-data: the valid means, then masked out below
        if not valid.any():
            return None
        ms = np.where(valid[..., None], ms, ms[valid].mean(axis=0))
        pan_valid = np.repeat(np.repeat(valid, ratio, axis=0), ratio, axis=1)
        pan = np.where(pan_valid, pan[: h * ratio, : w * ratio], pan[: h * ratio, : w * ratio][pan_valid].mean())
    gains = sensor.gains(n_bands)
    kernel = mtf_guess_kernel(float(np.mean(gains)), ratio)
    p = _lowpass(degrade_band(pan[: h * ratio, : w * ratio], kernel, ratio))
    x = _lowpass(np.asarray(ms, dtype=np.float64))
    margin = SEARCH + 5  # the integer search, the kernel's half-width and the low-pass's reach
    inner = np.zeros((h, w), bool)
    inner[margin:-margin, margin:-margin] = True
    if valid is not None:
        inner &= ndimage.binary_erosion(valid, iterations=margin, border_value=0)
    if inner.sum() < (MIN_SIDE - 2 * margin) ** 2:
        return None
    scale = float(np.std(p[inner])) or 1.0
    p, x = p / scale, x / scale
    design = np.concatenate([x[inner], np.ones((int(inner.sum()), 1))], axis=1)

    def residual_at(d: np.ndarray) -> float:
        return float(np.mean(_fit(_sample(p, d)[inner], design)[1] ** 2))

    # integer start: the best of the (2*SEARCH+1)^2 whole-pixel shifts
    starts = [np.array([dx, dy], float) for dy in range(-SEARCH, SEARCH + 1) for dx in range(-SEARCH, SEARCH + 1)]
    d = min(starts, key=residual_at)
    for _ in range(iterations):
        pd = _sample(p, d)
        gy, gx = np.gradient(pd)
        # pd + gx*ddx + gy*ddy = X w + c  ->  unknowns [w, c, -ddx, -ddy]
        a = np.concatenate([design, gx[inner][:, None], gy[inner][:, None]], axis=1)
        coef, _ = _fit(pd[inner], a)
        step = -coef[-2:]
        step = np.clip(step, -0.5, 0.5)
        d = np.clip(d + step, -SEARCH - 0.5, SEARCH + 0.5)
        if np.abs(step).max() < 1e-4:
            break
    pd = _sample(p, d)[inner]
    coef, _ = _fit(pd, design)
    corr = _corr(pd, design @ coef) if np.isfinite(coef).all() and np.std(pd) > 0 else 0.0
    if corr < MIN_CORRELATION:
        return None
    p0 = p[inner]
    corr0 = _corr(p0, design @ _fit(p0, design)[0])
    phase = (ratio // 2 - (ratio - 1) / 2) / ratio  # interp23tap's LR sample vs the block centre, MS px
    return Misregistration(float(d[0] - nominal[0]), float(d[1] - nominal[1]), int(ratio), corr, corr0,
                           int(inner.sum()), (phase - nominal[0], phase - nominal[1]))


def measure_pair(pair, sensor: Sensor, size: int = MEASURE_SIDE) -> Optional[Misregistration]:
    """The misregistration of an open PAN/MS pair (engine.raster.pair.PanMsPair), measured on the
    central window (at most ``size`` PAN pixels a side) of its processed region."""
    from .tiling import central_window

    r = pair.ratio
    r0, c0, h, w = central_window(pair.height, pair.width, r, size)
    if min(h, w) < MIN_SIDE * r:
        return None
    pan, ms, pan_valid, ms_valid = pair.read(r0, c0, h, w)
    valid = ms_valid & pan_valid.reshape(h // r, r, w // r, r).all(axis=(1, 3))
    # On centre-aligned grids the MS sample sits on PAN pixel r*i + r//2, half a PAN pixel after the
    # block centre (for even r): that is where the geotransforms put it, so it is the zero.
    nominal = tuple(0.5 / r if axis.centred else 0.0 for axis in (pair.cols, pair.rows))
    return measure_shift(np.asarray(pan, np.float64), np.asarray(ms, np.float64), r, sensor, nominal, valid)


def misregistration_metadata(m: Optional[Misregistration]) -> dict:
    """{"misregistration": record} for provenance_metadata (empty when not measured)."""
    return {METADATA_KEY: m.as_record()} if m is not None else {}


def read_misregistration(metadata: dict) -> Optional[dict]:
    """The record back from an output's metadata items (PADM_MISREGISTRATION), or None."""
    text = metadata.get(f"PADM_{METADATA_KEY.upper()}")
    return json.loads(text) if text else None
