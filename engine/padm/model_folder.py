"""The scene model folder of PADM fine-tuning: the destination check, the atomic write (models,
operator profile, card) and the card in Markdown (operator, losses, the never-worse check, times)."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..definitions import FAST_MODEL_STEM
from ..errors import PansharpenError
from .profile import DegradationProfile


def check_model_folder(out: str | os.PathLike) -> Path:
    """The folder must not exist yet (or be empty) and its parent must be writable."""
    out = Path(out).expanduser().absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PansharpenError(f"{out} already exists and is not an empty folder: choose a new --out folder.")
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PansharpenError(f"Cannot create {parent} ({exc.strerror}): choose another --out folder.") from exc
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PansharpenError(f"Folder {parent} is not writable: choose another --out folder.")
    return out


def write_model_folder(out: Path, net, meta: dict[str, str], profile: DegradationProfile,
                       make_card: Callable[[float], dict], fast_model: Optional[tuple[Path, dict[str, str]]] = None) -> dict:
    """Write everything into a hidden sibling folder, then rename it to ``out``; nothing is left on
    failure or interruption. ``make_card(export_seconds)`` gives the card, written last.
    ``fast_model`` (an .onnx file, the metadata it gets): also written as the folder's model of the
    fast preset (definitions.FAST_MODEL_STEM), where the folder keeps the shipped models."""
    from ..hfreqdiff.export import export_onnx, save_torch
    from .profile import write_profile

    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.part")
    t0 = time.monotonic()
    try:
        tmp.mkdir()
        save_torch(net, tmp / "model.pt", meta)
        export_onnx(net, tmp / "model.onnx", meta)
        if fast_model is not None:
            copy_onnx_with_metadata(fast_model[0], tmp / f"model{FAST_MODEL_STEM}.onnx", fast_model[1])
        write_profile(tmp / "profile.json", profile)
        card = make_card(time.monotonic() - t0)
        (tmp / "card.json").write_text(json.dumps(card, indent=1))
        (tmp / "card.md").write_text(card_markdown(card))
        if out.exists():
            out.rmdir()  # empty (checked before)
        os.replace(tmp, out)
    except OSError as exc:
        raise PansharpenError(f"Cannot write the model folder {out} ({exc.strerror}): choose another --out.") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return card


def copy_onnx_with_metadata(src: Path, dst: Path, meta: dict[str, str]) -> None:
    """``src`` with its metadata replaced by ``meta`` (the weights and the network config kept)."""
    import onnx

    model = onnx.load(str(src))
    props = {p.key: p.value for p in model.metadata_props}
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, {**{k: v for k, v in props.items() if k == "net_config"}, **meta})
    onnx.save(model, str(dst))


def operator_summary(profile: DegradationProfile) -> dict:
    """Kernel widths (PAN px, along the principal axes) and orientation, shifts, spectral response."""
    def moments(k: np.ndarray) -> dict:
        t = np.arange(k.shape[0]) - (k.shape[0] - 1) / 2
        x, y = np.meshgrid(t, t)
        mx, my = (k * x).sum(), (k * y).sum()
        cxy = (k * (x - mx) * (y - my)).sum()
        c = np.array([[(k * (x - mx) ** 2).sum(), cxy], [cxy, (k * (y - my) ** 2).sum()]])
        ev, vec = np.linalg.eigh(c)
        return {"sigma_major": round(float(np.sqrt(ev[1])), 3), "sigma_minor": round(float(np.sqrt(max(ev[0], 0))), 3),
                "angle_deg": round(float(np.degrees(np.arctan2(vec[1, 1], vec[0, 1])) % 180), 1)}

    return {"kernels": [moments(k) for k in profile.kernels], "pan_kernel": moments(profile.pan_kernel),
            "shifts_lr_px": np.round(profile.shifts, 4).tolist(),
            "spectral_weights": np.round(profile.spectral_weights, 5).tolist(),
            "spectral_bias": round(float(profile.spectral_bias), 4)}


def guard_markdown(guard: dict) -> str:
    """The never-worse section of the card: which model the folder keeps, and the held-out scores."""
    if not guard.get("shipped"):
        return f"## Never worse\n\nKept: the {guard.get('kept', 'scene model')} ({guard.get('reason', '')}).\n"
    presets = guard.get("shipped_presets") or {"best": guard["shipped"]}
    label = {"best": "shipped model, best preset (flip ensemble)", "fast": "shipped model, fast preset (distilled, one pass)"}
    rows = [f"| {label.get(k, k)} | {sh['HQNR']:.4f} | {sh['D_lambda_K']:.4f} | {sh['D_s']:.4f} |" for k, sh in presets.items()]
    rows += [f"| scene model at step {c['step']} ({c['seconds']:.0f} s) | " + " | ".join(
        "diverged" if c[k] is None else f"{c[k]:.4f}" for k in ("HQNR", "D_lambda_K", "D_s")) + " |"
        for c in guard.get("checks", [])]
    return (f"## Never worse\n\nKept: **the {guard['kept']}**: {guard['reason']}.\n"
            f"Held out of fine-tuning: the {guard['holdout']}, scored at full resolution (no reference).\n\n"
            "| model | HQNR | D_lambda_K | D_s |\n|---|---|---|---|\n" + "\n".join(rows) + "\n")


def card_markdown(card: dict) -> str:
    op, tr, t = card["operator"], card["finetune"], card["seconds"]
    sensor = card["source"]["sensor"]
    geometry = ("the PAN (learned shifts applied)" if card["config"]["align"] == "pan"
                else "the MS (learned shifts not applied)")
    rows = "\n".join(f"| {i + 1} | {k['sigma_major']:.2f} | {k['sigma_minor']:.2f} | {k['angle_deg']:.0f} | "
                     f"{s[0]:+.3f} | {s[1]:+.3f} | {w:.4f} |"
                     for i, (k, s, w) in enumerate(zip(op["kernels"], op["shifts_lr_px"], op["spectral_weights"])))
    b, a = tr["losses_before"], tr["losses_after"]
    pk = op["pan_kernel"]
    if card.get("guard", {}).get("kept") == "shipped model":
        runs = ("The folder keeps the shipped models (fine-tuning did not beat them, below): `--quality fast` "
                f"runs `model{FAST_MODEL_STEM}.onnx` (the distilled model, one pass), `--quality best` `model.onnx` "
                "with its flip ensemble, as without fine-tuning.")
    else:
        runs = ("The model runs without the flip ensemble, at either quality preset: it was fine-tuned on "
                "unflipped patches of this scene.")
    return f"""# Scene model ({'fixed sensor MTF, ablation' if card['fixed_mtf'] else 'HFreqDiff + PADM fine-tuning'})

Scene: PAN `{card['source'].get('pan', '-')}`, MS `{card['source'].get('ms', '-')}`; sensor {card['source']['sensor']},
ratio {card['source']['ratio']}, learned on {card['source']['crop']} (PAN px, central crop).
Base model: `{card['base_model']}`. Created {card['created']} with padm_pansharpening {card['version']}
on {card['machine']}.

Use: `python -m padm_pansharpening fuse --method hfreqdiff --model <this folder> ...`
(the folder carries its sensor, {sensor}: the band descriptors come from it, and a run given another
sensor is refused). {runs} Output geometry: {geometry}.

## Degradation operator ({'sensor MTF guess' if card['fixed_mtf'] else 'learned by PADM'})

Kernel widths in PAN pixels along the principal axes, shifts in MS pixels (x right, y down),
PAN ≈ Σ w_b·MS_b {op['spectral_bias']:+.3f}. PAN kernel: {pk['sigma_major']:.2f} x {pk['sigma_minor']:.2f},
{pk['angle_deg']:.0f}°. Full kernels in `profile.json` (with the PADM per-round log).

| band | sigma major | sigma minor | angle ° | dx | dy | w |
|---|---|---|---|---|---|---|
{rows}

## Fine-tuning

{tr['steps']} steps in {tr['seconds']:.0f} s (reduced-scale patches {tr['patch']} px, full-resolution crops
{tr['fr_patch']} px). Losses on a fixed batch, before -> after:

| loss | before | after |
|---|---|---|
| reduced-scale x0 L1 | {b['reduced_x0_l1']:.4f} | {a['reduced_x0_l1']:.4f} |
| full-res consistency D(fused) vs MS (normalised MSE) | {b['fr_consistency']:.5f} | {a['fr_consistency']:.5f} |
| full-res spectral Σw·fused+c vs PAN (normalised MSE) | {b['fr_spectral']:.5f} | {a['fr_spectral']:.5f} |
| full-res spatial (differentiable D_s) | {b.get('fr_spatial', float('nan')):.4f} | {a.get('fr_spatial', float('nan')):.4f} |

{guard_markdown(card.get('guard', {}))}
Time: operator {t['operator']:.0f} s, fine-tuning {t['finetune']:.0f} s, export {t['export']:.0f} s,
total {t['total']:.0f} s (budget {card['config']['budget_minutes']} min, {card['config']['threads']} threads).
"""
