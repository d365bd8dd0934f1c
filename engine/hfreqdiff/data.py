"""Training pairs for HFreqDiff by Wald's protocol, and random augmented patches from them.

Each training scene's MS becomes the target; its reduced-resolution inputs come from
engine.degradation.wald_degrade with both PAN conventions of the toolbox (imresize bicubic, and
PAN-MTF filter + decimation). Conditioning is computed once per pair on the whole image, with
reflection padding as the tiling pipeline does, then patches are cut from it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Sequence

import numpy as np

from ..datasets import DEMO_RATIO, DEMO_SENSOR, demo_arrays, load_scene
from ..degradation import decimate, mtf_filter, wald_degrade
from ..sensors import Sensor, get_sensor
from .conditioning import SceneStats, build_condition, fit_stats, residual_target

PAN_MODES = ("imresize", "mtf")
_PAD_LR = 12  # LR pixels of reflection padding around a whole training image


@dataclass
class TrainingPair:
    name: str
    ratio: int
    band: np.ndarray  # (B, 3, H, W) float32 conditioning
    pan: np.ndarray  # (2, H, W) float32
    desc: np.ndarray  # (B,) float32
    x0: np.ndarray  # (B, H, W) float32 target residual
    band_stats: np.ndarray  # (B, BAND_STATS) float32 scene statistics of the input pair

    @property
    def n_bands(self) -> int:
        return self.band.shape[0]


def condition_padded(pan: np.ndarray, ms_lr: np.ndarray, ratio: int, stats: SceneStats,
                     pad_lr: int = _PAD_LR) -> dict:
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


def jittered_sensor(sensor: Sensor, n_bands: int, ms_scale: float, pan_scale: float) -> Sensor:
    """The sensor with its MS and PAN MTF Nyquist gains scaled (clipped to 0.05..0.9): a sharper or
    softer degradation than the nominal one, so training sees PAN detail of several strengths."""
    ms = tuple(float(np.clip(g * ms_scale, 0.05, 0.9)) for g in sensor.gains(n_bands))
    return replace(sensor, ms_gnyq=ms, pan_gnyq=float(np.clip(sensor.pan_gnyq * pan_scale, 0.05, 0.9)))


def _cropped(scene, multiple: int) -> tuple[np.ndarray, np.ndarray]:
    """The scene's (MS, PAN) cut so that the MS sides are multiples of ``multiple`` (the ratio it
    will be degraded by), the PAN matching it at the scene's own ratio."""
    h, w = (scene.ms_lr.shape[0] // multiple) * multiple, (scene.ms_lr.shape[1] // multiple) * multiple
    return scene.ms_lr[:h, :w], scene.pan[: h * scene.ratio, : w * scene.ratio]


def wald_pairs(scene_name: str, pan_modes: Iterable[str] = PAN_MODES,
               jitter: Iterable[Sequence[float]] = ()) -> list[TrainingPair]:
    """Reduced-resolution pairs of a real scene: target = the scene's MS. ``jitter``: extra pairs,
    one per (MS gain scale, PAN gain scale), degraded with jittered_sensor and the PAN-MTF mode;
    conditioning always uses the nominal sensor, as inference does."""
    scene = load_scene(scene_name)
    r = scene.ratio
    ms, pan = _cropped(scene, r)
    pairs = []
    for mode in pan_modes:
        ms_lr, pan_lr = wald_degrade(ms, pan, scene.sensor, r, pan_mode=mode)
        pairs.append(make_pair(f"{scene_name}/{mode}", pan_lr, ms_lr, ms, r, scene.sensor))
    for ms_scale, pan_scale in jitter:
        degrade_with = jittered_sensor(scene.sensor, ms.shape[2], ms_scale, pan_scale)
        ms_lr, pan_lr = wald_degrade(ms, pan, degrade_with, r, pan_mode="mtf")
        pairs.append(make_pair(f"{scene_name}/mtf x{ms_scale:g}/x{pan_scale:g}", pan_lr, ms_lr, ms, r, scene.sensor))
    return pairs


def cross_ratio_pairs(scene_name: str, ratio: int, pan_modes: Iterable[str] = PAN_MODES) -> list[TrainingPair]:
    """Pairs of another resolution ratio from a real scene: target = the scene's MS, the PAN
    degraded by the scene's own ratio onto the target grid, the MS degraded by ``ratio`` with the
    sensor's MTF. A ratio-4 scene so yields ratio-2 pairs of its sensor (real PAN, real spectra),
    covering sensor configurations the ratio-2 training scenes alone do not."""
    scene = load_scene(scene_name)
    r = scene.ratio
    if ratio == r:
        return []
    ms, pan = _cropped(scene, ratio)
    ms_lr = decimate(mtf_filter(ms, scene.sensor.gains(ms.shape[2]), ratio), ratio)
    pairs = []
    for mode in pan_modes:
        _, pan_lr = wald_degrade(ms, pan, scene.sensor, r, pan_mode=mode)
        pairs.append(make_pair(f"{scene_name}/r{ratio}/{mode}", pan_lr, ms_lr, ms, ratio, scene.sensor))
    return pairs


def demo_pair(size: int, seed: int) -> TrainingPair:
    """A full-scale pair from the synthetic demo scene, whose HRMS truth is known."""
    pan, ms_lr, hrms = demo_arrays(size, seed)
    return make_pair(f"demo_{pan.shape[0]}_seed{seed}", pan, ms_lr, hrms, DEMO_RATIO, get_sensor(DEMO_SENSOR))


def load_training_pairs(scenes: Iterable[str], demo_seeds: Iterable[int] = (), demo_size: int = 256,
                        pan_modes: Iterable[str] = PAN_MODES,
                        jitter: Iterable[Sequence[float]] = (),
                        extra_ratios: Iterable[int] = ()) -> list[TrainingPair]:
    pairs: list[TrainingPair] = []
    for name in scenes:
        pairs.extend(wald_pairs(name, pan_modes, list(jitter)))
        for ratio in extra_ratios:
            pairs.extend(cross_ratio_pairs(name, int(ratio), pan_modes))
    for seed in demo_seeds:
        pairs.append(demo_pair(demo_size, seed))
    return pairs


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
        band_stats (N, B, BAND_STATS)."""
        pair = self.pairs[self.rng.choice(len(self.pairs), p=self.weights)]
        bands = self._bands(pair.n_bands)
        _, h, w = pair.x0.shape
        r, p = pair.ratio, self.patch
        out: dict[str, list] = {"x0": [], "band": [], "pan": [], "desc": [], "band_stats": []}
        for _ in range(self.batch):
            i = int(self.rng.integers(0, (h - p) // r + 1)) * r
            j = int(self.rng.integers(0, (w - p) // r + 1)) * r
            arrays = [pair.x0[bands, i:i + p, j:j + p], pair.band[bands, :, i:i + p, j:j + p],
                      pair.pan[:, i:i + p, j:j + p]]
            k, flip = 0, False
            if self.augment:
                k = int(self.rng.integers(0, 4))
                flip = self.rng.random() < 0.5
            for n_, a in zip(("x0", "band", "pan"), arrays):
                a = np.rot90(a, k, axes=(-2, -1))
                if flip:
                    a = a[..., ::-1]
                out[n_].append(np.ascontiguousarray(a))
            out["desc"].append(pair.desc[bands])
            out["band_stats"].append(pair.band_stats[bands])
        return {k: np.stack(v).astype(np.float32) for k, v in out.items()}


def residual_stats(pairs: list[TrainingPair]) -> dict[str, float]:
    """Spread of the x0 targets and of the detail channels (to check X0_SCALE)."""
    x0 = np.concatenate([p.x0.ravel() for p in pairs])
    det = np.concatenate([p.band[:, 1].ravel() for p in pairs])
    return {"x0_std": float(x0.std()), "x0_mad": float(np.median(np.abs(x0))) * 1.4826,
            "detail_std": float(det.std())}
