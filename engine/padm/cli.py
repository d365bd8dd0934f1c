"""The `degradation` command: run PADM on a PAN/MS pair and write the learned scene profile.

    python -m padm_pansharpening degradation --pan P --ms M [--sensor S] --out profile.json
        [--budget-seconds N] [--seed N] [--progress bar|json|none]
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def cmd_degradation(args: argparse.Namespace) -> int:
    from ..errors import PansharpenError
    from ..progress import make_progress
    from ..raster import check_output_path, read_for_evaluation
    from .mutual import PadmConfig, learn_degradation
    from .profile import write_profile

    if args.budget_seconds <= 0:
        raise PansharpenError(f"--budget-seconds must be positive, got {args.budget_seconds}.")
    out = check_output_path(args.out, [args.pan, args.ms])
    data = read_for_evaluation(args.pan, args.ms, None, None, args.sensor)
    for note in data.notes:
        print(f"note: {note}", file=sys.stderr)
    t0 = time.monotonic()
    config = PadmConfig(budget_seconds=float(args.budget_seconds), seed=args.seed, threads=args.threads)
    profile = learn_degradation(data.pan, data.ms_lr, data.ratio, data.sensor, config,
                                progress=make_progress(args.progress, "PADM"))
    from .. import __version__

    profile.version = f"{profile.version} (padm_pansharpening {__version__})"
    write_profile(out, profile)
    info = {"output": str(out), "rounds": len(profile.log), "stop": profile.log[-1].get("stop", ""),
            "seconds": round(time.monotonic() - t0, 1), "shifts": profile.shifts.round(3).tolist(),
            "spectral_weights": profile.spectral_weights.round(4).tolist()}
    if args.progress == "json":
        print(json.dumps({"result": info}), flush=True)
    else:
        print(f"wrote {out} ({info['rounds']} rounds, {info['stop']}, {info['seconds']} s)")
    return 0


def add_degradation_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("degradation", help="learn the scene's degradation (PADM) and write it as a JSON profile")
    p.add_argument("--pan", required=True, help="panchromatic raster (one band)")
    p.add_argument("--ms", required=True, help="multispectral raster (2+ bands)")
    p.add_argument("--sensor", help="sensor for the initial MTF guess (default: guessed from the metadata)")
    p.add_argument("--out", required=True, help="output JSON profile")
    p.add_argument("--budget-seconds", type=float, default=120.0, help="time budget (default 120 s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the network initialisation and crop sampling")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--progress", choices=["bar", "json", "none"], default="bar",
                   help="progress output: a text bar on stderr (default), JSON lines on stdout, or none")
    p.set_defaults(func=cmd_degradation)
