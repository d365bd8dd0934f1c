"""The measurements behind lab/reports/geometry.md, on the Landsat 8 scene (not shipped, not a test).

    .venv/bin/python -m lab.geometry_checks current
    # the geometry before commit bcf93a4: the same script against a checkout of e787d52
    git worktree add /tmp/wt_old e787d52 && mkdir -p /tmp/old && ln -s /tmp/wt_old /tmp/old/padm_pansharpening
    PYTHONPATH=/tmp/old .venv/bin/python -m lab.geometry_checks before

Prints, for the pair as ``engine.raster.open_pair`` aligns it:
- where the interp23tap-upsampled MS sits: correlation of the gradients (d/drow, d/dcol; 8 px
  border cut) of the band-mean upsampled MS and of the PAN smoothed by a Gaussian of sigma 0.6 r,
  with the upsampled MS shifted (cubic) on a 1/8 PAN px grid over +-1 px; the same for its Wald
  pair (imresize PAN, MTF-decimated MS);
- block correlation of the aligned MS (bands averaged) with the PAN: r x r block means, or for a
  centre-aligned pair an r-wide box centred on PAN pixel r*i + r//2;
- per band, correlation and regression gain of the full-resolution detail (fused - upsampled MS,
  16 px border cut) on the PAN's high-pass (PAN - its MTF low-pass), HFreqDiff and MTF-GLP-HPM;
- full-resolution HQNR (D_lambda_K, D_s) of HFreqDiff at 1, 3 and 8 DDIM steps, and of its 1-step
  output moved by half a PAN pixel up and left (onto the PAN, in the geometry before);
- where the upsampled MS sits on the other scenes read as block-aligned grids (Landsat 7 crops,
  GeoEye-1).
"""

from __future__ import annotations

import sys

import numpy as np
from scipy.ndimage import correlate1d, gaussian_filter, shift as subpixel_shift

from padm_pansharpening.engine import degradation, methods, metrics, sensors, tiling
from padm_pansharpening.engine.raster.pair import open_pair

from .scenes import load_scene, shared_data_dir
from padm_pansharpening.engine.hfreqdiff.conditioning import pan_lowpass

BLOCK_ALIGNED_SCENES = ("landsat7_etm_fusebox_1", "landsat7_etm_fusebox_21", "landsat7_etm_fusebox_34",
                        "ge1_grip_pnn")
SCENE = shared_data_dir() / "landsat_oli_istanbul_geotiff"


def gradient_corr(a: np.ndarray, b: np.ndarray, cut: int = 8) -> float:
    ga = np.concatenate([g[cut:-cut, cut:-cut].ravel() for g in np.gradient(a)])
    gb = np.concatenate([g[cut:-cut, cut:-cut].ravel() for g in np.gradient(b)])
    return float(np.corrcoef(ga, gb)[0, 1])


def best_shift(ms_lr: np.ndarray, pan: np.ndarray, r: int) -> str:
    up = degradation.upsample_ms(ms_lr, r).mean(-1)
    ref = gaussian_filter(pan, 0.6 * r)
    steps = np.arange(-8, 9) / 8
    corr, dy, dx = max((gradient_corr(subpixel_shift(up, (dy, dx), order=3, mode="nearest"), ref), dy, dx)
                       for dy in steps for dx in steps)
    return f"{gradient_corr(up, ref):.3f} unshifted, best {corr:.3f} at ({dy:+.3f}, {dx:+.3f}) px"


def block_corr(pan: np.ndarray, ms_mean: np.ndarray, r: int, centred: bool) -> float:
    h, w = ms_mean.shape
    if centred:
        k = np.r_[0.5, np.ones(r - 1), 0.5] / r
        boxes = correlate1d(correlate1d(pan, k, axis=0, mode="nearest"), k, axis=1, mode="nearest")
        boxes = boxes[r // 2::r, r // 2::r][:h, :w]
    else:
        boxes = pan[: h * r, : w * r].reshape(h, r, w, r).mean((1, 3))
    return float(np.corrcoef(boxes.ravel(), ms_mean.ravel())[0, 1])


def detail_relation_full(pan: np.ndarray, ms: np.ndarray, fused: np.ndarray, r: int, pan_gnyq: float,
                         cut: int = 16) -> tuple[np.ndarray, np.ndarray]:
    hp = (pan - pan_lowpass(pan, r, pan_gnyq))[cut:-cut, cut:-cut].ravel()
    hp = hp - hp.mean()
    detail = (fused - degradation.upsample_ms(ms, r))[cut:-cut, cut:-cut].reshape(-1, ms.shape[2])
    detail = detail - detail.mean(0)
    cov = hp @ detail
    return cov / np.sqrt((hp @ hp) * (detail * detail).sum(0)), cov / (hp @ hp)


def full_resolution(fused: np.ndarray, ms: np.ndarray, pan: np.ndarray, sensor, r: int) -> str:
    m = metrics.full_resolution_metrics(fused, ms, pan, sensor, r)
    return f"HQNR {m['HQNR']:.4f} (D_lambda_K {m['D_lambda_K']:.4f}, D_s {m['D_s']:.4f})"


def main(label: str) -> None:
    pair = open_pair(SCENE / "pan.tif", SCENE / "ms.tif")
    r, centred = pair.ratio, bool(getattr(pair.rows, "centred", False))
    pan, ms, _, _ = pair.read(0, 0, pair.height, pair.width)
    pan, ms = pan.astype(np.float64), ms.astype(np.float64)
    sensor = sensors.get_sensor("Landsat8")
    print(f"[{label}] MS resampled: {pair.resampled}, centre-aligned by index: {centred}")
    print(f"[{label}] upsampled MS vs PAN: {best_shift(ms, pan, r)}")
    ms_lr, pan_lr = degradation.wald_degrade(ms, pan, sensor, r)
    print(f"[{label}] its Wald pair: {best_shift(ms_lr, pan_lr, r)}")
    print(f"[{label}] block correlation of the aligned MS: {block_corr(pan, ms.mean(-1), r, centred):.3f}")
    for name in ("hfreqdiff", "mtf-glp-hpm"):
        fused = tiling.fuse_array(pan, ms, methods.get_method(name), r, sensor)
        corr, gain = detail_relation_full(pan, ms, fused, r, sensor.pan_gnyq)
        print(f"[{label}] {name} detail on the PAN high-pass: corr {np.round(corr, 2)}, gain {np.round(gain, 2)}")
    for steps in (1, 3, 8):
        fused = tiling.fuse_array(pan, ms, methods.get_method("hfreqdiff", steps=steps), r, sensor)
        print(f"[{label}] hfreqdiff, {steps} step(s): {full_resolution(fused, ms, pan, sensor, r)}")
        if steps == 1:
            moved = np.stack([subpixel_shift(b, (-0.5, -0.5), order=3, mode="nearest") for b in np.moveaxis(fused, -1, 0)], -1)
            print(f"[{label}] hfreqdiff, 1 step, moved by (-0.5, -0.5) px: {full_resolution(moved, ms, pan, sensor, r)}")
    for name in BLOCK_ALIGNED_SCENES:
        scene = load_scene(name)
        print(f"[{label}] {name}: {best_shift(scene.ms_lr.astype(np.float64), scene.pan.astype(np.float64), scene.ratio)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "current")
