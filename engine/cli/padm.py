"""PADM's commands: `degradation` (learn the scene's degradation, write it as a JSON profile) and
`finetune` (adapt HFreqDiff to the scene, write a scene model folder).

    python -m padm_pansharpening degradation --pan P --ms M [--sensor S] --out profile.json
        [--budget-seconds N] [--seed N] [--threads N] [--progress bar|json|none]
    python -m padm_pansharpening finetune --pan P --ms M --out DIR [--budget-minutes M] [--fixed-mtf] ...
"""

from __future__ import annotations

import argparse
import sys
import time

from ..definitions import DEFAULT_FINETUNE_MINUTES
from .options import add_pan_ms_options, add_progress_option, add_sensor_option, print_result


def auto_threads(requested: int) -> int:
    """The cores this process may run on (its CPU affinity), capped at ``requested`` when > 0.
    Not cores minus the load: a little load (a browser, QGIS drawing) would leave a long run on one
    thread for its whole budget."""
    import os

    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, requested) if requested > 0 else cores)


def cmd_degradation(args: argparse.Namespace) -> int:
    from ..errors import PansharpenError
    from ..progress import make_progress
    from ..raster.evaluation_inputs import read_for_evaluation
    from ..raster.writer import check_output_path
    from ..padm.mutual import PadmConfig, learn_degradation
    from ..padm.profile import write_profile

    if args.budget_seconds <= 0:
        raise PansharpenError(f"--budget-seconds must be positive, got {args.budget_seconds}.")
    out = check_output_path(args.out, [args.pan, args.ms])
    data = read_for_evaluation(args.pan, args.ms, None, None, args.sensor)
    for note in data.notes:
        print(f"note: {note}", file=sys.stderr)
    t0 = time.monotonic()
    config = PadmConfig(budget_seconds=float(args.budget_seconds), seed=args.seed, threads=auto_threads(args.threads))
    profile = learn_degradation(data.pan, data.ms_lr, data.ratio, data.sensor, config,
                                progress=make_progress(args.progress, "PADM"))
    from .. import __version__

    profile.version = f"{profile.version} (padm_pansharpening {__version__})"
    write_profile(out, profile)
    info = {"output": str(out), "rounds": len(profile.log), "stop": profile.log[-1].get("stop", ""),
            "seconds": round(time.monotonic() - t0, 1), "shifts": profile.shifts.round(3).tolist(),
            "spectral_weights": profile.spectral_weights.round(4).tolist()}
    print_result(args.progress, info, f"wrote {out} ({info['rounds']} rounds, {info['stop']}, {info['seconds']} s)")
    return 0


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """--threads and --progress, as the other commands take them."""
    p.add_argument("--threads", type=int, default=0,
                   help="cap on torch CPU threads (default 0: every core this process may use)")
    add_progress_option(p)


def add_degradation_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("degradation", help="learn the scene's degradation (PADM) and write it as a JSON profile")
    add_pan_ms_options(p)
    add_sensor_option(p, "initial MTF guess")
    p.add_argument("--out", required=True, help="output JSON profile")
    p.add_argument("--budget-seconds", type=float, default=120.0, help="time budget (default 120 s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the network initialisation and crop sampling")
    _add_run_options(p)
    p.set_defaults(func=cmd_degradation)


def read_central_window(pan_path: str, ms_path: str, sensor: str | None, max_pan: int):
    """(PAN, aligned MS, ratio, Sensor, notes) of the central window of at most max_pan PAN pixels
    per side (a windowed read: big scenes are never loaded whole)."""
    import numpy as np

    from ..errors import PansharpenError
    from ..raster.pair import open_pair, resolve_sensor
    from ..tiling import central_window

    pair = open_pair(pan_path, ms_path)
    try:
        sensor_obj, notes = resolve_sensor(pair, sensor)
        r = pair.ratio
        top, left, h, w = central_window(pair.height, pair.width, r, max_pan)
        if h < r or w < r:
            raise PansharpenError(f"The PAN/MS overlap of {pan_path} is empty: give a matching pair.")
        pan, ms, pan_valid, ms_valid = pair.read(top, left, h, w)
        if not (pan_valid.all() and ms_valid.all()):
            raise PansharpenError(f"The central {w}x{h} PAN px of {pan_path} hold no-data pixels: cut the scene to "
                                  "valid pixels (gdal_translate -srcwin) before fine-tuning.")
        if (h, w) != (pair.height, pair.width):
            notes = list(notes) + [f"learning on the central {w}x{h} PAN px of the {pair.width}x{pair.height} scene"]
        return np.asarray(pan, np.float64), np.asarray(ms, np.float64), r, sensor_obj, list(pair.notes) + notes
    finally:
        pair.close()


def cmd_finetune(args: argparse.Namespace) -> int:
    from ..errors import PansharpenError
    from ..progress import make_progress
    from ..padm.finetune import FinetuneConfig, finetune_scene
    from ..padm.model_folder import check_model_folder

    if args.budget_minutes <= 0:
        raise PansharpenError(f"--budget-minutes must be positive, got {args.budget_minutes}.")
    out = check_model_folder(args.out)
    cfg = FinetuneConfig(budget_minutes=float(args.budget_minutes), seed=args.seed, threads=auto_threads(args.threads),
                         fixed_mtf=args.fixed_mtf, guard=not args.no_guard)
    pan, ms, ratio, sensor, notes = read_central_window(args.pan, args.ms, args.sensor, cfg.max_pan)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    res = finetune_scene(pan, ms, ratio, sensor, out, cfg, progress=make_progress(args.progress, "finetune"),
                         source={"pan": str(args.pan), "ms": str(args.ms)})
    card = res.card
    info = {"output": str(res.out_dir), "model": str(res.out_dir / "model.onnx"), "sensor": sensor.name,
            "fixed_mtf": cfg.fixed_mtf, "steps": card["finetune"]["steps"], "seconds": card["seconds"]["total"],
            "losses_before": card["finetune"]["losses_before"], "losses_after": card["finetune"]["losses_after"],
            "shifts": card["operator"]["shifts_lr_px"], "spectral_weights": card["operator"]["spectral_weights"],
            "kept": card["guard"]["kept"], "guard": card["guard"]}
    print_result(args.progress, info, f"kept the {info['kept']}: {card['guard']['reason']}\n"
                                      f"wrote {res.out_dir} ({info['steps']} fine-tuning steps, "
                                      f"{info['seconds']:.0f} s); use it with: fuse --method hfreqdiff --model "
                                      f"{res.out_dir} (it carries its sensor, {sensor.name})")
    return 0


def add_finetune_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finetune", help="PADM fine-tuning: learn the scene's degradation and adapt HFreqDiff to "
                                        "it; writes a scene model folder for fuse --model")
    add_pan_ms_options(p, "3-8 bands")
    p.add_argument("--out", required=True, help="the scene model folder to create (must not exist or be empty)")
    add_sensor_option(p, "initial MTF guess and band descriptors")
    p.add_argument("--budget-minutes", type=float, default=float(DEFAULT_FINETUNE_MINUTES),
                   help=f"wall-time budget of the whole run (default {DEFAULT_FINETUNE_MINUTES}; a 1024x1024 PAN "
                        "scene fits in it on 2 cores)")
    p.add_argument("--fixed-mtf", action="store_true",
                   help="ablation: fine-tune with the sensor's MTF guess instead of the learned operator")
    p.add_argument("--no-guard", action="store_true",
                   help="for studies: keep the fine-tuned model even where the shipped one scores better on the "
                        "held-out cells (default: the folder keeps whichever scores better)")
    p.add_argument("--seed", type=int, default=0, help="seed of PADM, the patch sampling and the noise")
    _add_run_options(p)
    p.set_defaults(func=cmd_finetune)
