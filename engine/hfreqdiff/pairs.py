"""Training pairs of HFreqDiff and random patches from them, as scene fine-tuning
(engine.padm.finetune) and training (lab/) both make them.

Conditioning is computed once per pair on the whole image, with reflection padding as the tiling
pipeline does, then patches are cut from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..sensors import Sensor
from .conditioning import SceneStats, build_condition, fit_stats, residual_target

PAD_LR = 12  # LR pixels of reflection padding around a whole training image


@dataclass
class TrainingPair:
    name: str
    ratio: int
    band: np.ndarray  # (B, 3, H, W) float32 conditioning
    pan: np.ndarray  # (2, H, W) float32
    desc: np.ndarray  # (B,) float32
    x0: np.ndarray  # (B, H, W) float32 target residual
    band_stats: np.ndarray  # (B, BAND_STATS) float32 scene statistics of the input pair
    weight: Optional[np.ndarray] = None  # (H, W) float32 weight of each pixel in the x0 loss (None: 1)

    @property
    def n_bands(self) -> int:
        return self.band.shape[0]


def condition_padded(pan: np.ndarray, ms_lr: np.ndarray, ratio: int, stats: SceneStats,
                     pad_lr: int = PAD_LR) -> dict:
    """build_condition on a reflection-padded copy, cropped back (no wrap-around at the borders)."""
    p = min(pad_lr, ms_lr.shape[0] - 1, ms_lr.shape[1] - 1)
    ms_p = np.pad(ms_lr, ((p, p), (p, p), (0, 0)), mode="reflect")
    pan_p = np.pad(pan, p * ratio, mode="reflect")
    cond = build_condition(pan_p, ms_p, ratio, stats)
    q = p * ratio
    h, w = pan.shape
    return {"band": cond["band"][..., q:q + h, q:q + w], "pan": cond["pan"][..., q:q + h, q:q + w],
            "desc": cond["desc"], "band_stats": cond["band_stats"], "ms_up": cond["ms_up"][q:q + h, q:q + w]}


def make_pair(name: str, pan: np.ndarray, ms_lr: np.ndarray, hrms: np.ndarray, ratio: int,
              sensor: Sensor) -> TrainingPair:
    """A training pair from inputs (pan (H, W), ms_lr (H/r, W/r, B)) and the truth hrms (H, W, B)."""
    stats = fit_stats(pan, ms_lr, ratio, sensor)
    cond = condition_padded(pan, ms_lr, ratio, stats)
    x0 = residual_target(hrms, cond["ms_up"], stats)
    return TrainingPair(name, ratio, cond["band"][0], cond["pan"][0], cond["desc"][0], x0[0], cond["band_stats"][0])


class PatchSampler:
    """Random batches: one pair per batch (so all samples share the band count), random
    ratio-aligned patches, flips and rot90, and random band subsets (3..B bands, order kept).
    ``augment=False`` keeps the patches' orientation (scene fine-tuning: a flip would reverse the
    scene's misregistration)."""

    def __init__(self, pairs: list[TrainingPair], patch: int, batch: int, seed: int = 0,
                 subset_prob: float = 0.5, min_bands: int = 3, augment: bool = True):
        if patch % 4:
            raise ValueError("patch size must be a multiple of 4")
        self.pairs = [p for p in pairs if min(p.x0.shape[1:]) >= patch]
        if not self.pairs:
            raise ValueError("no training image is as large as one patch")
        area = np.array([p.x0.shape[1] * p.x0.shape[2] for p in self.pairs], np.float64)
        self.weights = np.sqrt(area) / np.sqrt(area).sum()  # big scenes more often, not overwhelmingly
        self.patch, self.batch = patch, batch
        self.subset_prob, self.min_bands, self.augment = subset_prob, min_bands, augment
        self.rng = np.random.default_rng(seed)

    def _bands(self, n: int) -> np.ndarray:
        if n <= self.min_bands or self.rng.random() >= self.subset_prob:
            return np.arange(n)
        k = int(self.rng.integers(self.min_bands, n + 1))
        return np.sort(self.rng.choice(n, k, replace=False))

    def sample(self) -> dict[str, np.ndarray]:
        """Batch dict: x0 (N, B, P, P), band (N, B, 3, P, P), pan (N, 2, P, P), desc (N, B),
        band_stats (N, B, BAND_STATS); weight (N, 1, P, P) where the pair has one."""
        pair = self.pairs[self.rng.choice(len(self.pairs), p=self.weights)]
        bands = self._bands(pair.n_bands)
        _, h, w = pair.x0.shape
        r, p = pair.ratio, self.patch
        out: dict[str, list] = {"x0": [], "band": [], "pan": [], "desc": [], "band_stats": []}
        if pair.weight is not None:
            out["weight"] = []
        for _ in range(self.batch):
            i = int(self.rng.integers(0, (h - p) // r + 1)) * r
            j = int(self.rng.integers(0, (w - p) // r + 1)) * r
            arrays = [pair.x0[bands, i:i + p, j:j + p], pair.band[bands, :, i:i + p, j:j + p],
                      pair.pan[:, i:i + p, j:j + p]]
            if pair.weight is not None:
                arrays.append(pair.weight[None, i:i + p, j:j + p])
            k, flip = 0, False
            if self.augment:
                k = int(self.rng.integers(0, 4))
                flip = self.rng.random() < 0.5
            for n_, a in zip(("x0", "band", "pan", "weight"), arrays):
                a = np.rot90(a, k, axes=(-2, -1))
                if flip:
                    a = a[..., ::-1]
                out[n_].append(np.ascontiguousarray(a))
            out["desc"].append(pair.desc[bands])
            out["band_stats"].append(pair.band_stats[bands])
        return {k: np.stack(v).astype(np.float32) for k, v in out.items()}
