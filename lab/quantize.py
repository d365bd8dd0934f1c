"""Static int8 quantisation of an HFreqDiff ONNX model (issue 14): QDQ, per-channel int8 weights,
uint8 activations, calibrated on the network inputs of real runs over the training scenes only
(reduced- and full-resolution crops), never the held-out ones.

    .venv/bin/python -m lab.quantize --model models/hfreqdiff.onnx --out lab/candidates/hfreqdiff_int8.onnx

The output head and the linear detail skip stay float (they set the output's last bits).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from padm_pansharpening.engine.hfreqdiff.method import HFreqDiffMethod
from padm_pansharpening.engine.hfreqdiff.runtime import _feeds, onnx_denoiser

from .bench import SHIPPED_CONFIG
from .scenes import load_scene, wald_pair
from .train_config import TrainConfig

FLOAT_NODES = ("/head/Conv", "/skip/Conv")
CROP = 192  # PAN px of each calibration crop


def calibration_feeds(model: Path, scenes: list[str], per_scene: int = 2, seed: int = 0) -> list[dict]:
    """The network's inputs on crops of ``scenes`` (full and reduced resolution), as ONNX feeds."""
    fp32, _, _ = onnx_denoiser(model, "cpu")
    feeds: list[dict] = []

    def recorder(x_t, t, cond):
        feeds.append(_feeds(x_t, t, cond, True))
        return fp32(x_t, t, cond)

    rng = np.random.default_rng(seed)
    for name in scenes:
        s = load_scene(name)
        r = s.ratio
        pan, ms_lr, rr_pan, rr_ms = wald_pair(s)
        for p, m in ((pan, ms_lr), (rr_pan, rr_ms)):
            c = min(CROP // r, m.shape[0], m.shape[1])
            for _ in range(per_scene):
                i, j = (int(rng.integers(0, m.shape[k] - c + 1)) for k in (0, 1))
                mc, pc = m[i:i + c, j:j + c], p[i * r:(i + c) * r, j * r:(j + c) * r]
                method = HFreqDiffMethod(denoiser=recorder, ensemble="none")
                method.fit(pc, mc, r, s.sensor)
                method.fuse_tile(pc, mc, r, (0, 0))
    return feeds


def quantize(model: Path, out: Path, scenes: list[str], keep_float: tuple[str, ...] = FLOAT_NODES,
             calibration: str = "MinMax", per_scene: int = 2) -> Path:
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    feeds = calibration_feeds(model, scenes, per_scene)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(feeds)

        def get_next(self):
            return next(self.items, None)

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(model), str(pre), skip_symbolic_shape=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, op_types_to_quantize=["Conv"],
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        nodes_to_exclude=list(keep_float), calibrate_method=getattr(CalibrationMethod, calibration))
    print(f"wrote {out} from {model}, calibrated on {len(feeds)} network calls over {', '.join(scenes)}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.quantize", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="models/hfreqdiff.onnx")
    ap.add_argument("--out", default="lab/candidates/hfreqdiff_int8.onnx")
    ap.add_argument("--keep-float", nargs="*", default=[], help="more nodes to keep in float (name prefixes)")
    ap.add_argument("--calibration", default="MinMax", choices=("MinMax", "Percentile", "Entropy"))
    ap.add_argument("--per-scene", type=int, default=2)
    args = ap.parse_args(argv)
    import onnx

    names = [n.name for n in onnx.load(args.model).graph.node if n.op_type == "Conv"]
    keep = FLOAT_NODES + tuple(n for n in names if any(n.startswith(p) for p in args.keep_float))
    quantize(Path(args.model), Path(args.out), TrainConfig.from_json(SHIPPED_CONFIG).train_scenes, keep,
             args.calibration, args.per_scene)
    return 0


if __name__ == "__main__":
    sys.exit(main())
