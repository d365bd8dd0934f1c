"""PADM scene fine-tuning: adapt HFreqDiff to one scene with the degradation learned on it.

1. The operator: PADM (:func:`.mutual.learn_degradation`) on a central crop of the scene, or, for
   the ablation (``fixed_mtf``), the sensor's MTF guess (:func:`.mutual.initial_profile`: MTF
   Gaussians, zero shifts, least-squares spectral weights).
2. Reduced-scale pairs made with it: target = the LRMS moved onto the PAN's geometry by the
   operator's shifts, inputs = the operator applied to the target (kernels, shifts, decimation) and
   the PAN degraded by the PAN kernel. The network learns to undo *this scene's* degradation,
   misregistration included; so the patches are not flipped or rotated (a flip would reverse the
   shifts) and the scene model is run without the flip ensemble (metadata ``default_ensemble``).
3. Fine-tuning from the shipped ``models/hfreqdiff.onnx`` (the torch network built from its weights,
   engine.hfreqdiff.onnx_weights): the training objective of
   :mod:`lab.train` (x0 L1 at a random time) on those pairs, plus a full-resolution
   consistency loss on the scene itself: the one-step sample (t = 1, the default sampler) of
   the fused image Â must satisfy D(Â) ≈ LRMS and Σ w_b Â_b + c ≈ PAN with the same operator
   (a differentiable D_s term is available, ``spatial_weight``, and off by default).
4. Never worse (:mod:`.guard`): cells spread over the crop (a quarter of it) are held out of the
   fine-tuning (its full-resolution crops avoid them, its reduced-scale loss ignores their pixels);
   the shipped model (as each quality preset runs it) and checkpoints of the scene model fuse the
   crop and are scored there (no-reference HQNR); the best checkpoint is kept, and the shipped
   models where no checkpoint beats them.
5. The scene model folder (:mod:`.model_folder`), written atomically (a hidden temporary folder
   renamed at the end; a cancel or an error leaves nothing): ``model.pt``, ``model.onnx`` (plus
   ``model_fast.onnx``, the fast preset's model, where the shipped models are kept),
   ``profile.json`` (the operator), ``card.json`` and ``card.md`` (operator, losses, the held-out
   check, times).

Everything runs within ``budget_minutes`` of wall time (PADM takes a fixed fraction of it).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..definitions import DEFAULT_FINETUNE_MINUTES
from ..errors import Cancelled, PansharpenError
from ..hfreqdiff.objective import learning_rate, spatial_distortion, x0_loss
from ..machine import machine_summary
from ..sensors import Sensor
from ..tiling import central_window
from .guard import MIN_CROP, HeldOut, NeverWorse, held_out_cells, rank
from .model_folder import check_model_folder, operator_summary, write_model_folder
from .profile import DegradationProfile

ProgressFn = Callable[[float, str], None]
CARD_FORMAT = "padm-scene-model-1"
MIN_BUDGET_MINUTES = 0.25
MIN_FINETUNE_SECONDS = 5.0


LOSS_KEYS = ("reduced_x0_l1", "fr_consistency", "fr_spectral", "fr_spatial")  # logged per step, and before/after


@dataclass(frozen=True)
class FinetuneConfig:
    budget_minutes: float = DEFAULT_FINETUNE_MINUTES  # everything: operator, fine-tuning, checks, export
    padm_fraction: float = 0.25  # share of the budget for learning the operator
    reserve_seconds: float = 20.0  # kept for the final checks, export and writing
    max_pan: int = 1024  # learn on a central crop of at most this many PAN pixels per side
    patch: int = 64  # reduced-scale patches (PAN px of the reduced pair)
    batch: int = 4
    fr_patch: int = 96  # full-resolution crops (PAN px)
    fr_batch: int = 2
    fr_weight: float = 1.0  # weight of the full-resolution consistency (normalised MSE)
    spectral_weight: float = 0.5  # of the PAN term inside it
    # of the differentiable D_s inside it: off, as it raised HQNR while losing against the truth (reduced-
    # resolution protocol: Q2n -0.02 to -0.08, SAM up to +3 deg; lab/reports/criterion_study.md)
    spatial_weight: float = 0.0
    lr: float = 2e-4
    lr_min: float = 1e-5
    warmup_steps: int = 20
    grad_clip: float = 1.0
    max_steps: int = 100_000
    seed: int = 0
    threads: int = 2
    fixed_mtf: bool = False  # ablation: the sensor's MTF guess instead of the learned operator
    align: str = "pan"  # "pan": the output is moved onto the PAN's geometry by the learned shifts;
    #                     "ms": the shifts are learned and reported but not applied (the MS's geometry)
    guard: bool = True  # never worse: keep the shipped model unless the scene model beats it on held-out cells
    checks: int = 3  # held-out scores along the fine-tuning (the best checkpoint is kept)
    # what adapts (lab/reports/adapt_ablation.md measures the choices): "all" weights, or "modulation": only
    # the band-aware parts (time/band embedding, FiLM, BAMB gains, the band mix), 13 % of them
    trainable: str = "all"
    anchor: float = 0.0  # weight of the squared distance to the shipped weights (L2-SP), 0: none


@dataclass
class FinetuneResult:
    out_dir: Path
    card: dict


# --- data ------------------------------------------------------------------------------------

def central_crop(pan: np.ndarray, ms_lr: np.ndarray, ratio: int, max_pan: int) -> tuple[np.ndarray, np.ndarray]:
    """The central window of at most max_pan PAN pixels, MS side a multiple of the ratio (so that
    the reduced pair aligns)."""
    r0, c0, h, w = central_window(pan.shape[0], pan.shape[1], ratio, max_pan, side_multiple=ratio * ratio)
    return pan[r0:r0 + h, c0:c0 + w], ms_lr[r0 // ratio:(r0 + h) // ratio, c0 // ratio:(c0 + w) // ratio]


def aligned_ms(ms_lr: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """The LRMS on the PAN's geometry: band b, sampled at i + s_b, moved back onto i (cubic splines)."""
    from scipy import ndimage

    return np.stack([ndimage.shift(ms_lr[:, :, b], (shifts[b, 1], shifts[b, 0]), order=3, mode="nearest")
                     for b in range(ms_lr.shape[2])], axis=2)


def reduced_pair(pan: np.ndarray, ms_lr: np.ndarray, ratio: int, sensor: Sensor, profile: DegradationProfile,
                 held: Optional[HeldOut] = None):
    """A reduced-scale training pair made with the operator (engine.hfreqdiff.pairs.TrainingPair); its
    loss weight is 0 on the ``held`` cells (the pair's grid is the MS's)."""
    from ..hfreqdiff.pairs import make_pair

    target = aligned_ms(ms_lr, profile.shifts)
    ms_red = profile.degrade_ms(target)
    pan_red = profile.degrade_pan(pan)
    pair = make_pair("scene/reduced", pan_red, ms_red, target, ratio, sensor)
    if held is not None:
        pair.weight = (~held.pixels(ratio)[:pair.x0.shape[1], :pair.x0.shape[2]]).astype(np.float32)
    return pair


class FullScale:
    """The scene at full resolution with its conditioning, and the consistency loss of the network's
    one-step sample under the operator."""

    def __init__(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int, sensor: Sensor, profile: DegradationProfile,
                 patch: int, seed: int, held: Optional[HeldOut] = None):
        """``held``: cells no crop may touch (the never-worse check's); crops are then no larger than a cell,
        so that they fit between them."""
        import torch

        from ..hfreqdiff.conditioning import X0_SCALE, fit_stats
        from ..hfreqdiff.pairs import condition_padded
        from ..metrics import imresize_bicubic, upsample_ms
        from .degrade_net import PDegradeNet

        self.torch, self.ratio = torch, ratio
        stats = fit_stats(pan, ms_lr, ratio, sensor)  # as HFreqDiffMethod.fit does on the scene
        cond = condition_padded(pan, ms_lr, ratio, stats)
        self.band = torch.from_numpy(np.ascontiguousarray(cond["band"]))
        self.pan_c = torch.from_numpy(np.ascontiguousarray(cond["pan"]))
        self.desc = torch.from_numpy(np.ascontiguousarray(cond["desc"]))
        self.band_stats = torch.from_numpy(np.ascontiguousarray(cond["band_stats"]))
        self.ms_up = torch.tensor(np.moveaxis(cond["ms_up"], 2, 0)[None], dtype=torch.float32)
        self.scale = torch.tensor(stats.ms_scale / X0_SCALE, dtype=torch.float32).reshape(1, -1, 1, 1)
        self.ms = torch.tensor(np.moveaxis(ms_lr, 2, 0)[None], dtype=torch.float32)
        self.pan = torch.tensor(pan, dtype=torch.float32)[None, None]
        self.ms_std = self.ms.std(dim=(2, 3), keepdim=True) + 1e-6
        pan_low = upsample_ms(imresize_bicubic(pan, 1.0 / ratio), ratio)  # D_s's PAN_LR_up (engine.metrics.d_s)
        self.pan_low = torch.tensor(pan_low, dtype=torch.float32)[None, None]
        self.pan_std = float(self.pan.std()) + 1e-6
        self.D = PDegradeNet.from_profile(profile, pan_scale=self.pan_std)
        for p in self.D.parameters():
            p.requires_grad_(False)
        self.margin = -(-(self.D.pad + (self.D.k - ratio) // 2) // ratio)
        patch = min(patch, held.cell) if held is not None else patch
        step = int(ratio * 4 // np.gcd(ratio, 4))  # crop corners on the network's grid and the MS grid
        self.patch = max(step, patch // step * step, step * (2 * self.margin + 4))
        h, w = pan.shape
        if min(h, w) < self.patch:
            raise PansharpenError(f"The scene ({w}x{h} PAN px) is smaller than one {self.patch}-pixel fine-tuning "
                                  "crop: use a larger scene.")
        self.step = step
        self.rng = np.random.default_rng(seed)
        self.free = held.free_corners(self.patch, step) if held is not None else None
        if self.free is not None and not len(self.free):
            raise PansharpenError(f"Fine-tuning crops of {self.patch} px do not fit between the held-out cells: "
                                  "use a smaller crop size or turn the never-worse check off.")

    def to(self, device) -> "FullScale":
        """Move the scene's tensors and the operator to a torch device (stage-2 training on a GPU)."""
        for name in ("band", "pan_c", "desc", "band_stats", "ms_up", "scale", "ms", "ms_std", "pan", "pan_low"):
            setattr(self, name, getattr(self, name).to(device))
        self.D = self.D.to(device)
        return self

    def corners(self, n: int) -> list[tuple[int, int]]:
        if self.free is not None:
            return [tuple(c) for c in self.free[self.rng.integers(0, len(self.free), n)].tolist()]
        h, w = self.pan.shape[-2:]
        ys = self.rng.integers(0, (h - self.patch) // self.step + 1, n) * self.step
        xs = self.rng.integers(0, (w - self.patch) // self.step + 1, n) * self.step
        return list(zip(ys.tolist(), xs.tolist()))

    def sample(self, net, corners: list[tuple[int, int]]) -> dict:
        """The network's one-step (t = 1) sample on the given crops, in DN, with the matching crops of
        the MS upsampled (``ms_up``), the LRMS (``lr``) and the PAN: tensors (N, C, H, W)."""
        torch, p, r = self.torch, self.patch, self.ratio
        sl = [(slice(y, y + p), slice(x, x + p)) for y, x in corners]
        band = torch.cat([self.band[..., a, b] for a, b in sl])
        pan_c = torch.cat([self.pan_c[..., a, b] for a, b in sl])
        ms_up = torch.cat([self.ms_up[..., a, b] for a, b in sl])
        n, nb = band.shape[:2]
        x_t = torch.randn(n, nb, p, p, device=band.device)
        x0 = net(x_t, torch.ones(n, device=band.device), band, pan_c, self.desc.expand(n, -1), self.band_stats.expand(n, -1, -1))
        return {"fused": ms_up + x0 * self.scale, "ms_up": ms_up,
                "lr": torch.cat([self.ms[..., y // r:(y + p) // r, x // r:(x + p) // r] for y, x in corners]),
                "pan": torch.cat([self.pan[..., a, b] for a, b in sl]),
                "pan_low": torch.cat([self.pan_low[..., a, b] for a, b in sl])}

    def loss(self, net, corners: list[tuple[int, int]]) -> tuple["object", "object", "object"]:
        """(consistency, spectral, spatial) of the t = 1 sample on the given crops: normalised MSEs
        and the differentiable D_s."""
        crops = self.sample(net, corners)
        m = self.margin
        d = ((self.D.degrade_ms(crops["fused"]) - crops["lr"]) / self.ms_std)[..., m:-m, m:-m]
        s = (self.D.spectral(crops["fused"]) - crops["pan"]) / self.pan_std
        return (d ** 2).mean(), (s ** 2).mean(), spatial_distortion(crops)


# --- the operator ----------------------------------------------------------------------------

def scene_operator(pan: np.ndarray, ms_lr: np.ndarray, ratio: int, sensor: Sensor, cfg: FinetuneConfig,
                   progress: ProgressFn, is_cancelled: Callable[[], bool]) -> DegradationProfile:
    from .mutual import PadmConfig, initial_profile, learn_degradation

    guess = initial_profile(pan, ms_lr, ratio, sensor)
    if cfg.fixed_mtf:
        guess.log = [{"round": 0, "note": "fixed sensor MTF (ablation): no learning"}]
        return guess
    budget = cfg.padm_fraction * cfg.budget_minutes * 60.0
    pcfg = PadmConfig(budget_seconds=budget, seed=cfg.seed, threads=cfg.threads)
    return learn_degradation(pan, ms_lr, ratio, sensor, pcfg, init=guess, progress=progress,
                             is_cancelled=is_cancelled)


# --- fine-tuning -----------------------------------------------------------------------------

def _eval_losses(net, pair_batch: dict, full: FullScale, corners, seed: int) -> dict:
    """Losses on a fixed batch (same noise each time): before/after numbers for the card."""
    import torch

    net.eval()
    with torch.no_grad():
        torch.manual_seed(seed)
        red = float(x0_loss(net, pair_batch))
        cons, spec, spatial = full.loss(net, corners)
    net.train()
    return dict(zip(LOSS_KEYS, (red, float(cons), float(spec), float(spatial))))


MODULATION = ("embed.", ".film.", ".gains.", "mix")  # parameter names of the band-aware modulation


def trainable_parameters(net, which: str) -> list:
    """The parameters fine-tuning adapts (the others are frozen): ``all`` or ``modulation``."""
    if which not in ("all", "modulation"):
        raise PansharpenError(f"Unknown trainable set '{which}': use all or modulation.")
    chosen = [p for n, p in net.named_parameters() if which == "all" or any(m in n for m in MODULATION)]
    for p in net.parameters():
        p.requires_grad_(False)
    for p in chosen:
        p.requires_grad_(True)
    return chosen


def finetune_network(pan: np.ndarray, ms_lr: np.ndarray, ratio: int, sensor: Sensor, profile: DegradationProfile,
                     cfg: FinetuneConfig, seconds: float, base_model: Path, progress: ProgressFn,
                     is_cancelled: Callable[[], bool],
                     score: Optional[Callable[[object], dict]] = None,
                     held: Optional[HeldOut] = None,
                     order: Callable[[dict], float] = rank) -> tuple[object, dict, dict]:
    """(fine-tuned network, base model metadata, training record) within ``seconds``. ``score(net)``
    (held-out HQNR and D_lambda_K, see .guard) is called ``cfg.checks`` times along the way; the network
    returned is then the checkpoint ``order`` ranks highest, and the record lists the checks."""
    import copy
    import torch

    from ..hfreqdiff.pairs import PatchSampler
    from ..hfreqdiff.runtime import load_torch_model

    torch.manual_seed(cfg.seed)
    pair = reduced_pair(pan, ms_lr, ratio, sensor, profile, held)
    patch = int(min(cfg.patch, min(pair.x0.shape[1:]) // 4 * 4))
    if patch < 16:
        raise PansharpenError(f"The scene is too small to fine-tune on (reduced scale {pair.x0.shape[2]}x"
                              f"{pair.x0.shape[1]} px): use a larger scene.")
    sampler = PatchSampler([pair], patch, cfg.batch, seed=cfg.seed, subset_prob=0.0, augment=False)
    full = FullScale(pan, ms_lr, ratio, sensor, profile, cfg.fr_patch, cfg.seed + 1, held)
    net, base_meta = load_torch_model(base_model)
    net.train()
    params = trainable_parameters(net, cfg.trainable)
    anchor = [p.detach().clone() for p in params] if cfg.anchor > 0 else None
    # weight decay pulls toward zero, not toward the shipped weights: off where the anchor does that
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0 if anchor else 1e-4)
    fixed = {k: torch.from_numpy(v) for k, v in PatchSampler([pair], patch, 8, seed=12345, subset_prob=0.0,
                                                            augment=False).sample().items()}
    fixed_corners = full.corners(4)
    before = _eval_losses(net, fixed, full, fixed_corners, cfg.seed)
    history, acc = [], np.zeros(len(LOSS_KEYS))
    t0, step, n_acc = time.monotonic(), 0, 0
    last_report = t0
    # checks at 1/n, 2/n, ... of the time; the last one when the budget ends
    check_at = [seconds * (k + 1) / cfg.checks for k in range(cfg.checks - 1)] if score is not None else []
    checks: list[dict] = []
    best: Optional[tuple[float, dict]] = None

    def check() -> None:
        nonlocal best
        net.eval()
        result = {"step": step, "seconds": round(time.monotonic() - t0, 1), **score(net)}
        net.train()
        checks.append(result)
        if best is None or order(result) > best[0]:
            best = (order(result), copy.deepcopy(net.state_dict()))
        got = "diverged" if result["HQNR"] is None else f"{result['HQNR']:.4f}"
        progress(min(1.0, (time.monotonic() - t0) / seconds), f"held-out check at step {step}: HQNR {got}")

    while step < cfg.max_steps:
        elapsed = time.monotonic() - t0
        if check_at and elapsed >= check_at[0]:
            check_at.pop(0)
            check()
        if elapsed >= seconds:
            break  # the final check follows
        if is_cancelled():
            raise Cancelled()
        for g in opt.param_groups:
            g["lr"] = learning_rate(cfg.lr, cfg.lr_min, cfg.warmup_steps, step, elapsed / seconds)
        batch = {k: torch.from_numpy(v) for k, v in sampler.sample().items()}
        red = x0_loss(net, batch)
        cons, spec, spatial = full.loss(net, full.corners(cfg.fr_batch))
        loss = red + cfg.fr_weight * (cons + cfg.spectral_weight * spec + cfg.spatial_weight * spatial)
        if anchor is not None:
            loss = loss + cfg.anchor * sum(((p - p0) ** 2).sum() for p, p0 in zip(params, anchor))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        step += 1
        acc += [red.item(), cons.item(), spec.item(), spatial.item()]
        n_acc += 1
        now = time.monotonic()
        if step % 25 == 0 or now - last_report > 2.0:
            rec = dict(zip(LOSS_KEYS, (acc / n_acc).round(6).tolist()))
            if step % 25 == 0:
                history.append({"step": step, "seconds": round(now - t0, 1), **rec})
                acc, n_acc = np.zeros(len(LOSS_KEYS)), 0
            progress(min(1.0, (now - t0) / seconds), f"fine-tuning step {step}: reduced-scale loss "
                     f"{rec['reduced_x0_l1']:.4f}, full-res consistency {rec['fr_consistency']:.5f}")
            last_report = now
    if score is not None and step > 0:
        check()
    if best is not None:
        net.load_state_dict(best[1])
    after = _eval_losses(net, fixed, full, fixed_corners, cfg.seed)
    record = {"steps": step, "seconds": round(time.monotonic() - t0, 1), "patch": patch,
              "fr_patch": full.patch, "history": history, "losses_before": before, "losses_after": after}
    if checks:
        record["checks"] = checks
    return net.eval(), base_meta, record


def shipped_fast_metadata(path: Path, training: dict) -> dict[str, str]:
    """The metadata of a kept-shipped folder's fast model (the shipped fast model at ``path``): its own,
    with the scene's training record (its sensor travels with it, engine.model_files.scene_model_sensor)."""
    from ..hfreqdiff.export import model_metadata
    from ..hfreqdiff.onnx_weights import read_onnx

    own = read_onnx(path)[1]
    return model_metadata({**{k: v for k, v in own.items() if k not in ("training", "net_config")},
                           "training": {**training, "finetuned_from": path.name,
                                        "base_training": json.loads(own.get("training", "{}") or "{}")}})


def finetune_scene(pan: np.ndarray, ms_lr: np.ndarray, ratio: int, sensor: Sensor, out: str | os.PathLike,
                   cfg: FinetuneConfig = FinetuneConfig(), progress: Optional[ProgressFn] = None,
                   is_cancelled: Optional[Callable[[], bool]] = None, base_model: Optional[Path] = None,
                   source: Optional[dict] = None) -> FinetuneResult:
    """Learn the operator, fine-tune, write the scene model folder ``out``; see the module docstring."""
    import torch

    from .. import __version__
    from ..definitions import bundled_model
    from ..hfreqdiff.export import model_metadata
    from ..hfreqdiff.runtime import load_torch_model

    t_start = time.monotonic()
    report = progress or (lambda f, t: None)
    cancelled = is_cancelled or (lambda: False)
    if cfg.budget_minutes < MIN_BUDGET_MINUTES:
        raise PansharpenError(f"The budget must be at least {MIN_BUDGET_MINUTES} min, got {cfg.budget_minutes}: "
                              "give a larger --budget-minutes.")
    out = check_model_folder(out)
    base_model = Path(base_model) if base_model else bundled_model()
    if not base_model.is_file():
        raise PansharpenError(f"The base model {base_model} is missing: reinstall the plugin/package.")
    pan, ms_lr = central_crop(np.asarray(pan, np.float64), np.asarray(ms_lr, np.float64), ratio, cfg.max_pan)
    if not 3 <= ms_lr.shape[2] <= 8:
        raise PansharpenError(f"HFreqDiff serves 3 to 8 MS bands, the MS has {ms_lr.shape[2]}: select 3-8 bands.")
    held = held_out_cells(pan.shape) if cfg.guard else None
    if cfg.guard and held is None:
        raise PansharpenError(f"The scene ({pan.shape[1]}x{pan.shape[0]} PAN px) is too small for the never-worse "
                              f"check (it needs {MIN_CROP}x{MIN_CROP}): use a larger scene (the command line's "
                              "--no-guard keeps the fine-tuned model unchecked).")
    budget = cfg.budget_minutes * 60.0
    old_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, cfg.threads))
    try:
        def sub(lo: float, hi: float) -> ProgressFn:
            return lambda f, text: report(lo + (hi - lo) * min(max(f, 0.0), 1.0), text)

        frac_op = 0.0 if cfg.fixed_mtf else cfg.padm_fraction
        profile = scene_operator(pan, ms_lr, ratio, sensor, cfg, sub(0.0, frac_op), cancelled)
        t_op = time.monotonic() - t_start
        # at least a few seconds of fine-tuning even when the operator overran a tiny budget
        remaining = max(budget - (time.monotonic() - t_start) - cfg.reserve_seconds, MIN_FINETUNE_SECONDS)
        if cfg.align not in ("pan", "ms"):
            raise PansharpenError(f"Unknown alignment '{cfg.align}': use pan or ms.")
        used = profile if cfg.align == "pan" else replace(profile, shifts=np.zeros_like(profile.shifts))
        guard = NeverWorse(pan, ms_lr, held, ratio, sensor, base_model) if held is not None else None
        if guard is not None:
            report(frac_op, "scoring the shipped model on the held-out cells")
            guard.score_shipped()
            remaining = max(remaining - cfg.checks * guard.seconds_per_check, MIN_FINETUNE_SECONDS)
        net, base_meta, record = finetune_network(pan, ms_lr, ratio, sensor, used, cfg, remaining, base_model,
                                                  sub(frac_op, 0.95), cancelled,
                                                  guard.score_scene_model if guard is not None else None, held,
                                                  guard.check_rank if guard is not None else rank)
        if cancelled():
            raise Cancelled()
        verdict = guard.verdict(record.get("checks", [])) if guard is not None else {"kept": "scene model",
                                                                                   "reason": "no held-out check"}
        kept_shipped = verdict["kept"] == "shipped model"
        if kept_shipped:
            net, _ = load_torch_model(base_model)
        t_ft = time.monotonic() - t_start - t_op
        card = {
            "format": CARD_FORMAT, "created": time.strftime("%Y-%m-%d %H:%M:%S"), "version": __version__,
            "machine": f"{machine_summary()}, torch {torch.__version__}",
            "source": {**(source or {}), "sensor": sensor.name, "ratio": ratio,
                       "crop": f"{pan.shape[1]}x{pan.shape[0]}"},
            "fixed_mtf": cfg.fixed_mtf, "base_model": str(base_model), "config": asdict(cfg),
            "operator": operator_summary(profile), "padm_log": profile.log, "finetune": record,
            "guard": {**verdict, **(guard.summary() if guard is not None else {}),
                      "checks": record.get("checks", [])},
        }
        training = {"finetuned_from": base_model.name, "scene": card["source"], "steps": record["steps"],
                    "fixed_mtf": cfg.fixed_mtf, "losses_after": record["losses_after"], "kept": verdict["kept"],
                    "base_training": json.loads(base_meta.get("training", "{}") or "{}")}
        # the shipped model runs with its own ensemble; a scene model without flips (it learned
        # orientation-specific shifts)
        ensemble = base_meta.get("default_ensemble", "flips") if kept_shipped else "none"
        meta = model_metadata({**{k: v for k, v in base_meta.items() if k not in ("training", "default_ensemble")},
                               "default_ensemble": ensemble, "default_steps": base_meta.get("default_steps", "1"),
                               "training": training, "scene_operator": operator_summary(profile)})
        # a folder that keeps the shipped models runs each preset as without fine-tuning: fast its own model
        # (kept_shipped implies the check ran; it scored "fast" where the fast model is shipped)
        fast_model = ((guard.paths["fast"], shipped_fast_metadata(guard.paths["fast"], training))
                      if kept_shipped and "fast" in guard.presets else None)
        report(0.96, "writing the scene model")

        def make_card(export_s: float) -> dict:
            card["seconds"] = {"operator": round(t_op, 1), "finetune": round(t_ft, 1), "export": round(export_s, 1),
                               "total": round(time.monotonic() - t_start, 1)}
            return card

        card = write_model_folder(out, net, meta, replace(profile, sensor=sensor.name), make_card, fast_model)
        report(1.0, f"scene model written to {out}")
        return FinetuneResult(out, card)
    finally:
        torch.set_num_threads(old_threads)

