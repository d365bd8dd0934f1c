"""Compare HFreqDiff model files on scenes, with the bench's protocol (engine.evaluation).

    python -m lab.compare --models models/hfreqdiff.onnx checkpoints/new.onnx

Reduced resolution (Wald, toolbox crop 21) and full resolution (HQNR) of each model and of the
best classical method per scene, on the held-out scenes of the bundled model's training config
unless --scenes says otherwise. The choice of which model ships is made on this table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from padm_pansharpening.engine.errors import PansharpenError
from padm_pansharpening.engine.evaluation import FR_KEYS, best_method, evaluate_methods, markdown_table

CLASSICAL = ("gsa", "mtf-glp-hpm", "bdsd-pc")


def compare(models: Sequence[Path], scenes: Sequence[str], classical: Sequence[str] = CLASSICAL,
            threads: Optional[int] = None, ensemble: Optional[str] = None, seed: int = 0) -> dict:
    from .scenes import load_scene
    from padm_pansharpening.engine.hfreqdiff.method import HFreqDiffMethod

    hfd = []
    for path in models:  # one runtime session per model for all scenes (fit() takes each scene's statistics)
        m = HFreqDiffMethod(model=path, threads=threads, ensemble=ensemble, seed=seed)
        m.name = path.stem  # instance label: the tables key methods by name
        hfd.append(m)
    out = {}
    for name in scenes:
        scene = load_scene(name)
        methods = [*classical, *hfd]
        out[name] = evaluate_methods(scene.pan, scene.ms_lr, scene.ratio, scene.sensor, scene.bits, methods)
        print(f"## {name}\n", flush=True)
        for res, keys in (("RR", ("Q2n", "SAM", "ERGAS", "SCC")), ("FR", FR_KEYS)):
            if out[name][res]:
                print(markdown_table(out[name][res], keys, res), flush=True)
                if classical:
                    key = "Q2n" if res == "RR" else "HQNR"
                    best = best_method(out[name][res], key, exclude=[p.stem for p in models])
                    print(f"best classical ({key}): {best}\n", flush=True)
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.compare",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", type=Path, required=True, help="model files (.onnx or .pt)")
    ap.add_argument("--scenes", help="comma-separated scenes (default: the bundled model's held-out scenes)")
    ap.add_argument("--classical", default=",".join(CLASSICAL))
    ap.add_argument("--threads", type=int)
    ap.add_argument("--ensemble", choices=("flips", "none"))
    ap.add_argument("--seed", type=int, default=0, help="sampling seed (the bench uses 0)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    from .bench import held_out_scenes

    scenes = args.scenes.split(",") if args.scenes else held_out_scenes()
    missing = [str(p) for p in args.models if not p.is_file()]
    if missing:
        print(f"error: no model file {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        table = compare(args.models, scenes, [c for c in args.classical.split(",") if c], args.threads,
                        args.ensemble, args.seed)
    except PansharpenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
