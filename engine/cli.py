"""Command line: `python -m padm_pansharpening <command> ...`.

User mistakes print one line ("error: ...") and exit with status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

from . import DEFAULT_TILE, __version__
from .errors import Cancelled, PansharpenError
from .progress import make_progress

CLASSICAL = ["exp", "brovey", "gsa", "mtf-glp-hpm", "bdsd-pc"]


def add_progress_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--progress", choices=["bar", "json", "none"], default="bar",
                   help="progress output: a text bar on stderr (default), JSON lines on stdout, or none")


def _add_hfreqdiff_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("HFreqDiff options")
    g.add_argument("--model", help="model file or fine-tuned model folder (default: the bundled model)")
    g.add_argument("--steps", type=int, help="DDIM sampling steps (default: the model's)")
    g.add_argument("--seed", type=int, default=0, help="noise seed (same seed, same output)")
    g.add_argument("--samples", type=int, default=1, help="draw K samples; K>1 also writes their per-pixel spread")
    g.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="inference device")
    g.add_argument("--ensemble", choices=["flips", "none"],
                   help="flips (default): average the prediction over 4 flips, better quality, 4x the network "
                        "time; none: fastest")


def _hfreqdiff_options(args: argparse.Namespace) -> dict:
    keys = ("model", "steps", "seed", "samples", "device", "ensemble")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def cmd_fuse(args: argparse.Namespace) -> int:
    from .pipeline import fuse_files

    options = _hfreqdiff_options(args) if args.method == "hfreqdiff" else {}
    result = fuse_files(args.pan, args.ms, args.out, method=args.method, sensor=args.sensor, tile=args.tile,
                        float_output=args.float, progress=make_progress(args.progress, args.method),
                        method_options=options)
    _report_fuse(result, args.progress)
    return 0


def _report_fuse(result, progress_kind: str) -> None:
    info = {"output": str(result.out_path), "width": result.width, "height": result.height,
            "bands": result.bands, "seconds": round(result.seconds, 2), "method": result.method,
            "provider": result.provider, "notes": list(result.notes),
            "uncertainty": str(result.uncertainty_path) if result.uncertainty_path else None}
    if progress_kind == "json":
        print(json.dumps({"result": info}), flush=True)
        return
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    mp = result.width * result.height / 1e6
    print(f"wrote {result.out_path} ({result.width}x{result.height}x{result.bands}, {result.method} on "
          f"{result.provider}, {result.seconds:.1f} s, {result.seconds / max(mp, 1e-9):.2f} s/MP)")
    if result.uncertainty_path:
        print(f"wrote {result.uncertainty_path} (per-pixel standard deviation of the samples)")


def _print_tables(results: dict, as_markdown: bool = True) -> None:
    from .evaluation import FR_KEYS, RR_KEYS, markdown_table

    if results.get("RR"):
        print("\nReduced resolution (Wald protocol)\n")
        print(markdown_table(results["RR"], RR_KEYS))
    if results.get("FR"):
        print("\nFull resolution\n")
        print(markdown_table(results["FR"], FR_KEYS))


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .metrics import full_resolution_metrics, reduced_resolution_metrics
    from .raster import read_for_evaluation

    data = read_for_evaluation(args.pan, args.ms, args.fused, args.reference, args.sensor)
    for note in data.notes:
        print(f"note: {note}", file=sys.stderr)
    results: dict = {"FR": {"fused": full_resolution_metrics(data.fused, data.ms_lr, data.pan, data.sensor, data.ratio)}}
    if data.reference is not None:
        results["RR"] = {"fused": reduced_resolution_metrics(data.fused, data.reference, data.ratio, data.bits)}
    _print_tables(results)
    if args.json:
        _write_json(args.json, {"fused": str(args.fused), "sensor": data.sensor.name, **results})
    return 0


def cmd_evaluate_scene(args: argparse.Namespace) -> int:
    from .evaluation import evaluate_methods

    if args.scene:
        from .datasets import load_scene

        scene = load_scene(args.scene)
        pan, ms_lr, ratio, sensor, bits, notes = scene.pan, scene.ms_lr, scene.ratio, scene.sensor, scene.bits, scene.notes
        if args.sensor:
            from .sensors import get_sensor

            sensor = get_sensor(args.sensor)
    else:
        if not (args.pan and args.ms):
            raise PansharpenError("evaluate-scene needs --pan and --ms (or --scene NAME).")
        from .raster import read_for_evaluation

        data = read_for_evaluation(args.pan, args.ms, None, None, args.sensor)
        pan, ms_lr, ratio, sensor, bits, notes = data.pan, data.ms_lr, data.ratio, data.sensor, data.bits, data.notes
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    results = evaluate_methods(pan, ms_lr, ratio, sensor, bits, methods, progress=make_progress(args.progress, "evaluate"))
    _print_tables(results)
    if args.json:
        _write_json(args.json, {"sensor": sensor.name, "ratio": ratio, "bits": bits, **results})
    return 0


def _write_json(path: str, obj: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=1))
    print(f"wrote {path}")


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
        print("torch: not installed (needed only to fine-tune or train)")
    models = sorted((Path(__file__).resolve().parents[1] / "models").glob("*.onnx"))
    print("models: " + (", ".join(m.name for m in models) if models else "none bundled yet"))
    from .sensors import SENSORS

    print("sensors: " + ", ".join(s.name for s in SENSORS.values()))
    return 0


def default_method() -> str:
    """HFreqDiff when the bundled model is present, else the best classical baseline."""
    bundled = Path(__file__).resolve().parents[1] / "models" / "hfreqdiff.onnx"
    return "hfreqdiff" if bundled.exists() else "gsa"


def cmd_demo(args: argparse.Namespace) -> int:
    """`build.py run`: pansharpen the synthetic demo scene (or --pan/--ms) -> GeoTIFF + PNG preview."""
    from .pipeline import fuse_files
    from .raster import write_preview_png

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    method = args.method or default_method()
    truth = None
    if args.pan or args.ms:
        if not (args.pan and args.ms):
            raise PansharpenError("run needs both --pan and --ms (or neither, for the demo scene).")
        pan_path, ms_path, sensor, stem = Path(args.pan), Path(args.ms), args.sensor, Path(args.pan).stem
        rgb = None
    else:
        from .datasets import demo_scene, write_geotiffs

        print("generating the synthetic demo scene (4 bands, 512x512 PAN, UTM 33N, known degradation)")
        scene, truth = demo_scene(512, seed=0)
        pan_path, ms_path = write_geotiffs(scene, out_dir / "demo_inputs")
        sensor, stem = scene.sensor.name, "demo"
        rgb = scene.sensor.rgb_bands(4)
    out = out_dir / f"{stem}_{method}.tif"
    options = _hfreqdiff_options(args) if method == "hfreqdiff" else {}
    result = fuse_files(pan_path, ms_path, out, method=method, sensor=sensor, tile=args.tile,
                        progress=make_progress(args.progress, method), method_options=options)
    _report_fuse(result, args.progress)
    png = out.with_suffix(".png")
    write_preview_png(out, png, rgb)
    print(f"wrote {png} (preview)")
    if truth is not None:
        _score_demo(out, truth, scene)
    return 0


def _score_demo(fused_path: Path, truth, scene) -> None:
    import numpy as np
    from osgeo import gdal

    from .metrics import reduced_resolution_metrics

    fused = np.moveaxis(gdal.Open(str(fused_path)).ReadAsArray().astype(np.float64), 0, 2)
    m = reduced_resolution_metrics(fused, truth[: fused.shape[0], : fused.shape[1]], scene.ratio, scene.bits)
    print("against the demo's ground truth: " + ", ".join(f"{k} {v:.4f}" for k, v in m.items()))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m padm_pansharpening",
                                description="PADM Pansharpening: fuse PAN and MS rasters into a high-resolution MS GeoTIFF.")
    p.add_argument("--version", action="version", version=__version__)
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fuse", help="pansharpen a PAN/MS pair into a GeoTIFF")
    f.add_argument("--pan", required=True, help="panchromatic raster (one band)")
    f.add_argument("--ms", required=True, help="multispectral raster (2+ bands)")
    f.add_argument("--out", required=True, help="output GeoTIFF")
    f.add_argument("--method", default="gsa", help="hfreqdiff | " + " | ".join(CLASSICAL) + " (default gsa)")
    f.add_argument("--sensor", help="QB, IKONOS, GeoEye1, WV2, WV3, WV4, GF2, Pleiades, none (default: guessed)")
    f.add_argument("--tile", type=int, default=DEFAULT_TILE, help=f"tile size in PAN pixels (default {DEFAULT_TILE})")
    f.add_argument("--float", action="store_true", help="write float32 instead of the MS data type")
    _add_hfreqdiff_options(f)
    add_progress_option(f)
    f.set_defaults(func=cmd_fuse)

    e = sub.add_parser("evaluate", help="quality metrics of any fused raster")
    e.add_argument("--pan", required=True)
    e.add_argument("--ms", required=True)
    e.add_argument("--fused", required=True, help="the fused raster to score (from this tool or another)")
    e.add_argument("--reference", help="ground-truth HRMS: adds the reduced-resolution metrics")
    e.add_argument("--sensor")
    e.add_argument("--json", help="write the metrics as JSON to this file")
    e.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("evaluate-scene", help="reduced- and full-resolution tables of several methods on one scene")
    s.add_argument("--pan")
    s.add_argument("--ms")
    s.add_argument("--scene", help="a shared scene by name instead of --pan/--ms")
    s.add_argument("--methods", default=",".join(CLASSICAL), help="comma-separated methods")
    s.add_argument("--sensor")
    s.add_argument("--json")
    add_progress_option(s)
    s.set_defaults(func=cmd_evaluate_scene)

    i = sub.add_parser("info", help="versions, devices and models")
    i.set_defaults(func=cmd_info)

    d = sub.add_parser("demo", help="pansharpen the synthetic demo scene (what `build.py run` does)")
    d.add_argument("--pan")
    d.add_argument("--ms")
    d.add_argument("--sensor")
    d.add_argument("--method", help="default: hfreqdiff with the bundled model")
    d.add_argument("--tile", type=int, default=DEFAULT_TILE, help=f"tile size in PAN pixels (default {DEFAULT_TILE})")
    d.add_argument("--out-dir", default="build/run")
    _add_hfreqdiff_options(d)
    add_progress_option(d)
    d.set_defaults(func=cmd_demo)

    sub.add_parser("train", help="train HFreqDiff: train --config models/hfreqdiff_train.json (see train --help)")

    for extra in _EXTRA_COMMANDS:
        extra(sub)
    return p


def cmd_train(argv: Sequence[str]) -> int:
    from .hfreqdiff.train import main as train_main

    return train_main(list(argv))


# Commands contributed by other modules (training, PADM): functions that add a subparser.
def _add_padm_commands(sub: argparse._SubParsersAction) -> None:
    from .padm.cli import add_degradation_command, add_finetune_command

    add_degradation_command(sub)
    add_finetune_command(sub)


_EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_padm_commands]


GDAL_CACHE_BYTES = 256 * 2**20


def _bound_gdal_cache() -> None:
    """GDAL's block cache defaults to 5% of the RAM: bound it so that the process's memory follows
    the tile size, not the machine. GDAL_CACHEMAX in the environment wins."""
    if "GDAL_CACHEMAX" not in os.environ:
        from osgeo import gdal

        gdal.SetCacheMax(GDAL_CACHE_BYTES)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _bound_gdal_cache()
    try:
        if argv[:1] == ["train"]:  # the training command owns its own options
            return int(cmd_train(argv[1:]) or 0)
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except PansharpenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (Cancelled, KeyboardInterrupt):
        print("cancelled: no output was written", file=sys.stderr)
        return 130
