"""What HFreqDiff learns from, shared by training (lab/) and PADM scene fine-tuning
(engine.padm.finetune): the x0 loss, the learning-rate schedule and a differentiable D_s."""

from __future__ import annotations

import numpy as np

Q_BLOCK = 32  # block side of the UIQI in D_s (engine.metrics.d_s)


def learning_rate(lr: float, lr_min: float, warmup_steps: int, step: int, frac: float) -> float:
    """Linear warm-up over ``warmup_steps``, then a cosine from ``lr`` to ``lr_min`` as the run's
    fraction ``frac`` (of its steps or its time budget) goes from 0 to 1."""
    warm = min(1.0, (step + 1) / warmup_steps)
    cos = 0.5 * (1 + np.cos(np.pi * min(frac, 1.0)))
    return warm * (lr_min + (lr - lr_min) * cos)


def x0_loss(net, batch: dict):
    """L1 of the x0 prediction at a uniform random time. ``batch``: tensors x0, band, pan, desc and
    band_stats (used by networks built with them); with ``weight`` (N, 1, H, W), the weighted mean."""
    import torch

    from .diffusion import q_sample

    x0 = batch["x0"]
    t = torch.rand(x0.shape[0], device=x0.device)
    x_t = q_sample(x0, torch.randn_like(x0), t[:, None, None, None])
    pred = net(x_t, t, batch["band"], batch["pan"], batch["desc"], batch["band_stats"])
    weight = batch.get("weight")
    if weight is None:
        return (pred - x0).abs().mean()
    return (weight * (pred - x0).abs()).sum() / (weight.sum() * x0.shape[1]).clamp_min(1.0)


def block_uiqi(a, b, size: int = Q_BLOCK):
    """Mean UIQI of a (N, C, H, W) against b (N, 1 or C, H, W) over distinct size x size blocks,
    per image and channel: (N, C). Differentiable; the same formula as engine.metrics._uqi_blocks."""
    n, c, h, w = a.shape
    ny, nx = h // size, w // size
    a = a[..., :ny * size, :nx * size].reshape(n, c, ny, size, nx, size)
    b = b[..., :ny * size, :nx * size].reshape(n, b.shape[1], ny, size, nx, size)
    ma, mb = a.mean((3, 5), keepdim=True), b.mean((3, 5), keepdim=True)
    da, db = a - ma, b - mb
    k = size * size - 1.0
    caa, cbb, cab = (da * da).sum((3, 5)) / k, (db * db).sum((3, 5)) / k, (da * db).sum((3, 5)) / k
    ma, mb = ma[:, :, :, 0, :, 0], mb[:, :, :, 0, :, 0]
    q = 4.0 * cab * ma * mb / ((caa + cbb) * (ma ** 2 + mb ** 2) + 1e-12)
    return q.mean((2, 3))


def spatial_distortion(crops: dict):
    """Differentiable D_s of fused crops: mean over crops and bands of |Q(F_b, PAN) - Q(MS_up_b, PAN_LR_up)|
    (``crops``: tensors fused, ms_up, pan, pan_low as engine.padm.finetune.FullScale.sample gives them)."""
    target = block_uiqi(crops["ms_up"], crops["pan_low"]).detach()
    return (block_uiqi(crops["fused"], crops["pan"]) - target).abs().mean()
