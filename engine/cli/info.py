"""`info`: versions, devices, models and sensors; with --pan/--ms, a pair's geometry and its PAN/MS
misregistration, measured without fusing (engine.registration)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import __version__
from ..definitions import MODEL_SUFFIXES, MODELS_DIR, bundled_models, sensor_names


def cmd_info(args: argparse.Namespace) -> int:
    if args.pan or args.ms:
        return check_pair(args)
    import numpy as np
    from osgeo import gdal

    print(f"padm_pansharpening {__version__}")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, GDAL {gdal.__version__}")
    try:
        import onnxruntime as ort

        print(f"onnxruntime {ort.__version__}: providers {', '.join(ort.get_available_providers())}")
    except ImportError:
        print("onnxruntime: not installed (needed for HFreqDiff inference)")
    try:
        import torch

        cuda = torch.cuda.is_available()
        print(f"torch {torch.__version__}: {'CUDA ' + torch.cuda.get_device_name(0) if cuda else 'CPU only'}")
    except ImportError:
        print("torch: not installed (needed only to fine-tune, or for a .pt model)")
    print("models: " + (", ".join(model_lines()) or f"none in {MODELS_DIR}"))
    print("sensors: " + ", ".join(sensor_names()))
    return 0


def model_lines() -> list[str]:
    """Every model file in the models folder (each suffix HFreqDiff reads), the bundled one marked."""
    presets: dict[Path, list[str]] = {}
    for quality in ("fast", "best"):  # one file may serve both (fast falls back to the best model)
        for p in bundled_models(quality):
            presets.setdefault(p, []).append(quality)
    roles = {p: "quality " + " and ".join(q) for p, q in presets.items()}
    files = sorted(p for p in MODELS_DIR.iterdir() if p.is_file() and p.suffix in MODEL_SUFFIXES) \
        if MODELS_DIR.is_dir() else []
    return [f"{p.name} ({p.stat().st_size / 1e6:.1f} MB{', bundled: ' + roles[p] if p in roles else ''})" for p in files]


def check_pair(args: argparse.Namespace) -> int:
    """The pair's geometry and misregistration, as `fuse` would note them, without fusing."""
    from ..errors import PansharpenError
    from ..raster.pair import open_pair, resolve_sensor
    from ..registration import measure_pair

    if not (args.pan and args.ms):
        raise PansharpenError("info checks a pair with both --pan and --ms (or neither, for versions and models).")
    pair = open_pair(args.pan, args.ms)
    try:
        sensor, notes = resolve_sensor(pair, args.sensor)
        print(f"pair: {pair.width}x{pair.height} PAN px processed, {pair.bands} MS bands, ratio {pair.ratio}, "
              f"sensor {sensor.name}")
        for note in list(pair.notes) + notes:
            print(f"note: {note}")
        m = measure_pair(pair, sensor)
        print(m.note() if m is not None else "misregistration not measured: the scene is under 24 MS px a side")
    finally:
        pair.close()
    return 0


def add_info_command(sub: argparse._SubParsersAction) -> None:
    from .options import add_sensor_option

    p = sub.add_parser("info", help="versions, devices, models and sensors; with --pan/--ms, check a pair")
    p.add_argument("--pan", help="check this panchromatic raster with --ms: grid alignment and the PAN/MS "
                                 "misregistration, without fusing")
    p.add_argument("--ms", help="the multispectral raster of the pair to check (with --pan)")
    add_sensor_option(p, "MTF guess of the misregistration check")
    p.set_defaults(func=cmd_info)
