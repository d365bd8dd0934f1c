"""Full-resolution training term of HFreqDiff (training stage 2).

Wald-protocol pairs teach the model at reduced scale only; at full scale its detail then follows the
PAN less than the scene's own MS does (high D_s, seen on Landsat at ratio 2). Stage 2 adds, on
full-resolution crops of the *training* scenes (no reference needed), the losses of a
self-supervised fusion:

* consistency: the one-step sample, degraded by the sensor's MTF operator (the Wald guess of
  engine.padm.mutual.initial_profile), reproduces the LRMS (normalised MSE);
* spectral: the operator's spectral response of the sample reproduces the PAN (normalised MSE);
* spatial: a differentiable D_s — per band, |Q(F_b, PAN) - Q(MS_up_b, PAN_LR_up)| with the UIQI
  over 32 x 32 blocks, exactly the terms of engine.metrics.d_s.

Held-out scenes never enter: the validation scenes are refused as full-resolution scenes too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Q_BLOCK = 32  # block side of the UIQI in D_s (engine.metrics.d_s)


@dataclass
class FullResolutionConfig:
    scenes: list[str]
    patch: int = 96  # PAN px per crop (a multiple of Q_BLOCK)
    batch: int = 2  # crops per step, from one scene
    consistency: float = 1.0
    spectral: float = 0.5
    spatial: float = 1.0

    @classmethod
    def from_dict(cls, d: dict) -> "FullResolutionConfig":
        return cls(**d)


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


class FullResolutionTerm:
    """The stage-2 losses on full-resolution crops of real training scenes."""

    def __init__(self, cfg: FullResolutionConfig, held_out: set[str], seed: int, device: str = "cpu"):
        from ..datasets import load_scene
        from ..padm.finetune import FullScale
        from ..padm.mutual import initial_profile

        leak = set(cfg.scenes) & held_out
        if leak:
            raise ValueError(f"held-out scenes in the full-resolution training list: {sorted(leak)}")
        if cfg.patch % Q_BLOCK:
            raise ValueError(f"full-resolution patch {cfg.patch} is not a multiple of {Q_BLOCK}")
        self.cfg = cfg
        self.rng = np.random.default_rng(seed)
        self.scenes = []
        for i, name in enumerate(cfg.scenes):
            s = load_scene(name)
            r = s.ratio
            h, w = (s.ms_lr.shape[0] // r) * r, (s.ms_lr.shape[1] // r) * r
            ms, pan = s.ms_lr[:h, :w], s.pan[:h * r, :w * r]
            self.scenes.append(FullScale(pan, ms, r, s.sensor, initial_profile(pan, ms, r, s.sensor), cfg.patch,
                                         seed + 1 + i).to(device))

    def losses(self, net) -> dict:
        """{consistency, spectral, spatial, total} on one random batch of crops (tensors)."""
        full = self.scenes[int(self.rng.integers(len(self.scenes)))]
        cons, spec, spatial = full.loss(net, full.corners(self.cfg.batch))
        total = self.cfg.consistency * cons + self.cfg.spectral * spec + self.cfg.spatial * spatial
        return {"consistency": cons, "spectral": spec, "spatial": spatial, "total": total}
