"""The scene degradation profile (what PADM learns) and its numpy operators.

Conventions (``ratio`` = r, kernel size k with k ≡ r (mod 2), bands last, digital numbers):

* PAN pixel p (0-based) has its centre at coordinate p. MS pixel i covers PAN pixels r*i .. r*i+r-1
  (the engine's aligned grid) and is centred on PAN coordinate r*i + (r-1)/2 when its shift is zero.
* ``kernels[b]`` is a k x k correlation kernel sampled at PAN pixels (non-negative, sum 1). With shift
  (dx, dy) = (0, 0) the decimated sample is

      LRMS_b[i, j] = sum_{u,v} K_b[u, v] * HRMS_b[r*i + (r-k)/2 + u, r*j + (r-k)/2 + v]

  so the kernel's centre, index (k-1)/2, falls on PAN coordinate r*i + (r-1)/2: the centre of the
  MS pixel's r x r PAN block. (This is why k has the parity of r: an even kernel for an even ratio.
  The toolbox's ``decimate`` keeps PAN pixel r*i + r//2, half a PAN pixel off the block centre for
  even r; in this convention that is a shift of +1/(2r) low-resolution pixel in x and y.)
* ``shifts[b] = [dx, dy]`` in low-resolution pixels, x right (columns), y down (rows): the sample is
  taken at PAN coordinate (r*i + (r-1)/2 + r*dy, r*j + (r-1)/2 + r*dx), i.e. the kernel is moved by
  (r*dx, r*dy) PAN pixels, by an exact Fourier (band-limited) shift of the kernel on a support padded
  by ``shift_pad(r)`` pixels each side. Shifts are limited to |d| <= 1 low-resolution pixel.
* Borders: PAN pixels outside the image repeat the edge pixel (replicate padding).
* ``pan_kernel`` degrades the PAN to the MS grid the same way (shift zero): the PAN as the MS
  sensor would see it, used to make reduced-scale training pairs.
* Spectral response: PAN ≈ sum_b spectral_weights[b] * HRMS_b + spectral_bias (at PAN resolution).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import signal

from ..errors import PansharpenError

PROFILE_VERSION = "padm-profile-1"
MAX_SHIFT = 1.0  # low-resolution pixels


def kernel_size_for(ratio: int) -> int:
    """Default kernel size: 4*ratio for even ratios, 4*ratio+1 for odd (parity of the ratio)."""
    return 4 * ratio + (ratio % 2)


def shift_pad(ratio: int) -> int:
    """Support padding (PAN pixels each side) that holds a kernel moved by up to MAX_SHIFT LR pixel."""
    return int(np.ceil(MAX_SHIFT * ratio)) + 2


def check_kernel_size(k: int, ratio: int) -> None:
    if k < ratio or (k - ratio) % 2:
        raise PansharpenError(f"Kernel size {k} does not suit ratio {ratio}: use a size >= the ratio with the "
                              "same parity (e.g. 4*ratio).")


def shifted_kernel(kernel: np.ndarray, dx: float, dy: float, ratio: int) -> np.ndarray:
    """The k x k kernel padded by shift_pad(ratio) and moved by (ratio*dx, ratio*dy) PAN pixels
    (x right, y down) by a Fourier phase ramp: (k+2P) x (k+2P)."""
    pad = shift_pad(ratio)
    kp = np.pad(np.asarray(kernel, dtype=np.float64), pad)
    n = kp.shape[0]
    f = np.fft.fftfreq(n)
    ramp = np.exp(-2j * np.pi * (f[:, None] * ratio * dy + f[None, :] * ratio * dx))
    return np.fft.ifft2(np.fft.fft2(kp) * ramp).real


def degrade_band(band: np.ndarray, kernel: np.ndarray, ratio: int, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """One band (H, W), H and W multiples of ratio, to (H/r, W/r) by the convention above."""
    band = np.asarray(band, dtype=np.float64)
    k = kernel.shape[0]
    check_kernel_size(k, ratio)
    if band.shape[0] % ratio or band.shape[1] % ratio:
        raise ValueError(f"image size {band.shape} is not a multiple of the ratio {ratio}")
    keff = shifted_kernel(kernel, dx, dy, ratio)
    lo = shift_pad(ratio) + (k - ratio) // 2
    padded = np.pad(band, lo, mode="edge")
    return signal.fftconvolve(padded, keff[::-1, ::-1], mode="valid")[::ratio, ::ratio]


@dataclass
class DegradationProfile:
    """A learned (or guessed) degradation of one scene, in the input's digital numbers."""

    ratio: int
    kernels: np.ndarray  # (B, k, k)
    pan_kernel: np.ndarray  # (k, k)
    shifts: np.ndarray  # (B, 2): [dx, dy] in low-resolution pixels
    spectral_weights: np.ndarray  # (B,)
    spectral_bias: float
    sensor: str = "none"
    log: list = field(default_factory=list)
    version: str = PROFILE_VERSION

    @property
    def n_bands(self) -> int:
        return int(self.kernels.shape[0])

    def degrade_ms(self, hrms: np.ndarray) -> np.ndarray:
        """HRMS (H, W, B) -> LRMS (H/r, W/r, B): per-band kernel, shift and decimation."""
        hrms = np.asarray(hrms, dtype=np.float64)
        if hrms.ndim != 3 or hrms.shape[2] != self.n_bands:
            raise ValueError(f"expected an (H, W, {self.n_bands}) image, got {hrms.shape}")
        return np.stack([degrade_band(hrms[:, :, b], self.kernels[b], self.ratio, *self.shifts[b])
                         for b in range(self.n_bands)], axis=2)

    def degrade_pan(self, pan: np.ndarray) -> np.ndarray:
        """PAN (H, W) -> (H/r, W/r) with the PAN kernel (no shift)."""
        return degrade_band(pan, self.pan_kernel, self.ratio)

    def spectral_response(self, hrms: np.ndarray) -> np.ndarray:
        """sum_b w_b * HRMS_b + c: the PAN the spectral model predicts."""
        return np.asarray(hrms, dtype=np.float64) @ self.spectral_weights + self.spectral_bias

    def to_dict(self) -> dict:
        return {"ratio": int(self.ratio),
                "kernels": [np.round(k, 8).tolist() for k in self.kernels],
                "pan_kernel": np.round(self.pan_kernel, 8).tolist(),
                "shifts": [[float(dx), float(dy)] for dx, dy in self.shifts],
                "spectral_weights": [float(w) for w in self.spectral_weights],
                "spectral_bias": float(self.spectral_bias),
                "sensor": self.sensor, "version": self.version, "log": self.log}

    @classmethod
    def from_dict(cls, d: dict, source: str = "profile") -> "DegradationProfile":
        try:
            ratio = int(d["ratio"])
            kernels = np.asarray(d["kernels"], dtype=np.float64)
            pan_kernel = np.asarray(d["pan_kernel"], dtype=np.float64)
            shifts = np.asarray(d["shifts"], dtype=np.float64)
            weights = np.asarray(d["spectral_weights"], dtype=np.float64)
            bias = float(d["spectral_bias"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PansharpenError(f"{source} is not a PADM degradation profile ({exc}): write it with the "
                                  "'degradation' command.") from exc
        n = kernels.shape[0] if kernels.ndim == 3 else -1
        k = kernels.shape[1] if kernels.ndim == 3 else -1
        problems = []
        if ratio < 1:
            problems.append("ratio < 1")
        if kernels.ndim != 3 or kernels.shape[1] != kernels.shape[2]:
            problems.append("kernels are not B square arrays")
        elif k < ratio or (k - ratio) % 2:
            problems.append(f"kernel size {k} does not have the parity of the ratio {ratio}")
        if pan_kernel.shape != (k, k):
            problems.append("pan_kernel size differs from the band kernels")
        if shifts.shape != (n, 2) or weights.shape != (n,):
            problems.append("shifts/spectral_weights do not match the number of kernels")
        elif np.any(np.abs(shifts) > MAX_SHIFT + 1e-9):
            problems.append(f"a shift exceeds {MAX_SHIFT} low-resolution pixel")
        for name, kk in (("kernels", kernels), ("pan_kernel", pan_kernel)):
            if kk.size and (np.any(kk < -1e-9) or not np.all(np.isfinite(kk))):
                problems.append(f"{name} has negative or non-finite values")
        if problems:
            raise PansharpenError(f"{source} is not a valid PADM degradation profile ({'; '.join(problems)}): "
                                  "write it again with the 'degradation' command.")
        return cls(ratio, kernels, pan_kernel, shifts, weights, bias, str(d.get("sensor", "none")),
                   list(d.get("log", [])), str(d.get("version", PROFILE_VERSION)))


def write_profile(path: str | Path, profile: DegradationProfile) -> Path:
    """Write the profile as JSON (to a temporary name, renamed when complete)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(profile.to_dict(), indent=1))
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise PansharpenError(f"Cannot write {path} ({exc.strerror}): choose a writable output file.") from exc
    return path


def read_profile(path: str | Path) -> DegradationProfile:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise PansharpenError(f"Cannot read profile {path} ({exc.strerror}): check the path.") from exc
    except json.JSONDecodeError as exc:
        raise PansharpenError(f"Profile {path} is not JSON ({exc.msg}): write it with the 'degradation' "
                              "command.") from exc
    if not isinstance(data, dict):
        raise PansharpenError(f"Profile {path} is not a PADM degradation profile: write it with the "
                              "'degradation' command.")
    return DegradationProfile.from_dict(data, f"Profile {path}")


def normalised_kernel(kernel: np.ndarray) -> np.ndarray:
    kernel = np.clip(np.asarray(kernel, dtype=np.float64), 0.0, None)
    return kernel / kernel.sum()


def mtf_guess_kernel(gnyq: float, ratio: int, k: int | None = None) -> np.ndarray:
    """The toolbox MTF Gaussian for a Nyquist gain, resampled so its centre is the centre of a
    k x k support of the ratio's parity (half a pixel moved for even sizes, by cubic splines),
    cropped, clipped to >= 0 and renormalised."""
    from scipy import ndimage

    from ..degradation import MTF_TAPS, mtf_kernel

    k = kernel_size_for(ratio) if k is None else k
    check_kernel_size(k, ratio)
    h = mtf_kernel(gnyq, ratio, max(MTF_TAPS, k + 3 - (k % 2)))
    n = h.shape[0]  # odd, centre at (n-1)/2
    if k % 2 == 0:
        h = ndimage.shift(h, (-0.5, -0.5), order=3, mode="constant")  # out[m] = h[m + 0.5]
        start = (n - 1) // 2 - k // 2  # centre (n-1)/2 - 1/2 minus (k-1)/2
    else:
        start = (n - 1) // 2 - (k - 1) // 2
    return normalised_kernel(h[start:start + k, start:start + k])


def kernel_l1(a: np.ndarray, b: np.ndarray) -> float:
    """L1 distance of two kernels on the same support (0 = equal, 2 = disjoint)."""
    return float(np.abs(np.asarray(a) - np.asarray(b)).sum())


def stack_kernels(kernels: Sequence[np.ndarray]) -> np.ndarray:
    return np.stack([np.asarray(k, dtype=np.float64) for k in kernels])
