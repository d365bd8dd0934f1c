"""Save the HFreqDiff network (.pt: training checkpoints, scene models) and export it to ONNX
(opset 17, dynamic N/B/H/W) with the model's description and its network config (``net_config``)
in ``metadata_props``: the .onnx alone rebuilds the torch network (engine.hfreqdiff.onnx_weights).

    python -m padm_pansharpening.engine.hfreqdiff.export --model checkpoints/hfreqdiff.pt --out models/hfreqdiff.onnx
"""

from __future__ import annotations

import argparse
import io
import json
import warnings
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..tiling import DEFAULT_TILE
from .conditioning import BAND_COND_CHANNELS, BAND_STATS, PAN_COND_CHANNELS, X0_SCALE
from .method import DEFAULT_STEPS, tile_halo
from .onnx_weights import NET_CONFIG_KEY
from .runtime import STATS_INPUT, input_names, load_torch_model

OPSET = 17
FORMAT = "hfreqdiff-v1"


def model_metadata(extra: Optional[dict] = None) -> dict[str, str]:
    """String metadata stored in both model files (ONNX metadata_props, .pt 'meta'); the ONNX file
    also gets the network config (export_onnx)."""
    meta = {
        "format": FORMAT,
        "prediction": "x0 = (HRMS - MS_up) / scale_b * x0_scale",
        "schedule": "cosine (Nichol & Dhariwal, s=0.008), t in [0, 1]",
        "sampler": "DDIM eta=0 (engine.hfreqdiff.diffusion.ddim_sample)",
        "x0_scale": str(X0_SCALE),
        "default_steps": str(DEFAULT_STEPS),
        "bands": "3-8",
        "ratios": "2,4",
        "inputs": "x_t (N,B,H,W); t (N,); band_cond (N,B,%d,H,W); pan_cond (N,%d,H,W); desc (N,B); "
                  "[band_stats (N,B,%d): detail correlation and gain, models built with them]; "
                  "H, W multiples of 4" % (BAND_COND_CHANNELS, PAN_COND_CHANNELS, BAND_STATS),
        "output": "x0 (N,B,H,W)",
        "normalisation": "per scene (engine.hfreqdiff.conditioning.fit_stats): MS band b and PAN as "
                         "(DN - median) / ((p98 - p2) / 4); x0 = (HRMS - MS_up) / scale_b * x0_scale",
        "tile": str(DEFAULT_TILE),
        "overlap": json.dumps({f"ratio {r}": tile_halo(r) for r in (2, 4)}) + " PAN px of halo per side, "
                   "feathered blending over the overlap; exact for any tile size",
    }
    meta.update({k: (v if isinstance(v, str) else json.dumps(v)) for k, v in (extra or {}).items()})
    return meta


def save_torch(net, path: Path, meta: dict[str, str]) -> Path:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"format": FORMAT, "net_config": net.config, "state_dict": state, "meta": meta}, str(tmp))
    tmp.replace(path)
    return path


def export_onnx(net, path: Path, meta: dict[str, str], check: bool = True) -> Path:
    """Export with dynamic axes and metadata (plus ``net_config``, what rebuilds the torch network);
    with ``check``, compare ORT and torch on a random input."""
    import onnx
    import torch

    net = net.eval().cpu()
    n, b, h, w = 1, 4, 16, 16
    names = input_names(net.uses_band_stats)
    args = (torch.randn(n, b, h, w), torch.rand(n), torch.randn(n, b, BAND_COND_CHANNELS, h, w),
            torch.randn(n, PAN_COND_CHANNELS, h, w), torch.rand(n, b))
    if net.uses_band_stats:
        args = args + (torch.rand(n, b, BAND_STATS),)
    axes = {"x_t": {0: "n", 1: "b", 2: "h", 3: "w"}, "t": {0: "n"},
            "band_cond": {0: "n", 1: "b", 3: "h", 4: "w"}, "pan_cond": {0: "n", 2: "h", 3: "w"},
            "desc": {0: "n", 1: "b"}, STATS_INPUT: {0: "n", 1: "b"}}
    dyn = {**{k: axes[k] for k in names}, "x0": {0: "n", 1: "b", 2: "h", 3: "w"}}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, args, buf, dynamo=False, opset_version=OPSET, input_names=list(names),
                          output_names=["x0"], dynamic_axes=dyn)
    model = onnx.load_from_string(buf.getvalue())
    onnx.helper.set_model_props(model, {**meta, NET_CONFIG_KEY: json.dumps(net.config)})
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(path)
    if check:
        err = onnx_parity(net, path)
        if err > 1e-4:
            raise RuntimeError(f"ONNX export of {path} differs from torch (relative error {err:.2e})")
    return path


def onnx_parity(net, path: Path, shape: tuple[int, int, int, int] = (1, 5, 28, 36), seed: int = 0) -> float:
    """Max |ORT - torch| / max |torch| on random inputs of the given (N, B, H, W)."""
    import onnxruntime as ort
    import torch

    rng = np.random.default_rng(seed)
    n, b, h, w = shape
    feeds = {"x_t": rng.standard_normal((n, b, h, w)), "t": rng.random(n),
             "band_cond": rng.standard_normal((n, b, BAND_COND_CHANNELS, h, w)),
             "pan_cond": rng.standard_normal((n, PAN_COND_CHANNELS, h, w)), "desc": rng.random((n, b)),
             STATS_INPUT: rng.uniform(-1.0, 2.0, (n, b, BAND_STATS))}
    names = input_names(net.uses_band_stats)
    feeds = {k: v.astype(np.float32) for k, v in feeds.items() if k in names}
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, feeds)[0]
    with torch.no_grad():
        ref = net(*[torch.from_numpy(feeds[k]) for k in names]).numpy()
    return float(np.abs(out - ref).max() / max(np.abs(ref).max(), 1e-12))


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m padm_pansharpening.engine.hfreqdiff.export",
                                 description="Export an HFreqDiff model to ONNX (opset 17).")
    ap.add_argument("--model", required=True, help="the .pt (or .onnx) model file")
    ap.add_argument("--out", required=True, help="the .onnx file to write")
    args = ap.parse_args(argv)
    net, meta = load_torch_model(Path(args.model))
    path = export_onnx(net, Path(args.out), model_metadata(meta))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
