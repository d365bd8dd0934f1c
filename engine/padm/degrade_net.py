"""PDegradeNet: the learnable degradation operator of PADM (torch).

Spatial: per MS band a k x k blur kernel and a sub-pixel shift (exact Fourier shift of the
kernel), then decimation by the ratio; the PAN has its own kernel (no shift). A kernel is the
softmax (non-negative, sum 1) of logits = log(initial kernel) + a quadratic form + a free k x k
residual: the quadratic form turns a Gaussian guess into any anisotropic, rotated Gaussian with
three well-conditioned parameters, the residual allows any other shape (the fit regularises it
towards zero and smoothness). Spectral: PAN ≈ sum_b w_b * HRMS_b + c with w = softplus(ρ) >= 0.
The sampling convention (which PAN pixels a decimated sample comes from, what shift zero means)
is the one documented in :mod:`.profile`; :class:`.profile.DegradationProfile` applies the same
operator in numpy. Tensors are (N, C, H, W) in digital numbers.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .profile import MAX_SHIFT, DegradationProfile, check_kernel_size, shift_pad


def _inverse_softplus(y: np.ndarray) -> np.ndarray:
    y = np.maximum(np.asarray(y, dtype=np.float64), 1e-6)
    return y + np.log(-np.expm1(-y))


class PDegradeNet(nn.Module):
    """Learnable degradation, initialised from a guess (kernels, shifts, spectral weights)."""

    def __init__(self, ratio: int, kernels: np.ndarray, pan_kernel: np.ndarray, shifts: np.ndarray,
                 weights: np.ndarray, bias: float, pan_scale: float = 1.0):
        super().__init__()
        n_bands, k, _ = kernels.shape
        check_kernel_size(k, ratio)
        self.ratio, self.k, self.n_bands = int(ratio), int(k), int(n_bands)
        self.pad = shift_pad(ratio)
        self.pan_scale = float(pan_scale)  # the bias is learned in units of this (PAN std)
        # logits of the kernels, floored at 1e-4 of the peak so that the tails can still grow
        log = lambda a: torch.tensor(np.log(np.maximum(a, 1e-4 * a.max(axis=(-2, -1), keepdims=True))),  # noqa: E731
                                     dtype=torch.float32)
        self.register_buffer("ms_base", log(kernels))
        self.register_buffer("pan_base", log(pan_kernel))
        self.ms_logits = nn.Parameter(torch.zeros(n_bands, k, k))  # free residuals
        self.pan_logits = nn.Parameter(torch.zeros(k, k))
        self.ms_quad = nn.Parameter(torch.zeros(n_bands, 3))  # x^2, x*y, y^2 coefficients
        self.pan_quad = nn.Parameter(torch.zeros(1, 3))
        t = (torch.arange(k, dtype=torch.float32) - (k - 1) / 2) / (k / 4)
        self.register_buffer("quad_basis", torch.stack([t[None, :] ** 2 + 0 * t[:, None], t[None, :] * t[:, None],
                                                        t[:, None] ** 2 + 0 * t[None, :]]))
        self.shift = nn.Parameter(torch.tensor(np.asarray(shifts), dtype=torch.float32))
        self.w_raw = nn.Parameter(torch.tensor(_inverse_softplus(weights), dtype=torch.float32))
        self.bias_raw = nn.Parameter(torch.tensor(float(bias) / self.pan_scale, dtype=torch.float32))
        n = k + 2 * self.pad
        f = torch.fft.fftfreq(n, dtype=torch.float64).to(torch.float32)
        self.register_buffer("freq", f, persistent=False)

    @classmethod
    def from_profile(cls, p: DegradationProfile, pan_scale: float = 1.0) -> "PDegradeNet":
        return cls(p.ratio, p.kernels, p.pan_kernel, p.shifts, p.spectral_weights, p.spectral_bias, pan_scale)

    # -- parameters in physical form
    def _softmax(self, base, quad, resid) -> torch.Tensor:
        logits = base + torch.einsum("cq,qxy->cxy", quad, self.quad_basis) + resid
        c, k = logits.shape[0], self.k
        return torch.softmax(logits.reshape(c, k * k), dim=1).reshape(c, k, k)

    def kernels(self) -> torch.Tensor:
        return self._softmax(self.ms_base, self.ms_quad, self.ms_logits)

    def pan_kernel(self) -> torch.Tensor:
        return self._softmax(self.pan_base[None], self.pan_quad, self.pan_logits[None])[0]

    def shifts(self) -> torch.Tensor:
        return self.shift.clamp(-MAX_SHIFT, MAX_SHIFT)

    def weights(self) -> torch.Tensor:
        return F.softplus(self.w_raw)

    def bias(self) -> torch.Tensor:
        return self.bias_raw * self.pan_scale

    @torch.no_grad()
    def set_spectral(self, weights: np.ndarray, bias: float) -> None:
        self.w_raw.copy_(torch.tensor(_inverse_softplus(weights), dtype=torch.float32))
        self.bias_raw.copy_(torch.tensor(float(bias) / self.pan_scale))

    # -- operators
    def _shifted(self, kernels: torch.Tensor, shifts: Optional[torch.Tensor]) -> torch.Tensor:
        """(C, k, k) kernels -> (C, n, n) padded and Fourier-shifted by ratio*shift PAN pixels."""
        kp = F.pad(kernels, (self.pad,) * 4)
        if shifts is None:
            return kp
        r = self.ratio
        fy, fx = self.freq[None, :, None], self.freq[None, None, :]
        phase = -2 * math.pi * r * (fx * shifts[:, 0, None, None] + fy * shifts[:, 1, None, None])
        spec = torch.fft.fft2(kp) * torch.polar(torch.ones_like(phase), phase)
        return torch.fft.ifft2(spec).real

    def _correlate(self, x: torch.Tensor, keff: torch.Tensor) -> torch.Tensor:
        """Per-channel correlation with (C, n, n) kernels at stride ratio, replicate borders."""
        lo = self.pad + (self.k - self.ratio) // 2
        xp = F.pad(x, (lo, lo, lo, lo), mode="replicate")
        return F.conv2d(xp, keff[:, None], stride=self.ratio, groups=x.shape[1])

    def degrade_ms(self, hrms: torch.Tensor, with_shift: bool = True) -> torch.Tensor:
        """(N, B, H, W) -> (N, B, H/r, W/r)."""
        return self._correlate(hrms, self._shifted(self.kernels(), self.shifts() if with_shift else None))

    def degrade_pan(self, pan: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) -> (N, 1, H/r, W/r)."""
        return self._correlate(pan, self._shifted(self.pan_kernel()[None], None))

    def spectral(self, hrms: torch.Tensor) -> torch.Tensor:
        """(N, B, H, W) -> (N, 1, H, W): sum_b w_b HRMS_b + c."""
        return torch.einsum("nbhw,b->nhw", hrms, self.weights())[:, None] + self.bias()

    # -- export
    @torch.no_grad()
    def to_profile(self, sensor: str = "none", log: Optional[list] = None) -> DegradationProfile:
        return DegradationProfile(
            self.ratio, self.kernels().double().numpy(), self.pan_kernel().double().numpy(),
            self.shifts().double().numpy(), self.weights().double().numpy(), float(self.bias()),
            sensor, list(log or []))
