"""`info`: versions, devices, models and sensors."""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..definitions import MODEL_SUFFIXES, MODELS_DIR, sensor_names


def cmd_info(args: argparse.Namespace) -> int:  # noqa: ARG001
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
    models = sorted(p for s in MODEL_SUFFIXES for p in MODELS_DIR.glob(f"*{s}"))
    print("models: " + (", ".join(m.name for m in models) if models else "none bundled"))
    print("sensors: " + ", ".join(sensor_names()))
    return 0


def add_info_command(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("info", help="versions, devices and models").set_defaults(func=cmd_info)
