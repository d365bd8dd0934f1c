"""Degradation and interpolation operators of the reference pansharpening toolbox.

Reproduces, in numpy/scipy, the definitions of Vivone et al.'s toolbox (as shipped in DLPan-Toolbox):
``genMTF``/``MTF``/``MTF_PAN`` (Gaussian MTF filters designed with ``fwind1`` and a Kaiser window),
``interp23tap`` (23-tap polynomial interpolator), ``resize_images`` (Wald protocol) and MATLAB's
``imresize`` (bicubic with antialiasing, nearest). Images are float64, (H, W) or (H, W, B).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence, Union

import numpy as np
from scipy import ndimage, signal

from .errors import PansharpenError
from .sensors import Sensor

MTF_TAPS = 41  # toolbox filter size N
KAISER_BETA = 0.5  # MATLAB kaiser(N) default

# Half of the symmetric 23-tap interpolator of interp23tap (centre tap first, odd taps are zero).
_CDF23_HALF = 2.0 * np.array([0.5, 0.305334091185, 0, -0.072698593239, 0, 0.021809577942, 0,
                              -0.005192756653, 0, 0.000807762146, 0, -0.000060081482])
CDF23 = np.concatenate([_CDF23_HALF[:0:-1], _CDF23_HALF])


# ----------------------------------------------------------------------------- MTF filters

def _fspecial_gaussian(n: int, sigma: float) -> np.ndarray:
    """MATLAB fspecial('gaussian', n, sigma): tiny values cut at eps*max, normalised to sum 1."""
    x = np.arange(n) - (n - 1) / 2.0
    h = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2.0 * sigma ** 2))
    h[h < np.finfo(float).eps * h.max()] = 0.0
    return h / h.sum()


def _huang_window(w1: np.ndarray) -> np.ndarray:
    """2-D circular window from a symmetric 1-D window by rotation (fwind1's Huang method).

    The 1-D window, sampled on t in [-1, 1], is linearly interpolated at radius sqrt(t1^2 + t2^2);
    radii beyond 1 get zero.
    """
    n = len(w1)
    t = (np.arange(n) - (n - 1) / 2.0) * (2.0 / (n - 1))
    r = np.hypot(t[None, :], t[:, None])
    w = np.interp(r, t, w1)
    w[r > t[-1]] = 0.0
    return w


def _fsamp2(hd: np.ndarray) -> np.ndarray:
    """Frequency-sampling design (MATLAB fsamp2): the filter whose DFT samples are ``hd``.

    ``hd`` is the desired response on the centred frequency grid of freqspace (odd size here).
    """
    h = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(hd)))
    h = np.rot90(h, 2)
    return h.real


def fwind1(hd: np.ndarray, win1d: np.ndarray) -> np.ndarray:
    """MATLAB fwind1(Hd, win) for a square Hd of the window's length (the toolbox's use)."""
    if hd.shape != (len(win1d), len(win1d)):
        raise ValueError("fwind1: Hd must be N x N with N the window length")
    return _fsamp2(hd) * _huang_window(np.asarray(win1d, dtype=float))


@lru_cache(maxsize=64)
def _mtf_kernel_cached(gnyq: float, ratio: int, n: int) -> np.ndarray:
    fcut = 1.0 / ratio
    sigma = np.sqrt(((n - 1) * (fcut / 2.0)) ** 2 / (-2.0 * np.log(gnyq)))
    hd = _fspecial_gaussian(n, sigma)
    hd = hd / hd.max()
    h = fwind1(hd, np.kaiser(n, KAISER_BETA))
    h.setflags(write=False)
    return h


def mtf_kernel(gnyq: float, ratio: int, n: int = MTF_TAPS) -> np.ndarray:
    """The toolbox's MTF-matched filter (n x n) for a band with Nyquist gain ``gnyq``.

    A Gaussian with gain ``gnyq`` at the Nyquist frequency of the low-resolution grid, normalised
    to peak 1 and taken as a frequency response, designed into an FIR filter by fwind1 with a
    Kaiser window (beta 0.5). Its DC gain is ~1.
    """
    if not 0.0 < gnyq < 1.0:
        raise ValueError(f"MTF Nyquist gain must be in (0, 1), got {gnyq}")
    if ratio < 1:
        raise ValueError(f"ratio must be a positive integer, got {ratio}")
    return _mtf_kernel_cached(float(gnyq), int(ratio), int(n)).copy()


def _per_band(img: np.ndarray, fn) -> np.ndarray:
    img = np.asarray(img, dtype=np.float64)
    if img.ndim == 2:
        return fn(img, 0)
    if img.ndim != 3:
        raise ValueError(f"expected an (H, W) or (H, W, B) array, got shape {img.shape}")
    return np.stack([fn(img[:, :, b], b) for b in range(img.shape[2])], axis=2)


def mtf_filter(img: np.ndarray, gnyq: Union[float, Sequence[float]], ratio: int) -> np.ndarray:
    """Filter each band with its MTF kernel (imfilter 'replicate': correlation, edge replication)."""
    img = np.asarray(img, dtype=np.float64)
    n_bands = 1 if img.ndim == 2 else img.shape[2]
    gains = [float(gnyq)] * n_bands if np.isscalar(gnyq) else [float(g) for g in gnyq]
    if len(gains) != n_bands:
        raise ValueError(f"{len(gains)} MTF gains given for {n_bands} bands")
    return _per_band(img, lambda band, b: _correlate_replicate(band, mtf_kernel(gains[b], ratio)))


def _correlate_replicate(band: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """imfilter(band, kernel, 'replicate') for an odd square kernel, by FFT (the 41x41 MTF
    kernels are not separable; direct correlation is ~20x slower)."""
    r = kernel.shape[0] // 2
    padded = np.pad(band, r, mode="edge")
    return signal.fftconvolve(padded, kernel[::-1, ::-1], mode="valid")


# ----------------------------------------------------------------------------- resampling

def decimate(img: np.ndarray, ratio: int) -> np.ndarray:
    """Keep one pixel in ``ratio`` per axis at the toolbox phase (imresize(..., 1/ratio, 'nearest')).

    MATLAB's nearest resize by 1/r samples input pixel round((r+1)/2) (1-based), i.e. 0-based r//2.
    """
    off = ratio // 2
    return np.asarray(img, dtype=np.float64)[off::ratio, off::ratio]


def _is_power_of_two(ratio: int) -> bool:
    return ratio >= 1 and (ratio & (ratio - 1)) == 0


def interp23tap(img_lr: np.ndarray, ratio: int) -> np.ndarray:
    """The toolbox's interp23tap: repeated 2x zero-insertion + 23-tap filtering, circular borders.

    The first doubling places the samples at odd positions, later ones at even positions, so LR
    pixel i lands on HR pixel ratio*i + ratio//2 (the phase of :func:`decimate`). The toolbox
    loops ratio/2 times; we loop log2(ratio) times, which is the same for ratio 2 and 4.
    """
    if not _is_power_of_two(ratio):
        raise ValueError(f"interp23tap needs a power-of-2 ratio, got {ratio}")
    out = np.asarray(img_lr, dtype=np.float64)
    squeeze = out.ndim == 2
    if squeeze:
        out = out[:, :, None]
    for step in range(int(round(np.log2(ratio)))):
        h, w, b = out.shape
        up = np.zeros((2 * h, 2 * w, b))
        phase = 1 if step == 0 else 0
        up[phase::2, phase::2, :] = out
        up = ndimage.correlate1d(up, CDF23, axis=0, mode="wrap")
        out = ndimage.correlate1d(up, CDF23, axis=1, mode="wrap")
    return out[:, :, 0] if squeeze else out


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic kernel, a = -0.5 (MATLAB imresize 'bicubic')."""
    ax = np.abs(x)
    ax2, ax3 = ax ** 2, ax ** 3
    return ((1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2)))


def _resize_matrix(in_len: int, out_len: int, scale: float, antialias: bool = True) -> np.ndarray:
    """(out_len, in_len) weights of MATLAB imresize 'bicubic' along one axis (symmetric borders)."""
    width = 4.0
    stretch = scale if (scale < 1 and antialias) else 1.0  # antialiasing widens the kernel by 1/scale
    width = width / stretch

    def kernel(x: np.ndarray) -> np.ndarray:
        return stretch * _cubic(stretch * x)

    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = int(np.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    wts = kernel(u[:, None] - idx)
    wts = wts / wts.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])  # 0-based [1:n, n:-1:1]
    idx0 = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    mat = np.zeros((out_len, in_len))
    np.add.at(mat, (np.repeat(np.arange(out_len), taps), idx0.ravel()), wts.ravel())
    return mat


def imresize_bicubic(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB imresize(img, scale) with the default bicubic kernel and antialiasing.

    Output size ceil(scale * size); borders handled by symmetric reflection, as MATLAB does.
    """
    img = np.asarray(img, dtype=np.float64)
    h, w = img.shape[:2]
    oh, ow = int(np.ceil(scale * h - 1e-9)), int(np.ceil(scale * w - 1e-9))
    rows = _resize_matrix(h, oh, scale)
    cols = _resize_matrix(w, ow, scale)
    out = np.tensordot(rows, img, axes=(1, 0))  # (oh, w[, B])
    out = np.tensordot(cols, out, axes=(1, 1))  # (ow, oh[, B])
    return np.swapaxes(out, 0, 1)


def _cubic_upsample_matrix(in_len: int, ratio: int) -> np.ndarray:
    """(in_len*ratio, in_len) Keys-cubic interpolation with LR pixel i at HR pixel ratio*i + ratio//2."""
    out_len = in_len * ratio
    u = (np.arange(out_len) - ratio // 2) / ratio  # LR coordinate of each HR pixel
    base = np.floor(u).astype(np.int64)
    idx = base[:, None] + np.arange(-1, 3)[None, :]
    wts = _cubic(u[:, None] - idx)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
    idx0 = mirror[np.mod(idx, 2 * in_len)]
    mat = np.zeros((out_len, in_len))
    np.add.at(mat, (np.repeat(np.arange(out_len), 4), idx0.ravel()), wts.ravel())
    return mat


def upsample_ms(ms_lr: np.ndarray, ratio: int) -> np.ndarray:
    """MS to the PAN grid: interp23tap for power-of-2 ratios, otherwise separable Keys cubic
    interpolation at the same phase (LR pixel i on HR pixel ratio*i + ratio//2)."""
    if _is_power_of_two(ratio):
        return interp23tap(ms_lr, ratio)
    ms_lr = np.asarray(ms_lr, dtype=np.float64)
    rows = _cubic_upsample_matrix(ms_lr.shape[0], ratio)
    cols = _cubic_upsample_matrix(ms_lr.shape[1], ratio)
    out = np.tensordot(rows, ms_lr, axes=(1, 0))
    out = np.tensordot(cols, out, axes=(1, 1))
    return np.swapaxes(out, 0, 1)


# ----------------------------------------------------------------------------- Wald protocol

def wald_degrade(ms: np.ndarray, pan: np.ndarray, sensor: Sensor, ratio: int,
                 pan_mode: str = "imresize") -> tuple[np.ndarray, np.ndarray]:
    """Reduced-resolution inputs by Wald's protocol, as the toolbox's resize_images.m makes them.

    MS: per-band MTF filter (sensor gains) then :func:`decimate`. PAN: ``pan_mode="imresize"``
    (default, the toolbox) uses imresize(PAN, 1/ratio) bicubic with antialiasing;
    ``pan_mode="mtf"`` filters the PAN with its own MTF (sensor.pan_gnyq) and decimates like the MS.
    """
    ms = np.asarray(ms, dtype=np.float64)
    pan = np.asarray(pan, dtype=np.float64)
    if ms.ndim != 3 or pan.ndim != 2:
        raise ValueError("wald_degrade expects ms (H, W, B) and pan (H, W)")
    ms_lr = decimate(mtf_filter(ms, sensor.gains(ms.shape[2]), ratio), ratio)
    if pan_mode == "imresize":
        pan_lr = imresize_bicubic(pan, 1.0 / ratio)
    elif pan_mode == "mtf":
        pan_lr = decimate(mtf_filter(pan, sensor.pan_gnyq, ratio), ratio)
    else:
        raise PansharpenError(f"Unknown PAN degradation mode '{pan_mode}': use 'imresize' or 'mtf'.")
    return ms_lr, pan_lr
