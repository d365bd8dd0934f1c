"""Training pairs for HFreqDiff by Wald's protocol from the shared scenes (and the demo scene).

Each training scene's MS becomes the target; its reduced-resolution inputs come from
engine.degradation.wald_degrade with both PAN conventions of the toolbox (imresize bicubic, and
PAN-MTF filter + decimation); pairs and patches are engine.hfreqdiff.pairs's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Sequence

import numpy as np

from padm_pansharpening.engine.degradation import decimate, mtf_filter, wald_degrade
from padm_pansharpening.engine.demo import DEMO_RATIO, DEMO_SENSOR, demo_arrays
from padm_pansharpening.engine.hfreqdiff.pairs import TrainingPair, make_pair
from padm_pansharpening.engine.sensors import Sensor, get_sensor

from .scenes import load_scene

PAN_MODES = ("imresize", "mtf")


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


def residual_stats(pairs: list[TrainingPair]) -> dict[str, float]:
    """Spread of the x0 targets and of the detail channels (to check X0_SCALE)."""
    x0 = np.concatenate([p.x0.ravel() for p in pairs])
    det = np.concatenate([p.band[:, 1].ravel() for p in pairs])
    return {"x0_std": float(x0.std()), "x0_mad": float(np.median(np.abs(x0))) * 1.4826,
            "detail_std": float(det.std())}
