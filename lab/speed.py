"""HFreqDiff speed on in-memory arrays through the tiled engine (engine.tiling.fuse_array).

    python -m lab.speed --size 2048 --backends onnx,torch --devices cpu,cuda

Seconds per PAN megapixel for the default run and per extra DDIM step ((t3 - t1) / 2), per
backend x device x tile size, on the synthetic demo scene (datasets.demo_arrays). Unlike
`build.py bench` (the whole GeoTIFF pipeline) this needs no GDAL, so it also runs on a lent GPU
machine; the model is loaded and one warm-up fusion run before timing (a small scene on the CPU,
the whole scene on CUDA: CUDA start-up, per-shape autotuning and ONNX Runtime's arena are not
counted). A backend/device pair that cannot run is reported with
the reason instead of figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from padm_pansharpening.engine import DEFAULT_TILE
from padm_pansharpening.engine.definitions import MODELS_DIR
from padm_pansharpening.engine.errors import PansharpenError
from padm_pansharpening.engine.machine import cpu_model

MODEL_OF = {"onnx": "hfreqdiff.onnx", "torch": "hfreqdiff.onnx"}  # torch builds its network from the .onnx


def _fuse_seconds(method, pan, ms_lr, tile: int) -> float:
    from padm_pansharpening.engine.demo import DEMO_RATIO, DEMO_SENSOR
    from padm_pansharpening.engine.sensors import get_sensor
    from padm_pansharpening.engine.tiling import fuse_array

    t0 = time.perf_counter()
    out = fuse_array(pan, ms_lr, method, DEMO_RATIO, get_sensor(DEMO_SENSOR), tile=tile)
    seconds = time.perf_counter() - t0
    if np.isnan(out).any():  # the run is not a valid measurement
        raise PansharpenError("the fused array has NaN values")
    return seconds


def measure(size: int, backend: str, device: str, tile: int = DEFAULT_TILE, ensemble: Optional[str] = None,
            models: Path = MODELS_DIR) -> dict:
    """Timings of one backend on one device: s/MP per number of DDIM steps (1, 3 and the default)."""
    from padm_pansharpening.engine.demo import demo_arrays
    from padm_pansharpening.engine.hfreqdiff.method import HFreqDiffMethod

    pan, ms_lr, _ = demo_arrays(size, seed=7)
    small_pan, small_ms, _ = demo_arrays(256, seed=8)
    mp = pan.size / 1e6
    t0 = time.perf_counter()
    method = HFreqDiffMethod(model=models / MODEL_OF[backend], backend=backend, device=device, ensemble=ensemble)
    load_s = time.perf_counter() - t0
    # Warm-up: CUDA context, kernels, arenas. On CUDA the whole scene once, so that per-shape
    # autotuning (ONNX Runtime's cuDNN algorithm search) of every tile shape is not timed.
    _fuse_seconds(method, *((pan, ms_lr) if device == "cuda" else (small_pan, small_ms)), tile)
    default_steps, by_steps = method.steps, {}
    for steps in sorted({1, 3, default_steps}):
        method.steps = steps  # the warmed-up runtime, sampling with this many DDIM steps
        by_steps[steps] = _fuse_seconds(method, pan, ms_lr, tile) / mp
    return {"backend": backend, "device": device, "provider": method.provider, "ensemble": method.ensemble,
            "tile": tile, "size": size, "default_steps": default_steps, "model_load_s": load_s,
            "s_per_MP_default_run": by_steps[default_steps], "s_per_MP_per_step": (by_steps[3] - by_steps[1]) / 2,
            "s_per_MP_by_steps": by_steps}


def machine() -> dict:
    import os

    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()}
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    try:
        import onnxruntime as ort

        info["onnxruntime"] = ort.__version__
        info["onnxruntime_providers"] = ort.get_available_providers()
    except ImportError:
        pass
    return info


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.speed", description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024, help="synthetic scene side in PAN pixels")
    ap.add_argument("--backends", default="onnx,torch")
    ap.add_argument("--devices", default="cpu", help="comma-separated: cpu, cuda")
    ap.add_argument("--tiles", default=str(DEFAULT_TILE), help="comma-separated tile sizes")
    ap.add_argument("--ensemble", choices=("flips", "none"), help="default: the model's")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    bad = [b for b in args.backends.split(",") if b not in MODEL_OF] + \
          [d for d in args.devices.split(",") if d not in ("cpu", "cuda")]
    if bad:
        ap.error(f"unknown backend or device {', '.join(bad)}: backends onnx, torch; devices cpu, cuda")
    results = {"machine": machine(), "runs": []}
    print(json.dumps(results["machine"]), flush=True)
    for device in args.devices.split(","):
        for backend in args.backends.split(","):
            for tile in map(int, args.tiles.split(",")):
                try:
                    r = measure(args.size, backend, device, tile, args.ensemble)
                    print(f"{backend:5s} {device:4s} tile {tile}: {r['provider']}, ensemble {r['ensemble']}: "
                          f"{r['s_per_MP_default_run']:.3f} s/MP default run ({r['default_steps']} step), "
                          f"{r['s_per_MP_per_step']:.3f} s/MP per extra step", flush=True)
                except PansharpenError as exc:
                    r = {"backend": backend, "device": device, "tile": tile, "error": str(exc)}
                    print(f"{backend:5s} {device:4s} tile {tile}: cannot run: {exc}", flush=True)
                results["runs"].append(r)
                if args.json:
                    args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
