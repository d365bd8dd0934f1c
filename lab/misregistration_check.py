"""The numbers behind the misregistration check (engine.registration; README, "Misregistration check").

    .venv/bin/python -m lab.misregistration_check [--sweep] [--methods gsa,mtf-glp-hpm,bdsd-pc,hfreqdiff]

1. The measured shift of every shared scene: as `fuse` sees the GeoTIFF pairs (the engine's
   alignment, relative to the georeferenced position) and the .mat arrays (plain pixel grids on
   r x r blocks), and on the lab's aligned copies (relative to the block centre: PADM's profile
   convention, comparable with lab/reports/padm_bench.md).
2. --sweep: the quality cost of a shift. On the Wald pair of GeoEye-1, WorldView-3 (GeoTIFF) and
   Landsat 8, the degraded MS is moved along x by s MS px (cubic spline) from the pair's own phase,
   each method fuses it and is scored against the original MS (Q2n, SAM, ERGAS; 21 px border cut).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from scipy import ndimage

from padm_pansharpening.engine.evaluation import RR_CROP, fuse_in_memory
from padm_pansharpening.engine.methods import get_method
from padm_pansharpening.engine.metrics import reduced_resolution_metrics
from padm_pansharpening.engine.raster.pair import open_pair
from padm_pansharpening.engine.registration import measure_pair, measure_shift
from padm_pansharpening.engine.sensors import get_sensor

from .scenes import list_scenes, load_scene, shared_data_dir, wald_pair

GEOTIFF_PAIRS = {  # folder: (PAN, MS, sensor)
    "landsat_oli_istanbul_geotiff": ("pan.tif", "ms.tif", "Landsat8"),
    "wv2_rio_rr_geotiff": ("WV2RioPAN.tif", "WV2RioMSLR.tif", "WV2"),
    "vhr4b_zhengzhou_geotiff": ("pan.tif", "ms.tif", "none"),
    "wv3_hpf_geotiff": ("pan.tif", "mul.tif", "WV3"),
}
RAW_MAT = {  # scene: (file, PAN variable, MS variable, ratio, sensor): the arrays as plain pixel grids
    "ge1_grip_pnn": ("ge1_grip_pnn/imgGE1.mat", "I_PAN", "I_MS", 4, "GeoEye1"),
    "wv3_zpnn_example": ("wv3_zpnn_example/WV3_example.mat", "I_PAN", "I_MS_LR", 4, "WV3"),
    "wv3_zpnn_example_6ba3dec": ("wv3_zpnn_example/WV3_example_6ba3dec.mat", "I_PAN", "I_MS_LR", 4, "WV3"),
    **{f"landsat7_etm_fusebox_{k}": ((f"landsat7_etm_fusebox/{k}_pan.mat", f"landsat7_etm_fusebox/{k}_ms.mat"),
                                     "cropped_gray", "cropped_im", 2, "Landsat7") for k in (1, 21, 34)},
}
SWEEP_SCENES = ("ge1_grip_pnn", "wv3_hpf_geotiff", "landsat_oli_istanbul_geotiff")
SHIFTS = (0.0, 0.1, 0.2, 0.3, 0.5)


def _raw_mat(name: str):
    from scipy.io import loadmat

    files, pan_key, ms_key, ratio, sensor = RAW_MAT[name]
    pan_file, ms_file = (files, files) if isinstance(files, str) else files
    pan = loadmat(str(shared_data_dir() / pan_file))[pan_key].astype(np.float64)
    ms = loadmat(str(shared_data_dir() / ms_file))[ms_key].astype(np.float64)
    return measure_shift(pan, ms, ratio, get_sensor(sensor))


def measure_all() -> None:
    print("| scene | as fuse sees it: dx, dy (MS px) | lab copy, from the block centre | correlation |")
    print("|---|---|---|---|")
    for name in list_scenes():
        scene = load_scene(name)
        lab = measure_shift(scene.pan, scene.ms_lr, scene.ratio, scene.sensor)
        engine = "-"
        if name in GEOTIFF_PAIRS:
            pan, ms, sensor = GEOTIFF_PAIRS[name]
            pair = open_pair(shared_data_dir() / name / pan, shared_data_dir() / name / ms)
            try:
                m = measure_pair(pair, get_sensor(sensor))
            finally:
                pair.close()
            engine = f"{m.dx:+.3f}, {m.dy:+.3f}{' (warns)' if m.exceeds() else ''}"
        elif name in RAW_MAT:
            m = _raw_mat(name)
            engine = f"{m.dx:+.3f}, {m.dy:+.3f}{' (warns)' if m.exceeds() else ''} (arrays as pixel grids)"
        lab_text = f"{lab.dx:+.3f}, {lab.dy:+.3f}" if lab else "not measured"
        print(f"| {name} | {engine} | {lab_text} | {lab.correlation:.4f} |" if lab else f"| {name} | {engine} | - | - |")


def sweep(methods: list[str]) -> None:
    for name in SWEEP_SCENES:
        scene = load_scene(name)
        r = scene.ratio
        _, ms, pan_lr, ms_lr = wald_pair(scene)
        for method in methods:
            cells = []
            for s in SHIFTS:
                moved = np.stack([ndimage.shift(ms_lr[:, :, b], (0, s), order=3, mode="nearest")
                                  for b in range(ms.shape[2])], axis=2)
                fused = fuse_in_memory(get_method(method), pan_lr, moved, r, scene.sensor)
                q = reduced_resolution_metrics(fused, ms, r, scene.bits, crop=RR_CROP)
                cells.append(f"s={s}: Q2n {q['Q2n']:.4f} SAM {q['SAM']:.3f} ERGAS {q['ERGAS']:.3f}")
            print(f"{name} {method}: " + " | ".join(cells), flush=True)


def main() -> None:
    os.environ["GDAL_PAM_ENABLED"] = "NO"  # never a sidecar beside ../shared
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sweep", action="store_true", help="also the quality cost of a shift (minutes with hfreqdiff)")
    p.add_argument("--methods", default="gsa,mtf-glp-hpm,bdsd-pc,hfreqdiff", help="methods of the sweep")
    args = p.parse_args()
    measure_all()
    if args.sweep:
        sweep([m.strip() for m in args.methods.split(",") if m.strip()])


if __name__ == "__main__":
    main()
