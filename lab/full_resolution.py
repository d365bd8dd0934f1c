"""Full-resolution training term of HFreqDiff (training stage 2).

Wald-protocol pairs teach the model at reduced scale only; at full scale its detail then follows the
PAN less than the scene's own MS does (high D_s, seen on Landsat at ratio 2). Stage 2 adds, on
full-resolution crops of the *training* scenes (no reference needed), the losses of a
self-supervised fusion:

* consistency: the one-step sample, degraded by the sensor's MTF operator (the Wald guess of
  engine.padm.mutual.initial_profile), reproduces the LRMS (normalised MSE);
* spectral: the operator's spectral response of the sample reproduces the PAN (normalised MSE);
* spatial: a differentiable D_s — per band, |Q(F_b, PAN) - Q(MS_up_b, PAN_LR_up)| with the UIQI
  over 32 x 32 blocks, exactly the terms of engine.metrics.d_s (engine.hfreqdiff.objective).

Held-out scenes never enter: the validation scenes are refused as full-resolution scenes too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from padm_pansharpening.engine.hfreqdiff.objective import Q_BLOCK

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


class FullResolutionTerm:
    """The stage-2 losses on full-resolution crops of real training scenes."""

    def __init__(self, cfg: FullResolutionConfig, held_out: set[str], seed: int, device: str = "cpu"):
        from .scenes import load_scene
        from padm_pansharpening.engine.padm.finetune import FullScale
        from padm_pansharpening.engine.padm.mutual import initial_profile

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
