"""Distil the flip self-ensemble into one network pass (issue 14).

The teacher is the starting model (``init_from``, frozen); its target is the mean of its x0
predictions over the 4 flips of the input (what ``--quality best`` computes at 4x the network
time). The student (the same architecture, started from the same weights) learns that mean in one
pass, plus a share of the ground-truth x0 loss so that it keeps learning from the truth. Times are
drawn uniformly, with a share at t = 1 exactly: the default one-step sampler only calls the
network there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

FLIPS = ((), (-2,), (-1,), (-2, -1))


@dataclass(frozen=True)
class DistillConfig:
    weight: float = 1.0  # L1 to the teacher's flip-ensemble x0
    truth_weight: float = 0.25  # L1 to the ground-truth x0
    t1_share: float = 0.5  # share of samples drawn at t = 1 (the one-step sampler's only call)

    @classmethod
    def from_dict(cls, values: Optional[dict[str, Any]]) -> "DistillConfig":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values or {}) - known)
        if unknown:
            raise ValueError(f"unknown distill keys {unknown}: known keys are {sorted(known)}")
        return cls(**(values or {}))


def flip_ensemble_x0(net, x_t, t, batch: dict):
    """Mean x0 over the 4 flips of the input, each flipped back (torch; the engine's
    engine.hfreqdiff.method.flip_ensemble on numpy)."""
    import torch

    total = None
    for axes in FLIPS:
        def f(a):
            return torch.flip(a, axes) if axes else a

        x0 = f(net(f(x_t), t, f(batch["band"]), f(batch["pan"]), batch["desc"], batch["band_stats"]))
        total = x0 if total is None else total + x0
    return total / len(FLIPS)


def distill_loss(student, teacher, batch: dict, cfg: DistillConfig):
    """(loss, L1 to the teacher's ensemble, L1 to the truth) on one batch."""
    import torch

    from padm_pansharpening.engine.hfreqdiff.diffusion import q_sample

    x0 = batch["x0"]
    n = x0.shape[0]
    t = torch.rand(n, device=x0.device)
    t = torch.where(torch.rand(n, device=x0.device) < cfg.t1_share, torch.ones_like(t), t)
    x_t = q_sample(x0, torch.randn_like(x0), t[:, None, None, None])
    with torch.no_grad():
        target = flip_ensemble_x0(teacher, x_t, t, batch)
    pred = student(x_t, t, batch["band"], batch["pan"], batch["desc"], batch["band_stats"])
    to_teacher, to_truth = (pred - target).abs().mean(), (pred - x0).abs().mean()
    return cfg.weight * to_teacher + cfg.truth_weight * to_truth, to_teacher, to_truth
