"""Alignment of the MS onto the PAN/ratio grid along one axis: by index where the MS positions
are integers (or centre-aligned grids), else a separable cubic convolution (Keys, a = -0.5)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

INT_TOL = 1e-3  # MS positions within this of an integer (MS pixels) are taken by index


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


def axis_map(pan_origin: float, pan_step: float, pan_size: int, ms_origin: float, ms_step: float,
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
                if abs(p - round(p)) < INT_TOL:
                    start, centred, found = cand, is_centred, True
                    break
            if found:
                break
    length = int(math.floor((last + 1e-6 - start) / ratio)) * ratio
    if length < ratio:
        return None
    p0 = pos0(start, phases[1][0] if centred else phases[0][0])
    if q * ratio == 1.0 and abs(p0 - round(p0)) < INT_TOL:
        p0 = float(round(p0))
    return AxisMap(start, length, p0, q * ratio, ms_size, centred and ratio % 2 == 0)
