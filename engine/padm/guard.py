"""Never worse than the shipped model: score a network on part of the scene held out of fine-tuning.

The fine-tuning learns on the top of the scene crop; the bottom rows (``HOLDOUT_FRACTION`` of it,
whole Q-blocks) are held out. A network is scored there by fusing the held-out part exactly as a
user's run would (its sampler steps, its ensemble) and measuring the full-resolution, no-reference
quality HQNR = (1 - D_lambda_K)(1 - D_s) of the reference toolbox (engine.metrics). The shipped
model is scored as each quality preset runs it (best: models/hfreqdiff.onnx with its flip ensemble;
fast: the distilled models/hfreqdiff_fast.onnx, one pass); the scene model, which runs the same at
both presets, is kept only where it beats the higher of those scores. Otherwise the folder keeps the
shipped models, so that each preset runs there as it does without fine-tuning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..sensors import Sensor

HOLDOUT_FRACTION = 0.25
METRIC_BLOCK = 32  # the Q-index block of D_lambda_K and D_s (PAN px)
MIN_HOLDOUT_ROWS = 64  # below this the score is too noisy to decide on


@dataclass
class Split:
    """The scene crop cut into the rows fine-tuning sees and the rows held out for the check."""

    train_pan: np.ndarray
    train_ms: np.ndarray
    hold_pan: Optional[np.ndarray]  # None: the scene is too small to hold rows out
    hold_ms: Optional[np.ndarray]


def split_holdout(pan: np.ndarray, ms_lr: np.ndarray, ratio: int, min_train_rows: int,
                  fraction: float = HOLDOUT_FRACTION) -> Split:
    """Bottom rows held out: a multiple of the metric block and of ratio^2 (the reduced pair's grid),
    at least MIN_HOLDOUT_ROWS, leaving at least ``min_train_rows`` PAN rows to learn on."""
    unit = int(np.lcm(METRIC_BLOCK, ratio * ratio))
    h = pan.shape[0]
    hold = max(MIN_HOLDOUT_ROWS, int(h * fraction) // unit * unit)
    hold = -(-hold // unit) * unit
    if h - hold < min_train_rows or pan.shape[1] < unit:
        return Split(pan, ms_lr, None, None)
    cut = h - hold
    return Split(pan[:cut], ms_lr[:cut // ratio], pan[cut:], ms_lr[cut // ratio:])


def holdout_score(denoiser, steps: int, ensemble: str, split: Split, ratio: int, sensor: Sensor) -> dict:
    """HQNR, D_lambda_K and D_s of the held-out rows fused with ``denoiser`` (x_t, t, cond) -> x0."""
    from ..evaluation import fuse_in_memory
    from ..hfreqdiff.method import HFreqDiffMethod
    from ..metrics import full_resolution_metrics

    method = HFreqDiffMethod(denoiser=denoiser, steps=steps, ensemble=ensemble)
    fused = fuse_in_memory(method, split.hold_pan, split.hold_ms, ratio, sensor)
    m = full_resolution_metrics(fused, split.hold_ms, split.hold_pan, sensor, ratio, METRIC_BLOCK)
    # a diverged network gives NaN: recorded as None, and ranked below every score
    return {k: round(float(m[k]), 5) if np.isfinite(m[k]) else None for k in ("HQNR", "D_lambda_K", "D_s")}


def rank(score: dict) -> float:
    """The HQNR to compare scores by (-inf for a diverged network)."""
    return score["HQNR"] if score.get("HQNR") is not None else float("-inf")


def shipped_presets(base_model: Path) -> dict[str, Path]:
    """The shipped models to beat, by the preset that runs them: both presets where fine-tuning
    starts from the bundled best model (and the fast one is installed), else the given base model."""
    from ..definitions import bundled_model

    if base_model.resolve() == bundled_model("best").resolve() and bundled_model("fast").is_file():
        return {"best": base_model, "fast": bundled_model("fast")}
    return {"best": base_model}


class NeverWorse:
    """The never-worse check of a fine-tuning run: the shipped model's held-out score at each preset,
    the scene model's at each checkpoint, and the verdict (which model the scene folder keeps)."""

    def __init__(self, split: Split, ratio: int, sensor: Sensor, base_model: Path):
        self.split, self.ratio, self.sensor, self.base_model = split, ratio, sensor, Path(base_model)
        self.presets: dict[str, dict] = {}  # preset -> the shipped model's held-out score
        self.shipped: dict = {}  # the highest of them (with its "preset"): what a scene model must beat
        self.seconds_per_check = 0.0
        self.steps = 1

    def score_shipped(self) -> dict:
        """Score the shipped model as each preset runs it (best: its own ensemble; fast: one pass)."""
        import time

        from ..hfreqdiff.runtime import load_torch_model, torch_denoiser_of

        for preset, path in shipped_presets(self.base_model).items():
            net, meta = load_torch_model(path)
            steps = int(meta.get("default_steps", 1) or 1)
            ensemble = (meta.get("default_ensemble") or "flips") if preset == "best" else "none"
            t0 = time.monotonic()
            self.presets[preset] = holdout_score(torch_denoiser_of(net), steps, ensemble, self.split, self.ratio,
                                                 self.sensor)
            if preset == "best":
                self.steps = steps
                # a scene model runs one pass per step, the flip ensemble four
                self.seconds_per_check = (time.monotonic() - t0) / (4 if ensemble == "flips" else 1) * 1.5
        top = max(self.presets, key=lambda k: rank(self.presets[k]))
        self.shipped = {**self.presets[top], "preset": top}
        return self.shipped

    def score_scene_model(self, net) -> dict:
        from ..hfreqdiff.runtime import torch_denoiser_of

        return holdout_score(torch_denoiser_of(net), self.steps, "none", self.split, self.ratio, self.sensor)

    def verdict(self, checks: list[dict]) -> dict:
        """Keep the scene model only where its best checkpoint beats the shipped model's HQNR at every preset."""
        best = max(checks, key=rank) if checks else None
        shipped = f"{self.shipped['HQNR']:.4f} ({self.shipped['preset']} preset)"
        if best is not None and rank(best) > rank(self.shipped):
            return {"kept": "scene model", "best_check": best,
                    "reason": f"held-out HQNR {best['HQNR']:.4f} (step {best['step']}) beats the shipped model's "
                              f"{shipped}"}
        got = "no checkpoint" if best is None else "diverged" if best["HQNR"] is None else f"{best['HQNR']:.4f}"
        return {"kept": "shipped model", "best_check": best,
                "reason": f"fine-tuning did not beat the shipped model on the held-out rows (HQNR {got} against "
                          f"{shipped}): the folder holds the shipped models, each preset runs as without it"}

    def summary(self) -> dict:
        return {"holdout": f"bottom {self.split.hold_pan.shape[0]} of {self.split.hold_pan.shape[0] + self.split.train_pan.shape[0]} "
                           "PAN rows of the crop", "shipped": self.shipped, "shipped_presets": self.presets}
