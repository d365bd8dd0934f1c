"""Classical pansharpening baselines as tile methods (the FusionMethod protocol of engine.methods).

EXP, GSA, MTF-GLP-HPM, BDSD-PC and BT-H follow Vivone et al.'s toolbox (as shipped in
DLPan-Toolbox); weighted Brovey follows GDAL's ``gdal_pansharpen`` (what QGIS's own
Pansharpening tool runs), including GDAL's cubic upsampling of the MS.

Every scene-wide quantity (regression weights, injection gains, means, standard deviations,
percentiles) is estimated once in ``fit`` and then applied pointwise in ``fuse_tile``, so a tiled
run gives the same result as a whole-scene run up to the spatial support of the filters, which
``halo`` covers. On an un-padded whole image, ``fit`` followed by ``fuse_tile`` reproduces the
toolbox's output, edge handling included (interp23tap's circular borders, imfilter's replicate).

With nodata or masked pixels in the sample, ``fit`` gets them in-filled (nearest valid pixel) plus
``valid``, and takes every statistic from valid pixels only (engine.validity.fit_masks).
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
from scipy import ndimage

from .degradation import decimate, imresize_bicubic, mtf_filter, upsample_ms
from .errors import PansharpenError
from .sensors import Sensor
from .validity import Valid, fit_masks, pick, pick_rows

_EPS = np.finfo(np.float64).eps  # MATLAB eps, added to the HPM / BT-H denominators as the toolbox does

# LPfilterGauss.m designs its Gaussian with N = 41 where MTF.m uses N - 1; the same kernel comes
# out of the MTF design at Nyquist gain 0.3 ** ((40/41)**2).
_LPGAUSS_GNYQ = 0.3 ** ((40.0 / 41.0) ** 2)
_MTF_HALF = 20  # half-size of the 41-tap MTF kernels, in PAN pixels

# BT-H haze model for 4-band (B, G, R, NIR) images: fraction of each band's 1st percentile.
_BTH_HAZE_FRACTIONS = (0.95, 0.45, 0.40, 0.05)


# ----------------------------------------------------------------------------- helpers

def _round_up(n: int, ratio: int) -> int:
    return -(-n // ratio) * ratio


def _upsample_halo(ratio: int) -> int:
    """PAN pixels of context the MS upsampling needs: interp23tap reaches < 11*ratio pixels
    (23 taps at each doubling), the generic cubic 2 MS pixels; one more MS pixel for phase."""
    return 12 * ratio


def _lp_gauss(pan: np.ndarray, ratio: int) -> np.ndarray:
    """The toolbox's LPfilterGauss (Gaussian, Nyquist gain 0.3, replicate borders)."""
    return mtf_filter(pan, _LPGAUSS_GNYQ, ratio)


def _lp_starck_murtagh(img: np.ndarray, ratio: int) -> np.ndarray:
    """Low-pass (approximation) part of the undecimated Starck-Murtagh wavelet transform (toolbox
    LPfilterPlusDec before its decimation): ndwt2 with the [1 4 6 4 1]/16 filter, half-point
    symmetric extension, ceil(log2(ratio)) levels, all details zeroed, then inverse transform.

    Each analysis level grows the image by 2 pixels per side (full convolution of the symmetric
    extension); each synthesis level keeps the valid part, so the size comes back to the input's.
    """
    h = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
    levels = int(np.ceil(np.log2(ratio)))
    a = np.asarray(img, dtype=np.float64)
    for _ in range(levels):
        a = np.pad(a, 4, mode="symmetric")
        a = ndimage.correlate1d(ndimage.correlate1d(a, h, axis=1), h, axis=0)[2:-2, 2:-2]
    for _ in range(levels):
        a = ndimage.correlate1d(ndimage.correlate1d(a, h, axis=1), h, axis=0)[2:-2, 2:-2]
    return a


def _spread_ratio(num: float, den: float, scale: float) -> float:
    """num / den for spreads (stds, or variances and covariances); 0 when ``den`` is negligible
    against ``scale``, the size of the same quantity before centring (a flat scene sample has no
    detail to inject and must give no NaN)."""
    return float(num / den) if den != 0.0 and abs(den) > 1e-8 * abs(scale) else 0.0


def _check_tile(pan: np.ndarray, ms_lr: np.ndarray, ratio: int, n_bands: Optional[int]) -> None:
    if pan.ndim != 2 or ms_lr.ndim != 3:
        raise ValueError(f"expected pan (H, W) and ms_lr (h, w, B), got {pan.shape} and {ms_lr.shape}")
    if pan.shape != (ms_lr.shape[0] * ratio, ms_lr.shape[1] * ratio):
        raise ValueError(f"pan {pan.shape} is not ratio {ratio} times ms_lr {ms_lr.shape[:2]}")
    if n_bands is not None and ms_lr.shape[2] != n_bands:
        raise PansharpenError(f"The MS has {ms_lr.shape[2]} bands but the method was fitted on "
                              f"{n_bands}: fit it again on this scene.")


class _Method:
    """Shared plumbing: input checks and the 'fit before fuse' guard."""

    name = ""

    def __init__(self) -> None:
        self._n_bands: Optional[int] = None

    def _fit_inputs(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int) -> tuple[np.ndarray, np.ndarray]:
        pan = np.asarray(pan, dtype=np.float64)
        ms_lr = np.asarray(ms_lr, dtype=np.float64)
        _check_tile(pan, ms_lr, ratio, None)
        self._n_bands = ms_lr.shape[2]
        return pan, ms_lr

    @staticmethod
    def _masks(valid: Optional[Valid], ratio: int) -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        """(PAN-scale, MS-scale) statistic masks; (None, None) when everything is valid."""
        return fit_masks(valid, ratio)

    def _tile_inputs(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int) -> tuple[np.ndarray, np.ndarray]:
        if self._n_bands is None:
            raise RuntimeError(f"{self.name}: call fit() before fuse_tile()")
        pan = np.asarray(pan, dtype=np.float64)
        ms_lr = np.asarray(ms_lr, dtype=np.float64)
        _check_tile(pan, ms_lr, ratio, self._n_bands)
        return pan, ms_lr


# ----------------------------------------------------------------------------- EXP

class EXP(_Method):
    """MS interpolated to the PAN grid (interp23tap; generic cubic for other ratios), no PAN."""

    name = "EXP"

    def halo(self, ratio: int) -> int:
        return _upsample_halo(ratio)

    def fit(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int, sensor: Sensor,
            valid: Optional[Valid] = None) -> None:
        self._fit_inputs(pan, ms_lr, ratio)

    def fuse_tile(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int,
                  origin: tuple[int, int] = (0, 0)) -> np.ndarray:
        _, ms_lr = self._tile_inputs(pan, ms_lr, ratio)
        return upsample_ms(ms_lr, ratio)


# ----------------------------------------------------------------------------- GSA

class GSA(_Method):
    """Gram-Schmidt Adaptive (toolbox GSA.m).

    The intensity is a regression of the low-passed, decimated PAN on the MS at MS scale; each
    band gets the PAN-minus-intensity detail with gain cov(I, MS_b) / var(I). With means removed
    and restored globally this reduces to, pointwise,
        F_b = MS_b + g_b * (PAN - sum_k alpha_k MS_k - c),
    with alpha, g and c fitted on the scene.
    """

    name = "GSA"

    def halo(self, ratio: int) -> int:
        return _upsample_halo(ratio)

    def fit(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int, sensor: Sensor,
            valid: Optional[Valid] = None) -> None:
        pan, ms_lr = self._fit_inputs(pan, ms_lr, ratio)
        hr, lr = self._masks(valid, ratio)
        ms_up = upsample_ms(ms_lr, ratio)
        n_bands = ms_lr.shape[2]
        ms_up_rows = pick_rows(ms_up.reshape(-1, n_bands), hr)
        mu_up = ms_up_rows.mean(axis=0)
        mu_pan = pick(pan, hr).mean()
        # Regression of the low-resolution PAN on the (mean-removed) MS plus a constant.
        pan_lr0 = pick(decimate(_lp_starck_murtagh(pan - mu_pan, ratio), ratio), lr)
        ms_lr_rows = pick_rows(ms_lr.reshape(-1, n_bands), lr)
        ms_lr0 = ms_lr_rows - ms_lr_rows.mean(axis=0)
        design = np.column_stack([ms_lr0, np.ones(len(ms_lr0))])
        coef = np.linalg.lstsq(design, pan_lr0.ravel(), rcond=None)[0]
        self.alpha = coef[:n_bands]
        # Injection gains from the zero-mean intensity at PAN scale.
        ms_up0 = ms_up_rows - mu_up
        intensity0 = ms_up0 @ self.alpha
        intensity0 = intensity0 - intensity0.mean()
        var_i = intensity0.var(ddof=1)
        scale_i = np.mean((ms_up_rows @ self.alpha) ** 2)
        self.gains = np.array([_spread_ratio(np.cov(intensity0, ms_up0[:, b])[0, 1], var_i, scale_i)
                               for b in range(n_bands)])
        # Detail = (PAN - mean PAN) - (I - mean I) = PAN - MS @ alpha - offset.
        self.offset = mu_pan - mu_up @ self.alpha

    def fuse_tile(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int,
                  origin: tuple[int, int] = (0, 0)) -> np.ndarray:
        pan, ms_lr = self._tile_inputs(pan, ms_lr, ratio)
        ms_up = upsample_ms(ms_lr, ratio)
        detail = pan - ms_up @ self.alpha - self.offset
        return ms_up + detail[:, :, None] * self.gains


# ----------------------------------------------------------------------------- MTF-GLP-HPM

_HPM_FLOOR = 0.05
_HPM_MAX_GAIN = 4.0


class MTFGLPHPM(_Method):
    """MTF-tailored Generalised Laplacian Pyramid with High-Pass Modulation (toolbox MTF_GLP_HPM.m).

    Per band the PAN is histogram-matched to the MS (global mean and std, the PAN's std taken after
    the toolbox's Gaussian low-pass), its low-pass version is made with the band's MTF filter,
    decimation and interp23tap, and F_b = MS_b * P_b / (P_b_LP + eps).
    """

    name = "MTF-GLP-HPM"

    def halo(self, ratio: int) -> int:
        # MTF filter, then decimation and interpolation back to the PAN grid.
        return _round_up(_MTF_HALF + _upsample_halo(ratio) + ratio, ratio)

    def fit(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int, sensor: Sensor,
            valid: Optional[Valid] = None) -> None:
        pan, ms_lr = self._fit_inputs(pan, ms_lr, ratio)
        hr, _ = self._masks(valid, ratio)
        ms_up = pick_rows(upsample_ms(ms_lr, ratio).reshape(-1, ms_lr.shape[2]), hr)
        self.mtf_gains = list(sensor.gains(ms_lr.shape[2]))
        self.pan_mean = pick(pan, hr).mean()
        self.ms_mean = ms_up.mean(axis=0)
        pan_lp = pick(_lp_gauss(pan, ratio), hr)
        std_lp = pan_lp.std(ddof=1)
        self.scale = np.array([_spread_ratio(s, std_lp, pan_lp.mean()) for s in ms_up.std(axis=0, ddof=1)])

    def fuse_tile(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int,
                  origin: tuple[int, int] = (0, 0)) -> np.ndarray:
        pan, ms_lr = self._tile_inputs(pan, ms_lr, ratio)
        ms_up = upsample_ms(ms_lr, ratio)
        pan_eq = (pan - self.pan_mean)[:, :, None] * self.scale + self.ms_mean
        pan_lp = upsample_ms(decimate(mtf_filter(pan_eq, self.mtf_gains, ratio), ratio), ratio)
        # The toolbox divides as is. Where histogram matching pushes the PAN of a dark band (e.g. a
        # DOS-corrected coastal band) to zero or below, that ratio explodes (seen: +-47000 on WV3),
        # so the denominator gets a floor of 5% of the band mean and the modulation is kept within
        # +-HPM_MAX_GAIN. Neither guard is reached on the toolbox vectors (gains -1.24 .. 3.43).
        floor = np.maximum(_HPM_FLOOR * np.abs(self.ms_mean), _EPS)
        gain = pan_eq / np.maximum(pan_lp + _EPS, floor)
        return ms_up * np.clip(gain, -_HPM_MAX_GAIN, _HPM_MAX_GAIN)


# ----------------------------------------------------------------------------- BDSD-PC

class BDSDPC(_Method):
    """Band-Dependent Spatial Detail with physical constraints (toolbox BDSD_PC.m).

    At reduced scale (MS upsampled then reduced by imresize, MTF-filtered; PAN MTF-filtered and
    decimated) each band's detail is fitted as gamma_0 * PAN + sum_k gamma_k * MS_k with
    gamma_0 >= 0 and gamma_k <= 0 (constrained least squares, the toolbox's lsqlin); at full
    scale F_b = MS_b + gamma_0 * PAN + sum_k gamma_k * MS_k, pointwise.
    """

    name = "BDSD-PC"

    def halo(self, ratio: int) -> int:
        return _upsample_halo(ratio)

    def fit(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int, sensor: Sensor,
            valid: Optional[Valid] = None) -> None:
        from scipy.optimize import lsq_linear

        pan, ms_lr = self._fit_inputs(pan, ms_lr, ratio)
        _, lr = self._masks(valid, ratio)
        n_bands = ms_lr.shape[2]
        ms_up = upsample_ms(ms_lr, ratio)
        target = imresize_bicubic(ms_up, 1.0 / ratio)  # the toolbox's reduced-scale "ground truth"
        ms_red = mtf_filter(target, sensor.gains(n_bands), ratio)
        pan_red = decimate(mtf_filter(pan, sensor.pan_gnyq, ratio), ratio)
        if pan_red.shape != target.shape[:2]:
            raise ValueError(f"BDSD-PC: reduced PAN {pan_red.shape} and MS {target.shape[:2]} differ")
        design = pick_rows(np.column_stack([pan_red.ravel(), ms_red.reshape(-1, n_bands)]), lr)
        lower = np.r_[0.0, np.full(n_bands, -np.inf)]
        upper = np.r_[np.inf, np.zeros(n_bands)]
        gamma = np.empty((n_bands + 1, n_bands))
        for b in range(n_bands):
            rhs = pick_rows((target[:, :, b] - ms_red[:, :, b]).ravel(), lr)
            sol = lsq_linear(design, rhs, bounds=(lower, upper), method="bvls", tol=1e-14)
            gamma[:, b] = sol.x
        self.gamma = gamma  # (1 + B, B): row 0 PAN, rows 1.. MS bands

    def fuse_tile(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int,
                  origin: tuple[int, int] = (0, 0)) -> np.ndarray:
        pan, ms_lr = self._tile_inputs(pan, ms_lr, ratio)
        ms_up = upsample_ms(ms_lr, ratio)
        return ms_up + pan[:, :, None] * self.gamma[0] + ms_up @ self.gamma[1:]


# ----------------------------------------------------------------------------- BT-H

class BTH(_Method):
    """Brovey transform with haze correction (toolbox BroveyRegHazeMin.m).

    A haze level L_b is subtracted from each band (4 bands: fractions of the 1st percentile;
    otherwise the band minimum), the intensity is a regression of the low-passed PAN on the MS,
    the PAN is matched to the intensity's mean and std, and F_b = (MS_b - L_b)+ * P / (I + eps) + L_b.
    """

    name = "BT-H"

    def halo(self, ratio: int) -> int:
        return _upsample_halo(ratio)

    def fit(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int, sensor: Sensor,
            valid: Optional[Valid] = None) -> None:
        pan, ms_lr = self._fit_inputs(pan, ms_lr, ratio)
        hr, _ = self._masks(valid, ratio)
        n_bands = ms_lr.shape[2]
        ms_up = pick_rows(upsample_ms(ms_lr, ratio).reshape(-1, n_bands), hr)
        if n_bands == 4:
            # MATLAB/Octave prctile: linear interpolation at (k - 0.5) / n ("hazen").
            p1 = np.percentile(ms_up, 1.0, axis=0, method="hazen")
            self.haze = np.asarray(_BTH_HAZE_FRACTIONS) * p1
        else:
            self.haze = ms_up.min(axis=0)
        pan_lp = pick_rows(_lp_gauss(pan, ratio).ravel(), hr)
        self.alpha = np.linalg.lstsq(ms_up, pan_lp, rcond=None)[0]
        intensity = (ms_up - self.haze) @ self.alpha
        self.pan_lp_mean = pan_lp.mean()
        self.pan_scale = _spread_ratio(intensity.std(ddof=1), pan_lp.std(ddof=1), pan_lp.mean())
        self.intensity_mean = intensity.mean()

    def fuse_tile(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int,
                  origin: tuple[int, int] = (0, 0)) -> np.ndarray:
        pan, ms_lr = self._tile_inputs(pan, ms_lr, ratio)
        ms_dehazed = upsample_ms(ms_lr, ratio) - self.haze
        intensity = ms_dehazed @ self.alpha
        pan_eq = (pan - self.pan_lp_mean) * self.pan_scale + self.intensity_mean
        return np.maximum(ms_dehazed, 0.0) * (pan_eq / (intensity + _EPS))[:, :, None] + self.haze


# ----------------------------------------------------------------------------- GDAL Brovey

def _gdal_cubic_kernel(x: np.ndarray) -> np.ndarray:
    """GDAL's cubic convolution kernel (Keys, a = -0.5)."""
    ax = np.abs(x)
    return np.where(ax <= 1.0, ax * ax * (1.5 * ax - 2.5) + 1.0,
                    np.where(ax <= 2.0, ax * ax * (-0.5 * ax + 2.5) - 4.0 * ax + 2.0, 0.0))


def _gdal_cubic_taps(in_len: int, ratio: int) -> tuple[np.ndarray, np.ndarray]:
    """Tap indices and weights, each (in_len*ratio, 5), of GDAL's cubic RasterIO upsampling
    along one axis.

    As GDAL's convolution resampler: output pixel j samples the input at p = (j + 0.5) / ratio
    (pixel-edge coordinates, grids sharing their outer edge), taps n in
    [floor(p - 1.5), floor(p + 2.5)), weight K(n + 0.5 - p); taps outside the image are dropped
    and the remaining weights renormalised to sum 1.
    """
    p = (np.arange(in_len * ratio) + 0.5) / ratio
    taps = np.floor(p - 1.5).astype(np.int64)[:, None] + np.arange(5)[None, :]
    stop = np.floor(p + 2.5).astype(np.int64)[:, None]
    valid = (taps < stop) & (taps >= 0) & (taps < in_len)
    wts = np.where(valid, _gdal_cubic_kernel(taps + 0.5 - p[:, None]), 0.0)
    return np.clip(taps, 0, in_len - 1), wts / wts.sum(axis=1, keepdims=True)


def _resample_axis(img: np.ndarray, taps: np.ndarray, wts: np.ndarray, axis: int) -> np.ndarray:
    out = 0.0
    for k in range(taps.shape[1]):
        shape = [1] * img.ndim
        shape[axis] = -1
        out = out + np.take(img, taps[:, k], axis=axis) * wts[:, k].reshape(shape)
    return out


def gdal_cubic_upsample(ms_lr: np.ndarray, ratio: int) -> np.ndarray:
    """MS (h, w, B) upsampled to the PAN grid as gdal_pansharpen does by default (cubic RasterIO):
    a horizontal pass, then a vertical one."""
    ms_lr = np.asarray(ms_lr, dtype=np.float64)
    out = _resample_axis(ms_lr, *_gdal_cubic_taps(ms_lr.shape[1], ratio), axis=1)
    return _resample_axis(out, *_gdal_cubic_taps(ms_lr.shape[0], ratio), axis=0)


class WeightedBrovey(_Method):
    """GDAL's weighted Brovey (gdal_pansharpen / QGIS Pansharpening):
    F_b = MS_b * PAN / sum_k w_k MS_k, MS upsampled with GDAL's cubic resampling.

    ``weights``: None for GDAL's default (1/B each), a sequence of B weights, or "fit" for
    non-negative least-squares weights of the MTF-degraded PAN on the MS at MS scale.
    """

    name = "Brovey"

    def __init__(self, weights: Union[None, str, Sequence[float]] = None) -> None:
        super().__init__()
        if isinstance(weights, str) and weights != "fit":
            raise PansharpenError(f"Unknown Brovey weights '{weights}': give B numbers, 'fit' or nothing.")
        self.requested = weights
        self.weights: Optional[np.ndarray] = None

    def halo(self, ratio: int) -> int:
        return 3 * ratio  # the cubic kernel reaches 2 MS pixels

    def fit(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int, sensor: Sensor,
            valid: Optional[Valid] = None) -> None:
        pan, ms_lr = self._fit_inputs(pan, ms_lr, ratio)
        n_bands = ms_lr.shape[2]
        if self.requested is None:
            self.weights = np.full(n_bands, 1.0 / n_bands)
        elif isinstance(self.requested, str):
            from scipy.optimize import nnls

            _, lr = self._masks(valid, ratio)
            pan_lr = decimate(mtf_filter(pan, sensor.pan_gnyq, ratio), ratio)
            self.weights = nnls(pick_rows(ms_lr.reshape(-1, n_bands), lr), pick_rows(pan_lr.ravel(), lr))[0]
        else:
            w = np.asarray(self.requested, dtype=np.float64)
            if w.shape != (n_bands,):
                raise PansharpenError(f"{len(w)} Brovey weights given for a {n_bands}-band MS: "
                                      f"give one weight per band.")
            self.weights = w

    def fuse_tile(self, pan: np.ndarray, ms_lr: np.ndarray, ratio: int,
                  origin: tuple[int, int] = (0, 0)) -> np.ndarray:
        pan, ms_lr = self._tile_inputs(pan, ms_lr, ratio)
        ms_up = gdal_cubic_upsample(ms_lr, ratio)
        pseudo_pan = ms_up @ self.weights
        safe = np.where(pseudo_pan != 0.0, pseudo_pan, 1.0)
        factor = np.where(pseudo_pan != 0.0, pan / safe, 0.0)  # GDAL: factor 0 where pseudo-PAN is 0
        return ms_up * factor[:, :, None]


CLASSICAL_METHODS = {cls.name: cls for cls in (EXP, WeightedBrovey, GSA, MTFGLPHPM, BDSDPC, BTH)}
