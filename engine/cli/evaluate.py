"""`evaluate` (the metrics of any fused raster) and `evaluate-scene` (methods side by side)."""

from __future__ import annotations

import argparse

from ..definitions import CLASSICAL_METHODS, HFREQDIFF
from ..progress import make_progress
from .options import add_pan_ms_options, add_progress_option, add_sensor_option, print_notes, print_tables, write_json


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate_files

    ev = evaluate_files(args.pan, args.ms, args.fused, args.reference, args.sensor)
    print_notes(ev.notes)
    tables = {group: {"fused": values} for group, values in ev.results.items()}
    print_tables(tables)
    if args.json:
        write_json(args.json, {"fused": str(args.fused), "sensor": ev.sensor, **tables})
    return 0


def cmd_evaluate_scene(args: argparse.Namespace) -> int:
    from ..evaluation import FR_UNRANKED, evaluate_methods
    from ..raster.evaluation_inputs import read_for_evaluation

    data = read_for_evaluation(args.pan, args.ms, None, None, args.sensor)
    print_notes(data.notes)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    results = evaluate_methods(data.pan, data.ms_lr, data.ratio, data.sensor, data.bits, methods,
                               progress=make_progress(args.progress, "evaluate"))
    print_tables(results)
    if args.json:
        not_ranked = {m: why for m, why in FR_UNRANKED.items() if m in results.get("FR", {})}
        write_json(args.json, {"sensor": data.sensor.name, "ratio": data.ratio, "bits": data.bits, **results,
                               "FR_not_ranked": not_ranked})
    return 0


def add_evaluate_commands(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("evaluate", help="quality metrics of any fused raster")
    add_pan_ms_options(e)
    e.add_argument("--fused", required=True, help="the fused raster to score (from this tool or another)")
    e.add_argument("--reference", help="ground-truth HRMS: adds the reduced-resolution metrics")
    add_sensor_option(e, "MTF filters of the metrics")
    e.add_argument("--json", help="write the metrics as JSON to this file")
    e.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("evaluate-scene", help="reduced- and full-resolution tables of several methods on one scene",
                       description="Reduced resolution (Wald protocol): each method fuses the scene degraded by "
                                   "the ratio and is compared with the original MS. Full resolution: each method "
                                   "fuses the scene itself, scored without reference. The best value per column "
                                   "is in bold; at full resolution EXP is not ranked (it injects no PAN detail, so "
                                   "its D_lambda_K is trivially low: a reference, not a competitor).")
    add_pan_ms_options(s)
    s.add_argument("--methods", default=",".join(CLASSICAL_METHODS),
                   help=f"comma-separated methods among {', '.join((HFREQDIFF, *CLASSICAL_METHODS))} "
                        f"(default: {','.join(CLASSICAL_METHODS)})")
    add_sensor_option(s, "Wald degradation and the metrics")
    s.add_argument("--json", help="write the tables as JSON to this file")
    add_progress_option(s)
    s.set_defaults(func=cmd_evaluate_scene)
