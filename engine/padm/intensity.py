"""PADM stage 0: the scene's operator from the PAN-intensity consistency (torch).

The spectral model says PAN = sum_b w_b HRMS_b + c at PAN resolution. Degrading both sides with
one kernel K gives, on the MS grid,

    D_{K, s_bar}(PAN) + c  =  sum_b w_b LRMS_b(moved by s_b - s_bar)

exactly when the bands share K (and approximately when their kernels differ: K is then their
w-weighted mix). No HRMS estimate enters, so the equation pins K (an anisotropic, rotated
Gaussian around the MTF guess), the weighted shift s_bar, the weights w and the bias c — the
semi-blind kernel estimation of Vivone et al. (2015), extended with shifts and weights:

* the PAN side carries the common shift s_bar (an exact Fourier shift of the kernel), so the bands
  are moved only by their small offsets d_b = s_b - s_bar (bicubic on the MS grid, where aliasing
  makes large moves inexact);
* the residual is weighted at full band plus, ten times, after a Gaussian low-pass of 1 MS pixel:
  the aliased high frequencies are what interpolation gets wrong, and the weights of nearly
  collinear bands (blue/green) are pinned by the low frequencies;
* a small ridge on d_b: collinear bands cannot tell their offsets apart from this equation, so
  they share the common shift here and the mutual iteration separates them;
* the weights and bias enter linearly and are solved in closed form for every kernel/shift
  (variable projection); L-BFGS searches only the kernel's Gaussian parameters and the shifts.

This is the coarse first stage of the progressive scheme; :mod:`.mutual` refines per-band kernels
and shifts with PAlignNet and re-fits the spectral response with this equation every round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from .profile import MAX_SHIFT

LOWPASS_SIGMA = 1.0  # MS pixels
LOWPASS_WEIGHT = 10.0
OFFSET_RIDGE = 1e-2


def gaussian_lowpass(x: torch.Tensor, sigma: float = LOWPASS_SIGMA) -> torch.Tensor:
    """Separable Gaussian low-pass of (N, C, H, W), replicate borders."""
    r = int(np.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def move_lr(x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """(1, B, h, w) image, (B, 2) offsets [dx, dy] -> out(i) = x(i - d) (bicubic, border clamp):
    a band whose samples sit at i + s is moved onto i + s - d."""
    _, b, h, w = x.shape
    u = torch.arange(w, dtype=x.dtype)[None, None, :] - d[:, 0, None, None]
    v = torch.arange(h, dtype=x.dtype)[None, :, None] - d[:, 1, None, None]
    grid = torch.stack([((2 * u + 1) / w - 1).expand(b, h, w), ((2 * v + 1) / h - 1).expand(b, h, w)], dim=-1)
    out = F.grid_sample(x.transpose(0, 1), grid, mode="bicubic", padding_mode="border", align_corners=False)
    return out.transpose(0, 1)


@dataclass
class IntensityState:
    """Variables of the intensity equation. The weights and bias are linear: for given kernel and
    shifts they are solved in closed form (variable projection), so only the kernel and the
    shifts are searched, which keeps L-BFGS well conditioned."""

    s_bar: torch.Tensor  # (1, 2)
    offsets: torch.Tensor  # (B, 2)
    weights: torch.Tensor  # (B,) last solution (not a search variable)
    bias: torch.Tensor  # () last solution, in units of the intensity's std


class IntensityModel:
    """The intensity residual of a PAN (1, 1, H, W) and LRMS (1, B, h, w) for a PDegradeNet whose PAN
    kernel plays the common kernel K."""

    def __init__(self, D, pan: torch.Tensor, ms: torch.Tensor, weights: np.ndarray, margin: int,
                 offset_ridge: float = OFFSET_RIDGE):
        self.D, self.pan, self.ms, self.margin, self.offset_ridge = D, pan, ms, margin, offset_ridge
        w = torch.tensor(np.asarray(weights, dtype=np.float64), dtype=torch.float32)
        intensity = (ms * w[None, :, None, None]).sum(1)
        self.scale = float(intensity.std()) + 1e-6

    def _terms(self, st: IntensityState, pan_kernel: Optional[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Design matrix (2M, B+1) and target (2M,): full-band rows, then low-passed rows scaled by
        sqrt(LOWPASS_WEIGHT), on the MS pixels inside the margin."""
        D, m = self.D, self.margin
        k = D.pan_kernel() if pan_kernel is None else pan_kernel
        y = D._correlate(self.pan, D._shifted(k[None], st.s_bar.clamp(-MAX_SHIFT, MAX_SHIFT))) / self.scale
        x = move_lr(self.ms, st.offsets) / self.scale
        both = torch.cat([y, x], dim=1)
        low = gaussian_lowpass(both)
        cut = lambda a: a[0, :, m:-m, m:-m].reshape(a.shape[1], -1)  # noqa: E731
        g = LOWPASS_WEIGHT ** 0.5
        full, lp = cut(both), cut(low) * g
        ones = torch.ones(1, full.shape[1])
        a = torch.cat([torch.cat([full[1:], ones]), torch.cat([lp[1:], ones * g])], dim=1).T
        return a, torch.cat([full[0], lp[0]])

    def loss(self, st: IntensityState, pan_kernel: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Mean squared residual (full band + weighted low-pass) at the least-squares weights and bias,
        plus the ridge on the offsets; the solution is stored in ``st``."""
        a, y = self._terms(st, pan_kernel)
        n = a.shape[0] // 2
        gram = a.T @ a / n
        theta = torch.linalg.solve(gram + 1e-8 * torch.eye(gram.shape[0]), a.T @ y / n)
        r = y - a @ theta
        st.weights, st.bias = theta[:-1].detach(), theta[-1].detach()
        return (r ** 2).sum() / n + self.offset_ridge * (st.offsets ** 2).mean()

    def spectral(self, st: IntensityState) -> tuple[np.ndarray, float]:
        """(weights >= 0, bias in DN) in the profile's convention PAN ≈ sum w HRMS + c: the same
        least squares under w >= 0 (bias free), so that a clipped weight does not leave the bias
        (the mean) off. Tiny floor: the profile keeps every band."""
        from scipy.optimize import nnls

        with torch.no_grad():
            a, y = self._terms(st, None)
        a = a.double().numpy()
        theta, _ = nnls(np.concatenate([a, -a[:, -1:]], axis=1), y.double().numpy())
        w = theta[:-2]
        w = np.maximum(w, 1e-4 * max(w.max(), 1e-6))
        return w, float(theta[-2] - theta[-1]) * self.scale


def initial_state(D, model: IntensityModel, weights: np.ndarray, shifts: np.ndarray) -> IntensityState:
    """Start at the given shifts (s_bar = their weights-weighted mean); the weights and bias are then
    solved for."""
    w = np.asarray(weights, dtype=np.float64)
    s = np.asarray(shifts, dtype=np.float64)
    s_bar = (w[:, None] * s).sum(0, keepdims=True) / max(w.sum(), 1e-12)
    st = IntensityState(torch.tensor(s_bar, dtype=torch.float32), torch.tensor(s - s_bar, dtype=torch.float32),
                        torch.tensor(w, dtype=torch.float32), torch.zeros(()))
    with torch.no_grad():
        model.loss(st)
    return st


def fit(model: IntensityModel, st: IntensityState, kernel_params: list, fit_offsets: bool = True,
        fit_kernel: bool = True, max_iter: int = 300) -> float:
    """L-BFGS on the intensity loss over the common shift, the offsets and the kernel parameters
    (weights and bias solved inside); returns the final loss."""
    params = [st.s_bar]
    if fit_offsets:
        params.append(st.offsets)
    if fit_kernel:
        params += kernel_params
    for p in (st.s_bar, st.offsets):
        p.requires_grad_(True)
    opt = torch.optim.LBFGS(params, lr=1, max_iter=max_iter, history_size=30, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-10, tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        loss = model.loss(st)
        loss.backward()
        return loss

    opt.step(closure)
    for p in (st.s_bar, st.offsets):
        p.requires_grad_(False)
    with torch.no_grad():
        return float(model.loss(st))
