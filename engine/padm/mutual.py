"""PADM's progressive mutual iteration: learn the scene's degradation from its own PAN/MS pair.

Start from the sensor's guess (toolbox MTF Gaussians, zero shift, spectral weights by least
squares at low resolution), then, progressively:

(0) Coarse stage (:mod:`.intensity`): one kernel for all bands (an anisotropic, rotated Gaussian
    around the guess), the common shift, per-band offsets, the spectral weights and bias, from the
    PAN-intensity equation D_K(PAN) + c = sum_b w_b LRMS_b (no HRMS estimate needed). Every band
    kernel and the PAN kernel start from this kernel.
Then rounds of
(a) D fixed: train PAlignNet on reduced-scale pairs made with D (target: the LRMS moved onto the
    PAN's geometry by the current shifts; inputs: D(target) and D_pan(PAN)), plus the full-scale
    terms that use D as it stands (D(Â) ≈ LRMS and Σ w Â + c ≈ PAN for Â = PAlignNet(LRMS, PAN)).
    PAlignNet's per-band offsets are tied to the operator's shifts (offset = -shift).
(b) PAlignNet fixed: fit D (L-BFGS) so that D(Â) reproduces the LRMS on LR pixels of the scene,
    the spectral response of Â reproduces the PAN, and the intensity equation holds (it sets the
    PAN kernel, the spectral weights and bias, and anchors the shifts); the band kernels (free
    form now: Gaussian part + a smooth residual) are kept near the PAN kernel, near the coarse
    stage's kernel, smooth and centred (the shift carries any displacement). The upsampling part
    of Â follows the shift being fitted.

The spectral weights come from the intensity equation at the coarse scale (the low-passed
residual), not from a regression of the PAN on Â: nearly collinear bands (blue/green) make that
regression unstable, while the coarse equation is exact under the spectral model.

Each round logs both losses, the change of the operator (mean L1 change of the kernels, largest
shift change) and the seconds; the iteration stops when the change falls below the tolerances,
at ``max_rounds`` or at the time budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable, Optional

import numpy as np

from ..errors import Cancelled, PansharpenError
from ..sensors import Sensor
from .profile import DegradationProfile, degrade_band, kernel_size_for, mtf_guess_kernel

ProgressFn = Callable[[float, str], None]


@dataclass(frozen=True)
class PadmConfig:
    max_rounds: int = 6
    min_rounds: int = 2
    align_steps: int = 60  # PAlignNet updates per round (step a)
    degrade_steps: int = 40  # L-BFGS iterations on PDegradeNet per round (step b)
    coarse_steps: int = 300  # L-BFGS iterations of the coarse stage (0)
    coarse_max_lr: int = 384  # the coarse stage and step (b)'s intensity term use a central crop of this many MS px
    crop: int = 64  # crop side in pixels of the network's output grid
    batch: int = 4
    lr_align: float = 2e-3
    full_scale_weight: float = 1.0  # weight of the full-scale terms in step (a)
    spectral_weight: float = 0.5  # weight of the PAN spectral term (steps a and b)
    intensity_weight: float = 1.0  # weight of the intensity equation in step (b)
    reg_init: float = 1e-3  # ||K - K0||^2 / ||K0||^2 (per kernel), K0 = the coarse stage's kernel
    reg_band: float = 0.1  # ||K_b - K_pan||^2 / ||K_pan||^2: band kernels near the PAN kernel
    reg_residual: float = 1.0  # (relative to reg_init) mean squared free logit residual
    reg_smooth: float = 1e-3  # squared differences of the free logit residuals
    reg_centroid: float = 1.0  # squared kernel centroid (PAN px^2): the shift carries any displacement
    reg_offset: float = 1.0  # ridge on the band shifts' offsets from their weighted mean (mean LR px^2)
    max_samples: int = 2048  # LR pixels used per step (b)
    tol_kernel: float = 0.01  # mean L1 change of the kernels per round
    tol_shift: float = 0.01  # LR pixels
    budget_seconds: float = 120.0
    threads: int = 2
    width: int = 32  # PAlignNet channels
    seed: int = 0
    init_noise: float = 0.0  # random initialisation: std of a random quadratic distortion of the kernel
    #                          logits and of the initial shifts (LR px); 0 = start at the guess


def initial_profile(pan: np.ndarray, ms_lr: np.ndarray, ratio: int, sensor: Sensor,
                    kernel_size: Optional[int] = None) -> DegradationProfile:
    """The Wald-protocol guess: MTF Gaussians of the sensor, zero shift, and spectral weights from a
    non-negative least-squares fit of the MTF-degraded, decimated PAN on the LRMS."""
    from scipy.optimize import nnls

    n_bands = ms_lr.shape[2]
    k = kernel_size or kernel_size_for(ratio)
    kernels = np.stack([mtf_guess_kernel(g, ratio, k) for g in sensor.gains(n_bands)])
    pan_kernel = mtf_guess_kernel(sensor.pan_gnyq, ratio, k)
    pan_lr = degrade_band(pan, pan_kernel, ratio)
    x = ms_lr.reshape(-1, n_bands)
    y = pan_lr.reshape(-1)
    xm, ym = x.mean(0), y.mean()
    w, _ = nnls(x - xm, y - ym)
    if not np.any(w > 0):
        w = np.full(n_bands, max(ym, 1e-6) / max(xm.sum(), 1e-6))
    w = np.maximum(w, 1e-3 * w.max())
    return DegradationProfile(ratio, kernels, pan_kernel, np.zeros((n_bands, 2)), w, float(ym - xm @ w),
                              sensor.name)


def _check_inputs(pan: np.ndarray, ms_lr: np.ndarray, ratio: int, crop: int) -> None:
    if pan.ndim != 2 or ms_lr.ndim != 3:
        raise PansharpenError("PADM needs a single-band PAN and a multi-band MS.")
    if pan.shape != (ms_lr.shape[0] * ratio, ms_lr.shape[1] * ratio):
        raise PansharpenError(f"PAN {pan.shape} is not the MS {ms_lr.shape[:2]} times the ratio {ratio}: "
                              "give an aligned pair.")
    need = max(crop, 8 * ratio)
    if min(ms_lr.shape[:2]) < need:
        raise PansharpenError(f"The MS is {ms_lr.shape[1]}x{ms_lr.shape[0]} pixels; PADM needs at least "
                              f"{need}x{need}: use a larger scene.")
    if not (np.all(np.isfinite(pan)) and np.all(np.isfinite(ms_lr))):
        raise PansharpenError("The PAN or MS holds no-data or non-finite values: cut the scene to valid pixels.")


def learn_degradation(pan: np.ndarray, ms_lr: np.ndarray, ratio: int, sensor: Sensor,
                      config: PadmConfig = PadmConfig(), init: Optional[DegradationProfile] = None,
                      progress: Optional[ProgressFn] = None,
                      is_cancelled: Optional[Callable[[], bool]] = None) -> DegradationProfile:
    """Run PADM on an aligned pair (PAN (H, W), MS (H/r, W/r, B), DN) -> the learned profile,
    with the per-round log in ``profile.log``."""
    import torch

    pan = np.asarray(pan, dtype=np.float64)
    ms_lr = np.asarray(ms_lr, dtype=np.float64)
    crop = min(config.crop, (min(ms_lr.shape[:2]) // ratio) * ratio)
    _check_inputs(pan, ms_lr, ratio, min(crop, 64))
    config = replace(config, crop=crop)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, config.threads))
    try:
        return _Mutual(pan, ms_lr, ratio, sensor, config, init, progress, is_cancelled).run()
    finally:
        torch.set_num_threads(old_threads)


def perturbed_profile(profile: DegradationProfile, noise: float, seed: int) -> DegradationProfile:
    """A random initialisation: every kernel distorted by exp of a random quadratic form (a random
    anisotropic/rotated widening or narrowing, std ``noise`` per coefficient at the support's
    quarter width) and shifts drawn with std ``noise`` LR pixels."""
    g = np.random.default_rng(10_000 + seed)
    k = profile.kernels.shape[1]
    t = (np.arange(k) - (k - 1) / 2) / (k / 4)
    basis = np.stack([t[None, :] ** 2 + 0 * t[:, None], t[None, :] * t[:, None], t[:, None] ** 2 + 0 * t[None, :]])

    def distort(kernel: np.ndarray) -> np.ndarray:
        q = noise * g.standard_normal(3)
        out = kernel * np.exp(np.einsum("q,qxy->xy", q, basis))
        return out / out.sum()

    kernels = np.stack([distort(kk) for kk in profile.kernels])
    shifts = np.clip(profile.shifts + noise * g.standard_normal(profile.shifts.shape), -0.9, 0.9)
    return replace(profile, kernels=kernels, pan_kernel=distort(profile.pan_kernel), shifts=shifts)


class _Mutual:
    """State of one PADM run (tensors, the two networks, optimisers, log)."""

    def __init__(self, pan, ms_lr, ratio, sensor, config, init, progress, is_cancelled):
        import torch

        from .align_net import PAlignNet
        from .degrade_net import PDegradeNet
        from .intensity import IntensityModel, initial_state

        self.torch = torch
        self.cfg, self.ratio, self.sensor = config, ratio, sensor
        self.progress = progress or (lambda f, t: None)
        self.is_cancelled = is_cancelled or (lambda: False)
        self.rng = np.random.default_rng(config.seed)
        torch.manual_seed(config.seed)
        self.init = init or initial_profile(pan, ms_lr, ratio, sensor)
        start = self.init
        if config.init_noise > 0:
            start = perturbed_profile(start, config.init_noise, config.seed)
        ms_std = ms_lr.reshape(-1, ms_lr.shape[2]).std(0) + 1e-6
        self.pan_std = float(pan.std() + 1e-6)
        self.ms_std = torch.tensor(ms_std, dtype=torch.float32).reshape(1, -1, 1, 1)
        self.D = PDegradeNet.from_profile(start, pan_scale=self.pan_std)
        self.net = PAlignNet(ms_lr.shape[2], ratio, ms_lr.reshape(-1, ms_lr.shape[2]).mean(0), ms_std,
                             float(pan.mean()), self.pan_std, width=config.width)
        t = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
        self.ms = t(np.moveaxis(ms_lr, 2, 0))[None]  # (1, B, h, w)
        self.pan = t(pan)[None, None]
        self.anchor(start)
        self.net.offset.requires_grad_(False)  # tied to the operator: offset = -shift
        self.opt_net = torch.optim.Adam([p for n, p in self.net.named_parameters() if n != "offset"],
                                        lr=config.lr_align)
        self.margin = -(-(self.D.pad + (self.D.k - ratio) // 2) // ratio)  # LR pixels touched by padding
        # the intensity equation on a central crop (bounded cost on big scenes)
        h, w = self.ms.shape[-2:]
        c = config.coarse_max_lr
        y0, x0 = max(0, (h - c) // 2), max(0, (w - c) // 2)
        ms_c = self.ms[..., y0:y0 + c, x0:x0 + c]
        pan_c = self.pan[..., ratio * y0:ratio * (y0 + ms_c.shape[-2]), ratio * x0:ratio * (x0 + ms_c.shape[-1])]
        self.intensity = IntensityModel(self.D, pan_c, ms_c, start.spectral_weights, self.margin + 1,
                                        config.reg_offset)
        self.istate = initial_state(self.D, self.intensity, start.spectral_weights, start.shifts)
        self.log: list[dict] = []

    def anchor(self, profile: DegradationProfile) -> None:
        """Kernels the regularisation pulls toward."""
        self.k0 = self.torch.tensor(profile.kernels, dtype=self.torch.float32)
        self.k0_pan = self.torch.tensor(profile.pan_kernel, dtype=self.torch.float32)

    # ---------------------------------------------------------------- losses
    def _ms_mse(self, pred, target, margin: int):
        m = margin
        d = (pred - target)[..., m:pred.shape[-2] - m, m:pred.shape[-1] - m] / self.ms_std
        return (d ** 2).mean()

    def _pan_mse(self, pred, target, margin: int = 0):
        m = margin
        d = (pred - target)[..., m:pred.shape[-2] - m, m:pred.shape[-1] - m] / self.pan_std
        return (d ** 2).mean()

    def _crops(self, size_lr: int, n: int) -> list[tuple[int, int]]:
        """Top-left corners (LR pixels, multiples of the ratio) of n random crops of size_lr."""
        r = self.ratio
        h, w = self.ms.shape[-2:]
        ys = self.rng.integers(0, (h - size_lr) // r + 1, n) * r
        xs = self.rng.integers(0, (w - size_lr) // r + 1, n) * r  # multiples of r: reduced grids align
        return list(zip(ys.tolist(), xs.tolist()))

    # ---------------------------------------------------------------- stage (0)
    def coarse_stage(self) -> dict:
        """One kernel for all bands, shifts and spectral response from the intensity equation; the
        operator is then rebuilt around it (every kernel = it) and the regularisation anchored to it."""
        from .degrade_net import PDegradeNet
        from .intensity import IntensityModel, fit, initial_state

        torch, D = self.torch, self.D
        w0 = np.maximum(self.istate.weights.double().numpy(), 1e-6)
        with torch.no_grad():  # the common kernel starts as the w-weighted mix of the band kernels
            k_mix = (D.kernels() * self.istate.weights.clamp_min(0)[:, None, None]).sum(0)
            k_mix = (k_mix / k_mix.sum()).double().numpy()
        shifts0 = D.shifts().detach().double().numpy()
        start = replace(D.to_profile(), pan_kernel=k_mix)
        D = PDegradeNet.from_profile(start, pan_scale=self.pan_std)
        im = self.intensity
        model = IntensityModel(D, im.pan, im.ms, w0, im.margin, self.cfg.reg_offset)
        # coarse to fine in the parameters too: first one shift for all bands (the w-weighted mean of
        # the start), which the equation determines well, then the per-band offsets
        st = initial_state(D, model, w0, shifts0)
        st.offsets.zero_()
        with torch.no_grad():
            loss0 = float(model.loss(st))
        fit(model, st, [D.pan_quad], fit_offsets=False, max_iter=self.cfg.coarse_steps)
        loss = fit(model, st, [D.pan_quad], max_iter=self.cfg.coarse_steps)
        w, c = model.spectral(st)
        k = D.pan_kernel().detach().double().numpy()
        n = D.n_bands
        shifts = np.clip((st.s_bar + st.offsets).double().numpy(), -1.0, 1.0)
        prof = replace(start, kernels=np.repeat(k[None], n, 0), pan_kernel=k, shifts=shifts,
                       spectral_weights=w, spectral_bias=c)
        self.D = PDegradeNet.from_profile(prof, pan_scale=self.pan_std)
        self.anchor(prof)
        self.intensity = IntensityModel(self.D, im.pan, im.ms, w, im.margin, self.cfg.reg_offset)
        self.istate = initial_state(self.D, self.intensity, w, shifts)
        return {"coarse_intensity_loss_start": loss0, "coarse_intensity_loss": loss}

    # ---------------------------------------------------------------- step (a)
    def _aligned_ms(self) -> "object":
        """The LRMS moved by the current shifts (cubic splines): band b, sampled at i + s_b, is put
        back on i. This is the MS on the PAN's geometry, the reduced-scale target, so that the
        reduced-scale pairs mimic the full-scale problem."""
        from scipy import ndimage

        shifts = self.D.shifts().detach().double().numpy()
        ms = self.ms[0].double().numpy()
        out = [ndimage.shift(ms[b], (shifts[b, 1], shifts[b, 0]), order=3, mode="nearest")  # out[i] = in[i - s]
               for b in range(ms.shape[0])]
        return self.torch.tensor(np.stack(out), dtype=self.torch.float32)[None]

    def train_align(self, deadline: float = float("inf")) -> dict:
        """Step (a); stops early at ``deadline`` (time.monotonic()), after at least one update."""
        torch, r, c = self.torch, self.ratio, self.cfg.crop
        with torch.no_grad():  # reduced-scale pairs of this round, made with D on the whole scene
            target = self._aligned_ms()
            ms_red = self.D.degrade_ms(target)
            pan_red = self.D.degrade_pan(self.pan)
            self.net.offset.copy_(-self.D.shifts())  # the network aligns by the operator's shifts
        self.net.train()
        stats = np.zeros(3)
        cf = min(max(c // r, 2 * self.margin + 12), *self.ms.shape[-2:])  # full-scale crop, LR pixels
        done = 0
        for _ in range(self.cfg.align_steps):
            if done and time.monotonic() > deadline:
                break
            done += 1
            red = self._crops(c, self.cfg.batch)
            tgt = torch.cat([target[..., y:y + c, x:x + c] for y, x in red])
            inp = torch.cat([ms_red[..., y // r:(y + c) // r, x // r:(x + c) // r] for y, x in red])
            pin = torch.cat([pan_red[..., y:y + c, x:x + c] for y, x in red])
            loss_red = self._ms_mse(self.net(inp, pin), tgt, 0)
            loss = loss_red
            cons = spec = torch.zeros(())
            if self.cfg.full_scale_weight > 0:
                full = self._crops(cf, max(1, self.cfg.batch // 2))
                ms_c = torch.cat([self.ms[..., y:y + cf, x:x + cf] for y, x in full])
                pan_c = torch.cat([self.pan[..., y * r:(y + cf) * r, x * r:(x + cf) * r] for y, x in full])
                est = self.net(ms_c, pan_c)
                cons = self._ms_mse(self.D.degrade_ms(est), ms_c, self.margin)
                spec = self._pan_mse(self.D.spectral(est), pan_c, r * self.margin)
                loss = loss + self.cfg.full_scale_weight * (cons + self.cfg.spectral_weight * spec)
            self.opt_net.zero_grad()
            loss.backward()
            self.opt_net.step()
            stats += [loss_red.item(), cons.item(), spec.item()]
        stats /= max(1, done)
        return {"align_steps": done, "align_reduced_loss": stats[0], "align_consistency_loss": stats[1],
                "align_spectral_loss": stats[2]}

    # ---------------------------------------------------------------- step (b)
    def _patches(self, img, rows, cols):
        """(1, C, H, W) image -> (C, M, n, n): the PAN-grid support of the LR samples (rows, cols),
        replicate-padded as the operator pads it."""
        D, r = self.D, self.ratio
        lo = D.pad + (D.k - r) // 2
        xp = self.torch.nn.functional.pad(img, (lo,) * 4, mode="replicate")[0]
        n = D.k + 2 * D.pad
        a = self.torch.arange(n)
        ri = (r * rows)[:, None] + a[None]  # (M, n)
        ci = (r * cols)[:, None] + a[None]
        return xp[:, ri[:, :, None], ci[:, None, :]]

    def fit_degradation(self) -> dict:
        """Fit the operator with the network fixed. The estimate is Â(s) = U(s) + R: U the network's
        upsampling branch at offsets -s (tied to the operator's shifts), R the rest of its output
        (PAN detail, fixed). The low frequencies thus follow the shift being fitted and the shift is
        set by the PAN-aligned detail and the spectral response, not anchored to its old value."""
        torch, cfg, D, r = self.torch, self.cfg, self.D, self.ratio
        self.net.eval()
        hw = self.pan.shape[-2:]
        with torch.no_grad():
            est = self.net(self.ms, self.pan)
            detail = est - self.net.upsample_dn(self.ms, hw, self.net.offset)
        h, w = self.ms.shape[-2:]
        m = self.margin
        ii, jj = np.meshgrid(np.arange(m, h - m), np.arange(m, w - m), indexing="ij")
        pick = np.arange(ii.size)
        if ii.size > cfg.max_samples:
            pick = self.rng.choice(ii.size, cfg.max_samples, replace=False)
        rows = torch.tensor(ii.reshape(-1)[pick])
        cols = torch.tensor(jj.reshape(-1)[pick])
        n2 = (D.k + 2 * D.pad) ** 2
        with torch.no_grad():
            target = self.ms[0][:, rows, cols]  # (B, M)
        std = self.ms_std.reshape(-1, 1)
        e0 = (self.k0 ** 2).sum(dim=(1, 2))
        e0_pan = (self.k0_pan ** 2).sum()
        t = torch.arange(D.k, dtype=torch.float32) - (D.k - 1) / 2
        pm = r * m
        st = self.istate

        def closure():
            opt.zero_grad()
            kern, kpan, shifts = D.kernels(), D.pan_kernel(), D.shifts()
            est = self.net.upsample_dn(self.ms, hw, -shifts) + detail
            p_est = self._patches(est, rows, cols).reshape(est.shape[1], -1, n2)
            pred = _apply_patches(p_est, D._shifted(kern, shifts))
            parts["cons"] = (((pred - target) / std) ** 2).mean()
            parts["spec"] = self._pan_mse(D.spectral(est), self.pan, pm)
            wd = st.weights.detach().clamp_min(0)
            st.s_bar = (wd[:, None] * shifts).sum(0, keepdim=True) / wd.sum().clamp_min(1e-12)
            st.offsets = shifts - st.s_bar
            parts["intensity"] = self.intensity.loss(st)
            resid = torch.cat([D.ms_logits, D.pan_logits[None]])
            reg = (((kern - self.k0) ** 2).sum(dim=(1, 2)) / e0).mean() + ((kpan - self.k0_pan) ** 2).sum() / e0_pan
            reg = reg + cfg.reg_residual * (resid ** 2).mean()
            band = (((kern - kpan[None]) ** 2).sum(dim=(1, 2)) / (kpan ** 2).sum().detach()).mean()
            smooth = _grad2(resid).mean()
            allk = torch.cat([kern, kpan[None]])
            parts["centroid"] = ((allk.sum(1) * t).sum(1) ** 2 + (allk.sum(2) * t).sum(1) ** 2).mean()  # PAN px^2
            loss = (parts["cons"] + cfg.spectral_weight * parts["spec"] + cfg.intensity_weight * parts["intensity"]
                    + cfg.reg_init * reg + cfg.reg_band * band + cfg.reg_smooth * smooth
                    + cfg.reg_centroid * parts["centroid"])  # the offset ridge is in the intensity loss
            loss.backward()
            parts["loss"] = loss
            return loss

        parts: dict = {}
        opt = torch.optim.LBFGS([D.ms_logits, D.pan_logits, D.ms_quad, D.pan_quad, D.shift],
                                lr=1, max_iter=cfg.degrade_steps, history_size=20, line_search_fn="strong_wolfe",
                                tolerance_grad=1e-9, tolerance_change=1e-12)
        opt.step(closure)
        with torch.no_grad():  # the line search's last evaluation may be a rejected trial point
            shifts = D.shifts()
            wd = st.weights.clamp_min(0)
            st.s_bar = (wd[:, None] * shifts).sum(0, keepdim=True) / wd.sum().clamp_min(1e-12)
            st.offsets = shifts - st.s_bar
            self.intensity.loss(st)
        D.set_spectral(*self.intensity.spectral(st))
        return {"degrade_consistency_loss": parts["cons"].item(), "degrade_spectral_loss": parts["spec"].item(),
                "degrade_intensity_loss": parts["intensity"].item(), "degrade_loss": parts["loss"].item(),
                "kernel_centroid_px": float(parts["centroid"].detach().sqrt())}

    # ---------------------------------------------------------------- loop
    def _entry(self, entry: dict, prev: DegradationProfile, t_round: float) -> tuple[dict, DegradationProfile]:
        cur = self.D.to_profile()
        entry["kernel_change"] = float(np.abs(cur.kernels - prev.kernels).sum(axis=(1, 2)).mean())
        entry["pan_kernel_change"] = float(np.abs(cur.pan_kernel - prev.pan_kernel).sum())
        entry["shift_change"] = float(np.abs(cur.shifts - prev.shifts).max())
        entry["weight_change"] = float(np.abs(cur.spectral_weights / prev.spectral_weights - 1).max())
        entry["seconds"] = time.monotonic() - t_round
        entry = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in entry.items()}
        self.log.append(entry)
        return entry, cur

    def run(self) -> DegradationProfile:
        cfg = self.cfg
        t0 = time.monotonic()
        prev = self.D.to_profile()
        if self.is_cancelled():
            raise Cancelled()
        entry, prev = self._entry({"round": 0, **self.coarse_stage()}, prev, t0)
        self.progress(min(0.99, (time.monotonic() - t0) / cfg.budget_seconds), "PADM coarse stage: kernel, "
                      f"shifts and spectral response (kernel change {entry['kernel_change']:.3f})")
        if time.monotonic() - t0 > cfg.budget_seconds:
            self.log[-1]["stop"] = "time budget"
            self.progress(1.0, "PADM done: coarse stage only (time budget)")
            return self.D.to_profile(self.sensor.name, self.log)
        for rnd in range(1, cfg.max_rounds + 1):
            if self.is_cancelled():
                raise Cancelled()
            t_round = time.monotonic()
            entry = {"round": rnd}
            entry.update(self.train_align(deadline=t0 + cfg.budget_seconds))
            self.progress(min(0.99, max((rnd - 0.5) / cfg.max_rounds, (time.monotonic() - t0) / cfg.budget_seconds)),
                          f"PADM round {rnd}: alignment network trained")
            if self.is_cancelled():
                raise Cancelled()
            entry.update(self.fit_degradation())
            entry, prev = self._entry(entry, prev, t_round)
            elapsed = time.monotonic() - t0
            converged = (rnd >= cfg.min_rounds and entry["kernel_change"] < cfg.tol_kernel
                         and entry["shift_change"] < cfg.tol_shift)
            self.progress(min(0.99, max(rnd / cfg.max_rounds, elapsed / cfg.budget_seconds)),
                          f"PADM round {rnd}: kernel change {entry['kernel_change']:.4f}, "
                          f"shift change {entry['shift_change']:.4f}")
            if converged:
                entry["stop"] = "converged"
                break
            if elapsed + entry["seconds"] > cfg.budget_seconds:
                entry["stop"] = "time budget"
                break
        else:
            self.log[-1]["stop"] = "max rounds"
        self.progress(1.0, f"PADM done: {len(self.log) - 1} rounds, {time.monotonic() - t0:.1f} s")
        return self.D.to_profile(self.sensor.name, self.log)


def _apply_patches(patches, kernels):
    """(C, M, n*n) patches and (C, n, n) kernels -> (C, M) correlations."""
    return (patches @ kernels.reshape(kernels.shape[0], -1, 1))[..., 0]


def _grad2(k):
    """Sum of squared finite differences of (C, k, k) kernels, per kernel."""
    dy = (k[:, 1:, :] - k[:, :-1, :]) ** 2
    dx = (k[:, :, 1:] - k[:, :, :-1]) ** 2
    return dy.sum(dim=(1, 2)) + dx.sum(dim=(1, 2))
