"""Train HFreqDiff on Wald-protocol pairs; resumable; validates on held-out scenes.

    python -m lab.train --config lab/configs/hfreqdiff_train.json

Every ``checkpoint_minutes`` the state (network, EMA, optimiser, sampler RNG, elapsed time, log)
goes to the checkpoint file; a restart with the same config resumes from it. Training stops
after ``max_minutes`` of training time (summed over restarts) or ``max_steps``; then the EMA
network is validated (quality vs DDIM steps, and the classical baselines), saved to ``out_pt``,
exported to ``out_onnx`` and a model card is written.

``"device"``: cpu (default), cuda or auto; on a GPU, ``"prefetch"`` batches are made ahead in a
background thread (stage 2, ``"full_resolution"``, included).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from padm_pansharpening.engine.hfreqdiff.objective import learning_rate, x0_loss
from padm_pansharpening.engine.machine import machine_summary

from .train_config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]  # the repository root (paths in configs are relative to it)
VAL_KEYS = ("Q2n", "SAM", "ERGAS", "Q", "SCC", "PSNR")


def _path(p: str) -> Path:
    q = Path(p)
    return q if q.is_absolute() else ROOT / q


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


# --- validation ------------------------------------------------------------------------------

def rr_inputs(name: str) -> dict:
    """Reduced-resolution (Wald, toolbox convention) inputs and ground truth of a scene."""
    from .scenes import load_scene, wald_pair

    scene = load_scene(name)
    _, gt, pan_lr, ms_lr = wald_pair(scene)
    return {"name": name, "pan": pan_lr, "ms_lr": ms_lr, "gt": gt, "ratio": scene.ratio, "sensor": scene.sensor,
            "bits": scene.bits}


def fuse_padded(method, pan: np.ndarray, ms_lr: np.ndarray, ratio: int, sensor, pad_lr: int) -> np.ndarray:
    """Fit on the image, fuse it as one tile reflection-padded by ``pad_lr`` MS pixels (as the
    tiling pipeline pads scene borders), crop the padding away."""
    method.fit(pan, ms_lr, ratio, sensor)
    p = min(pad_lr, ms_lr.shape[0] - 1, ms_lr.shape[1] - 1)
    ms_p = np.pad(ms_lr, ((p, p), (p, p), (0, 0)), mode="reflect")
    pan_p = np.pad(pan, p * ratio, mode="reflect")
    q = p * ratio
    out = method.fuse_tile(pan_p, ms_p, ratio, (-q, -q))
    return out[q:q + pan.shape[0], q:q + pan.shape[1]]


def rr_metrics(fused: np.ndarray, d: dict) -> dict[str, float]:
    """Toolbox reduced-resolution metrics (crop 21); tiny images: no crop, only the metrics that fit."""
    from padm_pansharpening.engine import metrics

    fused = np.clip(fused, 0, 2 ** d["bits"] - 1) if d["bits"] <= 16 else fused
    h, w = d["gt"].shape[:2]
    crop = 21 if min(h, w) >= 32 + 42 else 0
    if min(h, w) - 2 * crop >= 32:
        return metrics.reduced_resolution_metrics(fused, d["gt"], d["ratio"], d["bits"], crop)
    return {"SAM": metrics.sam(d["gt"], fused), "ERGAS": metrics.ergas(d["gt"], fused, d["ratio"]),
            "PSNR": metrics.psnr(d["gt"], fused, d["bits"])}


def validate(make_method: Callable[[], object], data: list[dict], pad_lr: int) -> dict[str, dict[str, float]]:
    out = {}
    for d in data:
        m = make_method()
        t0 = time.time()
        fused = fuse_padded(m, d["pan"], d["ms_lr"], d["ratio"], d["sensor"], pad_lr)
        out[d["name"]] = {**rr_metrics(fused, d), "seconds": time.time() - t0}
    return out


def mean_metrics(table: dict[str, dict[str, float]]) -> dict[str, float]:
    keys = {k for v in table.values() for k in v}
    return {k: float(np.mean([v[k] for v in table.values() if k in v])) for k in sorted(keys)}


def _fmt(table: dict[str, dict[str, float]]) -> str:
    return "; ".join(f"{n}: " + " ".join(f"{k}={v[k]:.4f}" for k in VAL_KEYS if k in v) for n, v in table.items())


# --- training --------------------------------------------------------------------------------

def _lr(cfg: TrainConfig, step: int, frac: float) -> float:
    return learning_rate(cfg.lr, cfg.lr_min, cfg.warmup_steps, step, frac)


def initialised_from(net, loaded, init: Path):
    """``net`` with the weights of the trained network ``loaded``. The two must have the same
    architecture, except that ``net`` may add the band statistics (their layer starts at zero, so
    the result computes what ``loaded`` did)."""
    base = {k: v for k, v in net.config.items() if k != "band_stats"}
    if loaded.config != net.config and not (loaded.config == base and net.uses_band_stats):
        raise ValueError(f"init_from {init} has the network {loaded.config}, the config says {net.config}")
    missing, unexpected = net.load_state_dict(loaded.state_dict(), strict=False)
    if unexpected or any(not (k.startswith("embed.stats.") or k == "embed.s_freq") for k in missing):
        raise ValueError(f"init_from {init}: weights do not match ({missing + unexpected})")
    return net


def training_device(name: str) -> str:
    """'cpu', 'cuda' or 'auto' (cuda when torch sees a GPU) -> the torch device to train on."""
    import torch

    if name not in ("auto", "cpu", "cuda"):
        raise ValueError(f"unknown training device '{name}': use auto, cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("training device 'cuda' asked for but torch sees no GPU")
    return "cuda" if name != "cpu" and torch.cuda.is_available() else "cpu"


def machine_description(device: str) -> str:
    import torch

    return machine_summary(torch.cuda.get_device_name(0) if device == "cuda" else None)


def prefetched(sample: Callable[[], dict], depth: int):
    """Batches from ``sample`` made ``depth`` ahead in a background thread (keeps a GPU fed);
    depth 0: made on demand (then a resumed run draws exactly the batches it would have)."""
    if depth <= 0:
        while True:
            yield sample()
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)

    def work() -> None:
        while True:
            q.put(sample())

    threading.Thread(target=work, daemon=True).start()
    while True:
        yield q.get()


def train(cfg: TrainConfig | dict, fresh: bool = False) -> dict:
    cfg = cfg if isinstance(cfg, TrainConfig) else TrainConfig.from_dict(cfg)
    import copy

    import torch

    from padm_pansharpening.engine.hfreqdiff.conditioning import X0_SCALE
    from padm_pansharpening.engine.hfreqdiff.pairs import PatchSampler
    from .training_pairs import load_training_pairs, residual_stats
    from padm_pansharpening.engine.hfreqdiff.export import export_onnx, model_metadata, save_torch
    from .full_resolution import FullResolutionConfig, FullResolutionTerm
    from padm_pansharpening.engine.hfreqdiff.method import HFreqDiffMethod
    from padm_pansharpening.engine.hfreqdiff.runtime import load_torch_model, torch_denoiser_of
    from padm_pansharpening.engine.hfreqdiff.network import build_network, count_parameters

    torch.set_num_threads(int(cfg.threads))
    dev = training_device(cfg.device)
    this_machine = machine_description(dev)
    if dev == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed patch size: let cuDNN pick its fastest kernels
    leak = set(cfg.train_scenes) & set(cfg.val_scenes)
    if leak:
        raise ValueError(f"held-out scenes in the training list: {sorted(leak)}")
    torch.manual_seed(cfg.seed)
    t_load = time.time()
    pairs = load_training_pairs(cfg.train_scenes, cfg.demo_seeds, cfg.demo_size,
                                jitter=cfg.degradation_jitter,
                                extra_ratios=cfg.extra_ratios)
    log(f"{len(pairs)} training pairs in {time.time() - t_load:.1f}s: " + ", ".join(
        f"{p.name} {p.n_bands}b r{p.ratio} {p.x0.shape[1]}x{p.x0.shape[2]}" for p in pairs))
    log(f"target spread: {residual_stats(pairs)}")
    sampler = PatchSampler(pairs, cfg.patch, cfg.batch, seed=cfg.seed)
    val_data = [rr_inputs(n) for n in cfg.val_scenes]
    fr_cfg = FullResolutionConfig.from_dict(cfg.full_resolution) if cfg.full_resolution else None
    full_res = FullResolutionTerm(fr_cfg, set(cfg.val_scenes), cfg.seed, dev) if fr_cfg else None
    if full_res:
        log(f"full-resolution term on {', '.join(fr_cfg.scenes)}: {fr_cfg}")

    net, init_meta = build_network(cfg.net), {}
    if cfg.init_from:  # stage 2: start from a trained model (its EMA weights)
        init = _path(cfg.init_from)
        if not init.exists():
            raise FileNotFoundError(f"init_from {init} does not exist: run the stage-1 config first")
        loaded, init_meta = load_torch_model(init)
        net = initialised_from(net, loaded, init).train()
    net = net.to(dev)
    distill, teacher = None, None
    if cfg.distill is not None:
        from .distill import DistillConfig, distill_loss

        if not cfg.init_from or cfg.full_resolution:
            raise ValueError("distill needs init_from (the teacher is the model it starts from) and no full_resolution")
        distill = DistillConfig.from_dict(cfg.distill)
        teacher = copy.deepcopy(net).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        log(f"distilling the flip ensemble of {cfg.init_from}: {distill}")
    ema = copy.deepcopy(net).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    state = {"step": 0, "elapsed": 0.0, "history": [], "val": [], "baselines": None}
    ckpt_path = _path(cfg.checkpoint)
    if ckpt_path.exists() and not fresh:
        ck = torch.load(str(ckpt_path), map_location="cpu", weights_only=False)
        net.load_state_dict(ck["net"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        sampler.rng.bit_generator.state = ck["sampler_rng"]
        torch.set_rng_state(ck["torch_rng"])
        log(f"resumed from {ckpt_path} at step {state['step']} ({state['elapsed'] / 60:.1f} min trained)")
    log(f"network: {count_parameters(net)} parameters, config {net.config}; device {this_machine}; "
        f"torch threads {torch.get_num_threads()}")

    def save_checkpoint() -> None:
        ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"net": net.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "state": state,
                    "sampler_rng": sampler.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                    "config": cfg.to_dict()}, str(tmp))
        tmp.replace(ckpt_path)
        log(f"checkpoint {ckpt_path} (step {state['step']})")

    def hfd(steps: int, seed: int = 0) -> Callable[[], object]:
        return lambda: HFreqDiffMethod(denoiser=torch_denoiser_of(ema, dev), steps=steps, seed=seed, ensemble="none")

    if state["baselines"] is None:
        from padm_pansharpening.engine.methods import get_method

        state["baselines"] = {name: validate(lambda n=name: get_method(n), val_data, cfg.val_pad_lr)
                              for name in cfg.baselines}
        for name, table in state["baselines"].items():
            log(f"baseline {name}: {_fmt(table)}")

    max_s = cfg.max_minutes * 60.0
    last_ckpt = last_val = time.time()
    losses: list[float] = []
    batches = prefetched(sampler.sample, int(cfg.prefetch))
    start_step = state["step"]
    t_mark = time.time()
    while state["elapsed"] < max_s and state["step"] < cfg.max_steps:
        batch = {k: torch.from_numpy(v).to(dev, non_blocking=True) for k, v in next(batches).items()}
        lr = _lr(cfg, state["step"], max(state["elapsed"] / max_s, state["step"] / cfg.max_steps))
        for g in opt.param_groups:
            g["lr"] = lr
        if distill is not None:
            loss, to_teacher, to_truth = distill_loss(net, teacher, batch, distill)
            parts = [loss.item(), to_teacher.item(), to_truth.item()]
        else:
            loss = x0_loss(net, batch)
            parts = [loss.item()]
        if full_res is not None:
            fr = full_res.losses(net)
            loss = loss + fr["total"]
            parts += [fr[k].item() for k in ("consistency", "spectral", "spatial")]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        opt.step()
        decay = min(cfg.ema, (1 + state["step"]) / (10 + state["step"]))
        with torch.no_grad():
            for pe, pn in zip(ema.parameters(), net.parameters()):
                pe.mul_(decay).add_(pn.detach(), alpha=1 - decay)
        losses.append(parts)
        if state["step"] == start_step and this_machine not in state.setdefault("machines", []):
            state["machines"].append(this_machine)  # the machines that trained (a run may resume elsewhere)
        if state["step"] == start_step and dev not in state.setdefault("devices", []):
            state["devices"].append(dev)
        state["step"] += 1
        now = time.time()
        state["elapsed"] += now - t_mark
        t_mark = now
        if state["step"] % cfg.log_every == 0:
            mean = np.mean(losses, axis=0)
            rec = {"step": state["step"], "loss": float(mean[0]), "lr": lr, "minutes": state["elapsed"] / 60}
            if full_res is not None:
                rec.update(zip(("fr_consistency", "fr_spectral", "fr_spatial"), map(float, mean[1:])))
            if distill is not None:
                rec.update(zip(("to_teacher", "to_truth"), map(float, mean[1:])))
            state["history"].append(rec)
            log(f"step {rec['step']} loss {rec['loss']:.4f} lr {lr:.2e} {rec['minutes']:.1f} min"
                + (f" | full-res consistency {mean[1]:.4f} spectral {mean[2]:.4f} D_s {mean[3]:.4f}"
                   if full_res is not None else "")
                + (f" | to teacher {mean[1]:.4f} to truth {mean[2]:.4f}" if distill is not None else ""))
            losses = []
        if now - last_val > cfg.val_minutes * 60:
            table = validate(hfd(cfg.val_steps), val_data, cfg.val_pad_lr)
            state["val"].append({"step": state["step"], "steps": cfg.val_steps, "scenes": table,
                                 "mean": mean_metrics(table)})
            log(f"val (EMA, {cfg.val_steps} DDIM steps) step {state['step']}: {_fmt(table)}")
            last_val = t_mark = time.time()  # validation time is not training time
        if now - last_ckpt > cfg.checkpoint_minutes * 60:
            save_checkpoint()
            last_ckpt = t_mark = time.time()
    save_checkpoint()
    log(f"training done: {state['step']} steps, {state['elapsed'] / 60:.1f} min")

    # Final: quality vs DDIM steps, seed spread, then save and export.
    steps_table = {}
    for s in cfg.final_steps:
        steps_table[str(s)] = validate(hfd(s), val_data, cfg.val_pad_lr)
        log(f"final EMA {s} steps: {_fmt(steps_table[str(s)])}")
    seed_table = validate(hfd(cfg.default_steps, seed=1), val_data, cfg.val_pad_lr)
    log(f"final EMA {cfg.default_steps} steps seed 1: {_fmt(seed_table)}")
    report = {
        "parameters": count_parameters(net), "net": net.config, "steps_trained": state["step"],
        "train_minutes": state["elapsed"] / 60, "threads": torch.get_num_threads(),
        "machine": " + ".join(state.get("machines") or [this_machine]),
        "devices": state.get("devices") or [dev],
        "train_scenes": cfg.train_scenes, "demo_seeds": cfg.demo_seeds,
        "val_scenes": cfg.val_scenes, "patch": cfg.patch, "batch": cfg.batch,
        "baselines": state["baselines"], "quality_vs_steps": steps_table, "seed1": seed_table,
        "val_history": state["val"], "loss_history": state["history"], "default_steps": cfg.default_steps,
        "x0_scale": X0_SCALE, "val_pad_lr": cfg.val_pad_lr,
        "init_from": cfg.init_from, "init_training": init_meta.get("training"),
        "full_resolution": cfg.full_resolution, "distill": cfg.distill,
    }
    training_meta = {"steps_trained": state["step"], "train_minutes": round(state["elapsed"] / 60, 1),
                     **({"stage1": json.loads(init_meta["training"])} if "training" in init_meta else {}),
                     "train_scenes": cfg.train_scenes, "held_out": cfg.val_scenes,
                     **({"distilled": {"teacher": cfg.init_from, "flips": 4, **cfg.distill}} if cfg.distill is not None else {}),
                     "val_mean": mean_metrics(steps_table[str(cfg.default_steps)])}
    meta = model_metadata({"default_steps": str(cfg.default_steps), "training": training_meta})
    pt = save_torch(ema, _path(cfg.out_pt), meta)
    onnx_path = export_onnx(ema, _path(cfg.out_onnx), meta)
    log(f"wrote {pt} and {onnx_path} ({onnx_path.stat().st_size / 1e6:.2f} MB)")
    report_path = _path(cfg.report)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=1))
    card = _path(cfg.model_card)
    card.write_text(model_card(report, cfg))
    log(f"wrote {report_path} and {card}")
    return report


def _table_md(rows: dict[str, dict[str, float]], keys: Sequence[str]) -> str:
    lines = ["| | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, v in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{v[k]:.4f}" if k in v else "-" for k in keys) + " |")
    return "\n".join(lines)


def _stage1_lines(report: dict) -> str:
    """The runs this one continues, newest first (each model's metadata nests its parent's)."""
    if not report.get("init_from"):
        return ""
    s1 = json.loads(report["init_training"]) if isinstance(report.get("init_training"), str) else {}
    done = (f"{s1['steps_trained']} steps, {s1['train_minutes']} min on Wald pairs of "
            f"{', '.join(s1.get('train_scenes', [])) or 'the scenes its card names'}" if s1 else "see its card")
    lines = f"- Starts from `{report['init_from']}` ({done}); this run continues from its EMA weights.\n"
    earlier = s1.get("stage1")
    while isinstance(earlier, dict):
        lines += f"  That model continued one of {earlier['steps_trained']} steps, {earlier['train_minutes']} min.\n"
        earlier = earlier.get("stage1")
    return lines


def _full_res_words(report: dict) -> str:
    fr = report.get("full_resolution")
    if not fr:
        return ""
    return (f" + full-resolution terms on {', '.join(fr['scenes'])} (lab.full_resolution: "
            f"{fr.get('patch', 96)} px crops, consistency x{fr.get('consistency', 1.0)} + spectral "
            f"x{fr.get('spectral', 0.5)} under the sensor MTF operator, differentiable D_s x{fr.get('spatial', 1.0)})")


def _loss_words(report: dict) -> str:
    if not report.get("distill"):
        return "L1 loss on x0"
    from .distill import DistillConfig

    d = DistillConfig.from_dict(report["distill"])
    return (f"distilled from the flip ensemble of `{report['init_from']}` (lab.distill: L1 to the teacher's mean x0 "
            f"over the 4 input flips x{d.weight} + L1 to the true x0 x{d.truth_weight}, "
            f"{round(100 * d.t1_share)}% of the samples at t = 1, where the one-step sampler calls it)")


def _extra_pairs_words(cfg: TrainConfig) -> str:
    words = ""
    if cfg.degradation_jitter:
        scales = ", ".join(f"MS x{m:g} / PAN x{p:g}" for m, p in cfg.degradation_jitter)
        words += f", with more pairs degraded with jittered MTF gains ({scales}; data.jittered_sensor)"
    if cfg.extra_ratios:
        ratios = "/".join(str(r) for r in cfg.extra_ratios)
        words += f", with ratio-{ratios} pairs from the scenes of other ratios (data.cross_ratio_pairs)"
    return words


def _steps_words(report: dict) -> str:
    if len(report["quality_vs_steps"]) < 2:
        return ("This run validated the default only; quality vs DDIM steps is on the model card of the "
                "first run it continues.")
    return ("Against ground truth the one-step x0 prediction (the posterior-mean regression) scores best "
            "and each further DDIM step trades reference fidelity for sampled detail; more steps with "
            "several seeds (`samples`) give the per-pixel spread.")


def _band_stats_words(report: dict) -> str:
    if not report["net"].get("band_stats"):
        return ""
    return (", and the band's scene statistics: correlation and regression gain of its high-pass on the "
            "PAN's one scale down, conditioning.detail_relation")


def _threads_words(report: dict) -> str:
    # Reports written before "devices" existed name the GPU only in the machine string.
    on_gpu = "cuda" in report["devices"] if "devices" in report else "GPU" in report["machine"]
    return "trained on the GPU" if on_gpu else f"{report['threads']} torch threads"


def model_card(report: dict, cfg: TrainConfig) -> str:
    """Markdown model card from the measured training report."""
    keys = ("Q2n", "SAM", "ERGAS", "SCC", "PSNR")
    d = str(report["default_steps"])
    per_scene = {}
    for scene in report["val_scenes"]:
        for name, table in report["baselines"].items():
            per_scene[f"{scene} / {name}"] = table[scene]
        per_scene[f"{scene} / HFreqDiff ({d} steps)"] = report["quality_vs_steps"][d][scene]
    means = {s: mean_metrics(t) for s, t in report["quality_vs_steps"].items()}
    steps_rows = {f"{s} steps": {**means[s], "seconds": sum(v["seconds"] for v in t.values())}
                  for s, t in report["quality_vs_steps"].items()}
    steps_rows["(GSA)"] = mean_metrics(report["baselines"]["gsa"]) if "gsa" in report["baselines"] else {}
    q2n = {s: m["Q2n"] for s, m in means.items() if "Q2n" in m}
    best = (f"best mean Q2n at {max(q2n, key=q2n.get)} steps" if q2n
            else "no held-out scene is large enough for Q2n")
    return f"""# HFreqDiff model card

Files: `{cfg.out_onnx}` (EMA weights, ONNX opset 17, dynamic N/B/H/W, metadata and network config in
`metadata_props`: ONNX Runtime runs it and torch rebuilds its network from it for fine-tuning).
The torch file `{cfg.out_pt}` is a lab copy and does not ship.
Generated by `python -m lab.train --config {cfg.config_path or 'lab/configs/hfreqdiff_train.json'}`
(numbers below are measured by that run).

## Model
- Conditional diffusion of the high-frequency residual x0 = (HRMS - MS_up) / scale_b * {report['x0_scale']}
  (x0 prediction, cosine schedule, deterministic DDIM; default {d} steps).
- Band-aware U-Net, {report['parameters']:,} parameters ({report['net']}): bands folded into the batch with
  shared weights, band descriptor = normalised centre wavelength (engine.sensors), CFB gated
  cross-modulation of PAN/MS condition features at 3 scales, BAMB frequency-split modulation from
  (timestep, descriptor{_band_stats_words(report)}), band attention at the bottleneck + band-mean
  mixing at full resolution. Serves 3 to 8 bands, ratios 2 and 4.

## Training
- Data: Wald-protocol pairs (engine.degradation.wald_degrade, both PAN conventions: imresize bicubic and
  PAN-MTF + decimation) of {', '.join(report['train_scenes'])}{_extra_pairs_words(cfg)}; synthetic demo scenes (seeds
  {report['demo_seeds']}, full-scale pairs with known truth). Random {report['patch']}x{report['patch']} patches, batch
  {report['batch']}, flips, rot90, random band subsets (3..B).
- Held-out (never trained on): {', '.join(report['val_scenes'])}.
{_stage1_lines(report)}- {report['steps_trained']} optimiser steps, {report['train_minutes']:.1f} min of training on {report['machine']},
  {_threads_words(report)}. {_loss_words(report)}{_full_res_words(report)}, AdamW, cosine LR, EMA weights shipped.

## Validation (reduced resolution, toolbox metrics, crop 21; inputs reflection-padded by {report['val_pad_lr']} MS px)

Mean over held-out scenes, quality vs DDIM steps (seconds = total fusion time of the held-out scenes):

{_table_md(steps_rows, keys + ("seconds",))}

Default steps = {d}; {best}. {_steps_words(report)}

Per scene (HFreqDiff at {d} steps vs classical baselines):

{_table_md(per_scene, keys)}

Seed 1 instead of 0 at {d} steps (mean): {json.dumps({k: round(v, 4) for k, v in mean_metrics(report['seed1']).items()})}

Tiny scenes (wv3_zpnn_example*, 28x32 MS at reduced resolution) have no crop and only SAM/ERGAS/PSNR.
"""


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.train",
                                 description="Train the HFreqDiff denoiser (resumable) and export it.")
    ap.add_argument("--config", default=str(ROOT / "lab" / "configs" / "hfreqdiff_train.json"), help="training config JSON")
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint and start over")
    ap.add_argument("--max-minutes", type=float, help="override the config's training time budget")
    ap.add_argument("--threads", type=int, help="override the config's torch thread count")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override the config's training device")
    args = ap.parse_args(argv)
    try:
        cfg = TrainConfig.from_json(args.config)
    except (OSError, ValueError, TypeError) as exc:
        print(f"error: {args.config}: {exc}", file=sys.stderr)
        return 2
    if args.max_minutes is not None:
        cfg.max_minutes = args.max_minutes
    if args.threads is not None:
        cfg.threads = args.threads
    if args.device is not None:
        cfg.device = args.device
    if cfg.config_path is None:
        path = Path(args.config).resolve()
        cfg.config_path = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else args.config
    log(f"config {args.config}: {json.dumps(cfg.to_dict())}")
    train(cfg, fresh=args.fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
