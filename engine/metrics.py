"""Pansharpening quality metrics, as the reference toolbox defines them (DESIGN.md section 4).

Reduced resolution (with a ground truth): Q2n, Q (UIQI), SAM, ERGAS, SCC (toolbox
``indexes_evaluation.m``), PSNR and SSIM (Wang et al.'s ``ssim.m``). Full resolution (no reference):
HQNR (``D_lambda_K``, ``D_s``) and the classic QNR (``D_lambda``, ``D_s``). Images are (H, W, B)
arrays in digital numbers; the first argument of each comparison metric is the reference.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from scipy import ndimage

from .degradation import imresize_bicubic, mtf_filter, upsample_ms
from .sensors import Sensor

_EPS = np.finfo(np.float64).eps


def _as3d(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img, dtype=np.float64)
    return img[:, :, None] if img.ndim == 2 else img


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as3d(a), _as3d(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    return a, b


def crop_border(img: np.ndarray, crop: int) -> np.ndarray:
    """The toolbox's border cut I(dim_cut:end-dim_cut, ...) (1-based): crop-1 rows on top/left,
    crop rows on bottom/right."""
    if crop <= 0:
        return img
    return img[crop - 1:img.shape[0] - crop, crop - 1:img.shape[1] - crop]


# ----------------------------------------------------------------------------- simple indices

def sam(reference: np.ndarray, fused: np.ndarray) -> float:
    """Spectral Angle Mapper in degrees: mean per-pixel angle, pixels with a zero norm skipped."""
    ref, fus = _check_pair(reference, fused)
    dot = np.sum(ref * fus, axis=2).ravel()
    norm = np.sqrt(np.sum(ref * ref, axis=2) * np.sum(fus * fus, axis=2)).ravel()
    keep = norm != 0
    if not np.any(keep):
        return 0.0
    cos = np.clip(dot[keep] / norm[keep], -1.0, 1.0)  # acos of rounding overshoot: real part 0
    return float(np.degrees(np.mean(np.arccos(cos))))


def ergas(reference: np.ndarray, fused: np.ndarray, ratio: int) -> float:
    """ERGAS: (100/ratio) * sqrt(mean_b(MSE_b / mean_b(reference)^2))."""
    ref, fus = _check_pair(reference, fused)
    mse = np.mean((ref - fus) ** 2, axis=(0, 1))
    mu = np.mean(ref, axis=(0, 1))
    return float(100.0 / ratio * np.sqrt(np.mean(mse / mu ** 2)))


def psnr(reference: np.ndarray, fused: np.ndarray, bits: int) -> float:
    """PSNR in dB with one MSE over all bands and peak 2^bits - 1."""
    ref, fus = _check_pair(reference, fused)
    mse = np.mean((ref - fus) ** 2)
    peak = 2.0 ** bits - 1.0
    return float("inf") if mse == 0 else float(10.0 * np.log10(peak ** 2 / mse))


_SOBEL = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])


def _sobel_magnitude(img: np.ndarray) -> np.ndarray:
    inner = img[1:-1, 1:-1]
    gy = ndimage.correlate(inner, _SOBEL, mode="constant", cval=0.0)
    gx = ndimage.correlate(inner, _SOBEL.T, mode="constant", cval=0.0)
    return np.sqrt(gx ** 2 + gy ** 2)


def scc(reference: np.ndarray, fused: np.ndarray) -> float:
    """Spatial correlation coefficient (toolbox SCC.m): Sobel gradient magnitudes of the 1-px-cut
    images (zero padding), global normalised inner product over all bands, no mean removal."""
    ref, fus = _check_pair(reference, fused)
    gr = np.stack([_sobel_magnitude(ref[:, :, b]) for b in range(ref.shape[2])], axis=2)
    gf = np.stack([_sobel_magnitude(fus[:, :, b]) for b in range(fus.shape[2])], axis=2)
    return float(np.sum(gf * gr) / np.sqrt(np.sum(gf ** 2)) / np.sqrt(np.sum(gr ** 2)))


# ----------------------------------------------------------------------------- Q (UIQI) and SSIM

def _box_sum_valid(img: np.ndarray, size: int) -> np.ndarray:
    """Sum over every size x size window fully inside the image (filter2(ones, img, 'valid'))."""
    c = np.zeros((img.shape[0] + 1, img.shape[1] + 1))
    c[1:, 1:] = np.cumsum(np.cumsum(img, axis=0), axis=1)
    return c[size:, size:] - c[:-size, size:] - c[size:, :-size] + c[:-size, :-size]


def _img_qi(a: np.ndarray, b: np.ndarray, block: int) -> float:
    """Wang & Bovik's img_qi.m: UIQI on a sliding block x block window, mean of the map."""
    n = float(block * block)
    sa, sb = _box_sum_valid(a, block), _box_sum_valid(b, block)
    saa, sbb, sab = _box_sum_valid(a * a, block), _box_sum_valid(b * b, block), _box_sum_valid(a * b, block)
    prod = sa * sb
    sq = sa * sa + sb * sb
    numerator = 4.0 * (n * sab - prod) * prod
    den1 = n * (saa + sbb) - sq
    den = den1 * sq
    qmap = np.ones_like(den)
    idx = (den1 == 0) & (sq != 0)
    qmap[idx] = 2.0 * prod[idx] / sq[idx]
    idx = den != 0
    qmap[idx] = numerator[idx] / den[idx]
    return float(np.mean(qmap))


def q_index(reference: np.ndarray, fused: np.ndarray, block: int = 32) -> float:
    """Q (UIQI) on a sliding 32x32 window, averaged over bands (toolbox Q.m / img_qi.m)."""
    ref, fus = _check_pair(reference, fused)
    return float(np.mean([_img_qi(ref[:, :, b], fus[:, :, b], block) for b in range(ref.shape[2])]))


def _gauss_valid(img: np.ndarray, sigma: float, size: int) -> np.ndarray:
    """filter2(fspecial('gaussian', size, sigma), img, 'valid') via separable filtering."""
    x = np.arange(size) - (size - 1) / 2.0
    g = np.exp(-x ** 2 / (2.0 * sigma ** 2))
    g /= g.sum()
    out = ndimage.correlate1d(img, g, axis=0, mode="constant")
    out = ndimage.correlate1d(out, g, axis=1, mode="constant")
    r = size // 2
    return out[r:img.shape[0] - r, r:img.shape[1] - r]


def _box_downsample(img: np.ndarray, f: int) -> np.ndarray:
    """imfilter(img, ones(f)/f^2, 'symmetric', 'same') then img(1:f:end, 1:f:end), as ssim.m does."""
    c = (f + 1) // 2  # MATLAB's kernel centre (1-based)
    pad = np.pad(img, ((c - 1, f - c), (c - 1, f - c)), mode="symmetric")
    h, w = img.shape
    out = sum(pad[i:i + h, j:j + w] for i in range(f) for j in range(f)) / (f * f)
    return out[::f, ::f]


def _ssim_band(a: np.ndarray, b: np.ndarray, peak: float, k: tuple[float, float] = (0.01, 0.03),
               sigma: float = 1.5, size: int = 11) -> float:
    """Wang et al.'s ssim.m (2009) for one band: automatic downsampling by round(min(H, W)/256),
    Gaussian 11x11 window (sigma 1.5), 'valid' maps, mean of the SSIM map."""
    f = max(1, int(np.floor(min(a.shape) / 256.0 + 0.5)))
    if f > 1:
        a, b = _box_downsample(a, f), _box_downsample(b, f)
    c1, c2 = (k[0] * peak) ** 2, (k[1] * peak) ** 2
    mu1, mu2 = _gauss_valid(a, sigma, size), _gauss_valid(b, sigma, size)
    s11 = _gauss_valid(a * a, sigma, size) - mu1 * mu1
    s22 = _gauss_valid(b * b, sigma, size) - mu2 * mu2
    s12 = _gauss_valid(a * b, sigma, size) - mu1 * mu2
    smap = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 ** 2 + mu2 ** 2 + c1) * (s11 + s22 + c2))
    return float(np.mean(smap))


def ssim(reference: np.ndarray, fused: np.ndarray, bits: int) -> float:
    """SSIM (K = 0.01, 0.03; 11x11 Gaussian window, sigma 1.5; dynamic range 2^bits - 1), mean over bands."""
    ref, fus = _check_pair(reference, fused)
    peak = 2.0 ** bits - 1.0
    return float(np.mean([_ssim_band(ref[:, :, b], fus[:, :, b], peak) for b in range(ref.shape[2])]))


# ----------------------------------------------------------------------------- Q2n (hypercomplex)

def _conj(x: np.ndarray) -> np.ndarray:
    """Hypercomplex conjugate along the last axis: negate all but the real part."""
    out = -x
    out[..., 0] = x[..., 0]
    return out


def _onion_mult(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cayley-Dickson product along the last axis (length a power of 2), as onion_mult2D.m."""
    n = x.shape[-1]
    if n == 1:
        return x * y
    half = n // 2
    a, b = x[..., :half], _conj(x[..., half:])
    c, d = y[..., :half], _conj(y[..., half:])
    if n == 2:
        return np.concatenate([a * c - d * b, a * d + c * b], axis=-1)
    left = _onion_mult(a, c) - _onion_mult(d, _conj(b))
    right = _onion_mult(_conj(a), d) + _onion_mult(c, b)
    return np.concatenate([left, right], axis=-1)


def _onions_quality(ref: np.ndarray, fus: np.ndarray) -> np.ndarray:
    """Hypercomplex UIQI of blocks (onions_quality.m). ref, fus: (nblocks, npix, nbands), the
    band count a power of 2; returns (nblocks, nbands) hypercomplex quality per block."""
    npix = ref.shape[1]
    mean = ref.mean(axis=1, keepdims=True)
    std = ref.std(axis=1, ddof=1, keepdims=True)
    std = np.where(std == 0, _EPS, std)
    x = (ref - mean) / std + 1.0
    # The fused block is normalised with the reference block's statistics (no scaling where the
    # reference mean is 0, as the toolbox does), then conjugated.
    y = np.where(mean == 0, fus - mean + 1.0, (fus - mean) / std + 1.0)
    y = _conj(y)

    m1, m2 = x.mean(axis=1), y.mean(axis=1)  # (nblocks, nbands)
    k = npix / (npix - 1.0)
    mod1m2, mod2m2 = np.sum(m1 ** 2, axis=1), np.sum(m2 ** 2, axis=1)
    term2 = np.sqrt(mod1m2) * np.sqrt(mod2m2)
    term4 = mod1m2 + mod2m2
    int1 = k * np.mean(np.sum(x ** 2, axis=2), axis=1)
    int2 = k * np.mean(np.sum(y ** 2, axis=2), axis=1)
    term3 = int1 + int2 - k * (mod1m2 + mod2m2)
    mean_bias = 2.0 * term2 / term4

    qv = k * _onion_mult(x, y).mean(axis=1)
    qm = _onion_mult(m1, m2)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = (qv - k * qm) * (mean_bias * 2.0 / term3)[:, None]
    flat = term3 == 0
    if np.any(flat):
        q[flat] = 0.0
        q[flat, -1] = mean_bias[flat]
    return q


def _matlab_uint16(img: np.ndarray) -> np.ndarray:
    """MATLAB uint16(): round half away from zero, saturate to [0, 65535]."""
    return np.clip(np.floor(np.abs(img) + 0.5) * np.sign(img), 0, 65535)


def q2n(reference: np.ndarray, fused: np.ndarray, block: int = 32, shift: int = 32,
        chunk: int = 256, mask: Optional[np.ndarray] = None) -> float:
    """Q2n (Q4/Q8): hypercomplex UIQI on block x block windows every ``shift`` pixels, images
    mirror-padded to cover the grid and cast to uint16, bands zero-padded to a power of 2;
    mean over windows of the modulus (toolbox q2n.m). ``mask`` (bool, the window grid): the mean
    over the windows it selects only (a held-out part of the image, engine.padm.guard)."""
    ref, fus = _check_pair(reference, fused)
    h, w, nb = ref.shape
    steps_y, steps_x = -(-h // shift), -(-w // shift)
    pad_y, pad_x = (steps_y - 1) * shift + block - h, (steps_x - 1) * shift + block - w
    if pad_y or pad_x:
        ref = _mirror_pad(ref, pad_y, pad_x)
        fus = _mirror_pad(fus, pad_y, pad_x)
    ref, fus = _matlab_uint16(ref), _matlab_uint16(fus)
    nb2 = 1 << int(np.ceil(np.log2(nb))) if nb > 1 else 1
    if nb2 != nb:
        zeros = np.zeros(ref.shape[:2] + (nb2 - nb,))
        ref = np.concatenate([ref, zeros], axis=2)
        fus = np.concatenate([fus, zeros], axis=2)

    def blocks(img: np.ndarray) -> np.ndarray:
        if shift == block:
            v = img[:steps_y * block, :steps_x * block]
            v = v.reshape(steps_y, block, steps_x, block, nb2).transpose(0, 2, 1, 3, 4)
            return v.reshape(steps_y * steps_x, block * block, nb2)
        return np.stack([img[i * shift:i * shift + block, j * shift:j * shift + block].reshape(-1, nb2)
                         for i in range(steps_y) for j in range(steps_x)])

    rb, fb = blocks(ref), blocks(fus)
    values = []
    for s in range(0, rb.shape[0], chunk):
        q = _onions_quality(rb[s:s + chunk], fb[s:s + chunk])
        values.append(np.sqrt(np.sum(q ** 2, axis=1)))
    return float(np.mean(_selected(np.concatenate(values), mask, (steps_y, steps_x))))


def _selected(values: np.ndarray, mask: Optional[np.ndarray], grid: tuple[int, int]) -> np.ndarray:
    """The per-block values (row-major over ``grid``) that ``mask`` selects (all without a mask)."""
    if mask is None:
        return values
    mask = np.asarray(mask, bool)
    if mask.shape != grid or not mask.any():
        raise ValueError(f"block mask {mask.shape} must match the block grid {grid} and select a block")
    return values[mask.ravel()]


def _mirror_pad(img: np.ndarray, pad_y: int, pad_x: int) -> np.ndarray:
    """q2n.m's padding: mirror (edge sample repeated) on the right, then on the bottom."""
    return np.pad(img, ((0, pad_y), (0, pad_x), (0, 0)), mode="symmetric")


# ----------------------------------------------------------------------------- full resolution

def _uqi_blocks(a: np.ndarray, b: np.ndarray, size: int, mask: Optional[np.ndarray] = None) -> float:
    """Mean UIQI over distinct size x size blocks (blockproc + uqi of D_s.m / D_lambda.m)."""
    h, w = a.shape
    ny, nx = h // size, w // size
    va = a[:ny * size, :nx * size].reshape(ny, size, nx, size).transpose(0, 2, 1, 3).reshape(ny * nx, -1)
    vb = b[:ny * size, :nx * size].reshape(ny, size, nx, size).transpose(0, 2, 1, 3).reshape(ny * nx, -1)
    ma, mb = va.mean(axis=1), vb.mean(axis=1)
    da, db = va - ma[:, None], vb - mb[:, None]
    n1 = va.shape[1] - 1.0
    caa, cbb, cab = (da * da).sum(1) / n1, (db * db).sum(1) / n1, (da * db).sum(1) / n1
    with np.errstate(divide="ignore", invalid="ignore"):
        q = 4.0 * cab * ma * mb / (caa + cbb) / (ma ** 2 + mb ** 2)
    return float(np.mean(_selected(q, mask, (ny, nx))))


def d_lambda_k(fused: np.ndarray, ms_up: np.ndarray, sensor: Sensor, ratio: int, block: int = 32,
               mask: Optional[np.ndarray] = None) -> float:
    """Khan's spectral distortion: 1 - Q2n(MS upsampled, MTF-filtered fused), blocks of ``block``
    (``mask``: over the blocks it selects, the images filtered whole)."""
    fused, ms_up = _check_pair(fused, ms_up)
    degraded = mtf_filter(fused, sensor.gains(fused.shape[2]), ratio)
    return 1.0 - q2n(ms_up, degraded, block, block, mask=mask)


def d_s(fused: np.ndarray, ms_up: np.ndarray, pan: np.ndarray, ratio: int, block: int = 32,
        mask: Optional[np.ndarray] = None) -> float:
    """QNR spatial distortion (toolbox 1.0 option): mean_b |Q(F_b, PAN) - Q(MS_up_b, PAN_LR_up)|,
    Q over distinct blocks, PAN_LR_up = interp23tap(imresize(PAN, 1/ratio))."""
    fused, ms_up = _check_pair(fused, ms_up)
    pan = np.asarray(pan, dtype=np.float64)
    pan_low = upsample_ms(imresize_bicubic(pan, 1.0 / ratio), ratio)
    diffs = [abs(_uqi_blocks(fused[:, :, b], pan, block, mask) - _uqi_blocks(ms_up[:, :, b], pan_low, block, mask))
             for b in range(fused.shape[2])]
    return float(np.mean(diffs))


def d_lambda(fused: np.ndarray, ms_up: np.ndarray, block: int = 32, mask: Optional[np.ndarray] = None) -> float:
    """QNR spectral distortion (toolbox 1.0 option): mean over band pairs of
    |Q(F_i, F_j) - Q(MS_up_i, MS_up_j)|, Q over distinct blocks."""
    fused, ms_up = _check_pair(fused, ms_up)
    nb = fused.shape[2]
    diffs = [abs(_uqi_blocks(fused[:, :, i], fused[:, :, j], block, mask)
                 - _uqi_blocks(ms_up[:, :, i], ms_up[:, :, j], block, mask))
             for i in range(nb - 1) for j in range(i + 1, nb)]
    return float(np.mean(diffs)) if diffs else 0.0


def full_resolution_metrics(fused: np.ndarray, ms_lr: np.ndarray, pan: np.ndarray, sensor: Sensor,
                            ratio: int, block: int = 32, mask: Optional[np.ndarray] = None) -> dict[str, float]:
    """HQNR (D_lambda_K, D_s) and QNR (D_lambda, D_s) of a fused image at full resolution;
    ``mask`` (bool, one per block of the cut image): averaged over the blocks it selects only.

    ``ms_lr`` is the original MS; it is upsampled with :func:`upsample_ms`. Where the PAN size is
    not a multiple of the block size, the images are cut to the largest multiple (top-left part,
    keeping ratio alignment) — the toolbox refuses such sizes.
    """
    fused = _as3d(fused)
    pan = np.asarray(pan, dtype=np.float64)
    ms_up = upsample_ms(ms_lr, ratio)
    if fused.shape != ms_up.shape or pan.shape != fused.shape[:2]:
        raise ValueError(f"shape mismatch: fused {fused.shape}, MS upsampled {ms_up.shape}, PAN {pan.shape}")
    unit = int(np.lcm(block, ratio))
    h, w = (fused.shape[0] // unit) * unit, (fused.shape[1] // unit) * unit
    if h == 0 or w == 0:
        raise ValueError(f"image {fused.shape[:2]} smaller than one {unit}x{unit} block")
    if (h, w) != fused.shape[:2]:
        fused, ms_up, pan = fused[:h, :w], ms_up[:h, :w], pan[:h, :w]
    dl_k = d_lambda_k(fused, ms_up, sensor, ratio, block, mask)
    ds = d_s(fused, ms_up, pan, ratio, block, mask)
    dl = d_lambda(fused, ms_up, block, mask)
    return {"D_lambda_K": dl_k, "D_s": ds, "HQNR": (1.0 - dl_k) * (1.0 - ds),
            "QNR_D_lambda": dl, "QNR_D_s": ds, "QNR": (1.0 - dl) * (1.0 - ds)}


def reduced_resolution_metrics(fused: np.ndarray, gt: np.ndarray, ratio: int, bits: int,
                               crop: int = 21) -> dict[str, float]:
    """Q2n, Q, SAM, ERGAS, SCC, PSNR, SSIM of a fused image against the ground truth, both cut
    by ``crop`` pixels as the toolbox's indexes_evaluation does (no thresholding)."""
    fused, gt = _check_pair(fused, gt)
    f, g = crop_border(fused, crop), crop_border(gt, crop)
    return {"Q2n": q2n(g, f, 32, 32), "Q": q_index(g, f, 32), "SAM": sam(g, f),
            "ERGAS": ergas(g, f, ratio), "SCC": scc(g, f), "PSNR": psnr(g, f, bits),
            "SSIM": ssim(g, f, bits)}
