"""Scene statistics and the network's conditioning arrays (numpy), shared by training and inference.

Everything here is pointwise after ``fit_stats`` or uses spatially bounded filters, so a tile
gives the same values as the whole scene away from its borders.

Units: MS band b is normalised as (DN - centre_b) / scale_b (robust percentiles of the scene's
MS); the PAN with its own robust centre/scale. The diffusion variable is the residual
x0 = (HRMS - MS_up) / scale_b * X0_SCALE, so it has roughly unit spread.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from ..degradation import decimate, mtf_filter, upsample_ms
from ..sensors import Sensor
from ..validity import Valid, fit_masks, pick, pick_rows

X0_SCALE = 2.0  # residual / band scale is ~0.3-2 on real scenes: x0 gets roughly unit spread
PAN_COND_CHANNELS = 2  # PAN, PAN high-pass (normalised)
BAND_COND_CHANNELS = 3  # MS_up_b, matched PAN detail (additive, GLP-like), HPM-like detail
BAND_STATS = 2  # per-band scene statistics (SceneStats.band_stats): detail correlation and gain


@dataclass
class SceneStats:
    ms_centre: np.ndarray  # (B,) median of each MS band
    ms_scale: np.ndarray  # (B,) robust spread (p98 - p2) / 4 of each MS band
    pan_centre: float
    pan_scale: float
    match_gain: np.ndarray  # (B,) PAN -> band b histogram matching: std(MS_b) / std(PAN_LP)
    match_offset: np.ndarray  # (B,) mean(MS_b) - gain_b * mean(PAN)
    descriptors: np.ndarray  # (B,) normalised centre wavelengths (Sensor.descriptors)
    lp_gnyq: float  # MTF Nyquist gain used for the PAN low-pass (mean of the MS gains)
    # How the band's detail follows the PAN's one scale down (MS vs PAN low-passed onto the MS
    # grid, both high-passed there): the scene's own evidence for how much PAN detail to inject.
    detail_corr: np.ndarray  # (B,) correlation of the two high-passes
    detail_gain: np.ndarray  # (B,) regression gain of the band's high-pass on the PAN's / match_gain

    @property
    def band_stats(self) -> np.ndarray:
        """(B, BAND_STATS) network input: detail correlation and detail gain (clipped to -1..2)."""
        return np.stack([np.clip(self.detail_corr, -1.0, 1.0), np.clip(self.detail_gain, -1.0, 2.0)], 1)

    def to_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}

    def select(self, bands: np.ndarray) -> "SceneStats":
        """Statistics of a subset of bands (training augmentation)."""
        return SceneStats(self.ms_centre[bands], self.ms_scale[bands], self.pan_centre, self.pan_scale,
                          self.match_gain[bands], self.match_offset[bands], self.descriptors[bands], self.lp_gnyq,
                          self.detail_corr[bands], self.detail_gain[bands])


def _robust(values: np.ndarray) -> tuple[float, float]:
    p2, p50, p98 = np.percentile(values, [2, 50, 98])
    scale = (p98 - p2) / 4.0
    floor = max(1e-3 * abs(p50), 1e-6)
    return float(p50), float(max(scale, floor))


def pan_lowpass(pan: np.ndarray, ratio: int, gnyq) -> np.ndarray:
    """An image (the PAN, or bands with one gain each) at 1/ratio brought back to its grid (MTF
    filter, decimate, interpolate)."""
    return upsample_ms(decimate(mtf_filter(pan, gnyq, ratio), ratio), ratio)


def detail_relation(pan_lr: np.ndarray, ms_lr: np.ndarray, ratio: int, ms_gnyq, pan_gnyq: float,
                    match_gain: np.ndarray, mask: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """(correlation, gain / match_gain) per band between the high-passes of the MS and of the PAN
    at MS resolution: Wald's scale invariance applied to the injection gain, as in context-based
    (regression-gain) GLP. ``pan_lr`` (h, w) and ``ms_lr`` (h, w, B) share the MS grid; ``mask``
    (h, w): the pixels the statistics are taken from (None: all)."""
    h, w = (ms_lr.shape[0] // ratio) * ratio, (ms_lr.shape[1] // ratio) * ratio
    n_bands = ms_lr.shape[2]
    if min(h, w) < 2 * ratio:  # too small to say: a neutral relation
        return np.ones(n_bands), np.ones(n_bands)
    keep = None if mask is None else mask[:h, :w]
    if keep is not None and keep.sum() < 2:
        return np.ones(n_bands), np.ones(n_bands)
    ms_hp = pick_rows((ms_lr[:h, :w] - pan_lowpass(ms_lr[:h, :w], ratio, ms_gnyq)).reshape(-1, n_bands), keep)
    pan_hp = pick_rows((pan_lr[:h, :w] - pan_lowpass(pan_lr[:h, :w], ratio, pan_gnyq)).reshape(-1), keep)
    ms_hp = ms_hp - ms_hp.mean(0)
    pan_hp = pan_hp - pan_hp.mean()
    pan_var = max(float(pan_hp @ pan_hp), 1e-12)
    cov = pan_hp @ ms_hp
    corr = cov / np.sqrt(pan_var * np.maximum((ms_hp * ms_hp).sum(0), 1e-12))
    gain = cov / pan_var / np.maximum(match_gain, 1e-12)
    return corr, gain


def fit_stats(pan: np.ndarray, ms_lr: np.ndarray, ratio: int, sensor: Sensor,
              valid: Optional[Valid] = None) -> SceneStats:
    """Scene-wide statistics from (a sample of) the scene: PAN (H, W), MS (H/r, W/r, B). ``valid``
    (PAN, MS validity; invalid pixels already in-filled): statistics from valid pixels only
    (engine.validity.fit_masks)."""
    pan = np.asarray(pan, np.float64)
    ms_lr = np.asarray(ms_lr, np.float64)
    hr, lr = fit_masks(valid, ratio)
    n_bands = ms_lr.shape[2]
    centre, scale = zip(*(_robust(pick(ms_lr[:, :, b], lr)) for b in range(n_bands)))
    pan_centre, pan_scale = _robust(pick(pan, hr))
    lp_gnyq = float(np.mean(sensor.gains(n_bands)))
    pan_lr = decimate(mtf_filter(pan, lp_gnyq, ratio), ratio)
    pan_lr_std = max(float(pick(pan_lr, lr).std()), 1e-6)
    ms_rows = pick_rows(ms_lr.reshape(-1, n_bands), lr)
    gain = ms_rows.std(0) / pan_lr_std
    offset = ms_rows.mean(0) - gain * float(pick(pan, hr).mean())
    corr, det_gain = detail_relation(pan_lr, ms_lr, ratio, sensor.gains(n_bands), lp_gnyq, gain, lr)
    return SceneStats(np.array(centre), np.array(scale), pan_centre, pan_scale, gain, offset,
                      np.array(sensor.descriptors(n_bands), np.float64), lp_gnyq, corr, det_gain)


def build_condition(pan: np.ndarray, ms_lr: np.ndarray, ratio: int, stats: SceneStats) -> dict:
    """Network conditioning for one image or tile.

    Returns a dict: ``band`` (1, B, 3, H, W) float32, ``pan`` (1, 2, H, W) float32,
    ``desc`` (1, B) float32, ``band_stats`` (1, B, BAND_STATS) float32 and ``ms_up`` (H, W, B)
    float64 DN (for the reconstruction).
    """
    pan = np.asarray(pan, np.float64)
    ms_up = upsample_ms(np.asarray(ms_lr, np.float64), ratio)
    pan_lp = pan_lowpass(pan, ratio, stats.lp_gnyq)
    pan_hp = pan - pan_lp
    s = stats.ms_scale
    floor = np.maximum(0.2 * np.abs(stats.ms_centre), 1e-6)
    # Band by band into float32 (the same float64 arithmetic per element as a whole-stack
    # expression, a fraction of its memory: a 760 px 8-band tile peaked ~0.4 GB higher).
    band = np.empty((1, ms_up.shape[2], 3) + pan.shape, np.float32)
    for b in range(ms_up.shape[2]):
        up = ms_up[:, :, b]
        detail = pan_hp * stats.match_gain[b]  # PAN detail matched to the band (DN)
        matched_lp = pan_lp * stats.match_gain[b] + stats.match_offset[b]
        hpm = up * detail / np.maximum(matched_lp, floor[b])  # multiplicative (HPM-like) detail
        band[0, b, 0] = (up - stats.ms_centre[b]) / s[b]
        band[0, b, 1] = detail / s[b] * X0_SCALE
        band[0, b, 2] = np.clip(hpm / s[b] * X0_SCALE, -20.0, 20.0)
    pan_c = np.stack([(pan - stats.pan_centre) / stats.pan_scale, pan_hp / stats.pan_scale])[None]
    return {"band": band, "pan": pan_c.astype(np.float32),
            "desc": stats.descriptors[None].astype(np.float32),
            "band_stats": stats.band_stats[None].astype(np.float32), "ms_up": ms_up}


def residual_target(hrms: np.ndarray, ms_up: np.ndarray, stats: SceneStats) -> np.ndarray:
    """Training target x0 (1, B, H, W) float32 from the true HRMS (H, W, B)."""
    x0 = (np.asarray(hrms, np.float64) - ms_up) / stats.ms_scale * X0_SCALE
    return np.transpose(x0, (2, 0, 1))[None].astype(np.float32)


def reconstruct(x0: np.ndarray, ms_up: np.ndarray, stats: SceneStats) -> np.ndarray:
    """HRMS in DN (H, W, B) from the sampled x0 (1, B, H, W)."""
    res = np.transpose(np.asarray(x0[0], np.float64), (1, 2, 0))
    return ms_up + res * stats.ms_scale / X0_SCALE
