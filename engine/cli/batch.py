"""`batch`: many scenes (a manifest) on dask.distributed, with the `fuse` options as every row's
defaults. Exit status 0 when every scene is done (or already was), 1 when any failed, 2 on a
usage error."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..definitions import DEFAULT_CLASSICAL
from ..progress import make_progress
from .options import (
    add_hfreqdiff_options,
    add_progress_option,
    add_sensor_option,
    add_tile_option,
    hfreqdiff_options,
    method_help,
)


def cmd_batch(args: argparse.Namespace) -> int:
    from ..batch.cluster import open_cluster
    from ..batch.manifest import read_manifest, scenes_from_pattern
    from ..batch.run import run_batch
    from ..batch.scenes import SceneDefaults, remove_partial_files, scene_task
    from ..errors import PansharpenError

    if bool(args.manifest) == bool(args.glob):
        raise PansharpenError("batch needs --manifest FILE, or --glob PATTERN with --pair and --out-dir.")
    if args.glob:
        if not (args.pair and args.out_dir):
            raise PansharpenError("--glob needs --pair PAN_PART=MS_PART and --out-dir DIR.")
        Path(args.out_dir).mkdir(parents=True, exist_ok=True)
        jobs = scenes_from_pattern(args.glob, args.pair, args.out_dir)
    else:
        jobs = read_manifest(args.manifest)
    defaults = SceneDefaults(args.method.strip().lower(), args.sensor, args.tile, args.float,
                             hfreqdiff_options(args).method_options(), args.evaluate)
    tasks = []
    for job in jobs:
        try:
            tasks.append(scene_task(job, defaults))
        except PansharpenError as exc:
            raise PansharpenError(f"{args.manifest or args.glob}: {exc}") from None
    t0 = time.perf_counter()
    cluster = open_cluster(args.scheduler, args.workers)
    try:
        where = args.scheduler or f"a local cluster of {cluster.n_workers} worker processes"
        _say(args, f"{len(tasks)} scenes on {where}" + (f"; dashboard {cluster.dashboard}" if cluster.dashboard else ""))
        reports = run_batch(tasks, cluster, make_progress(args.progress, "batch"),
                            on_scene=lambda rep: _scene_line(args, rep))
        workers = cluster.n_workers
    finally:
        cluster.close()
        remove_partial_files([t.job.out for t in tasks])  # after the workers are gone
    seconds = time.perf_counter() - t0
    summary = {s: sum(r["status"] == s for r in reports) for s in ("done", "skipped", "failed")}
    source = str(Path(args.manifest).absolute()) if args.manifest else f"{args.glob} ({args.pair})"
    report = {"manifest": source, "scheduler": args.scheduler or "local",
              "workers": workers, "seconds": round(seconds, 2), "summary": summary, "scenes": reports}
    if args.report:
        path = Path(args.report)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.part")
        partial.write_text(json.dumps(report, indent=1))
        partial.replace(path)
    if args.progress == "json":
        print(json.dumps({"result": {k: v for k, v in report.items() if k != "scenes"}}), flush=True)
    else:
        print(summary_table(reports))
        print(f"{summary['done']} done, {summary['skipped']} already done, {summary['failed']} failed in "
              f"{seconds:.1f} s on {workers} workers" + (f"; report {args.report}" if args.report else ""))
    return 1 if summary["failed"] else 0


def _say(args: argparse.Namespace, line: str) -> None:
    if args.progress != "json":
        print(line, file=sys.stderr)


def _scene_line(args: argparse.Namespace, rep: dict) -> None:
    if args.progress == "json":
        print(json.dumps({"scene": rep}), flush=True)


def summary_table(reports: list[dict]) -> str:
    """Markdown table: one row per scene."""
    lines = ["| row | output | status | seconds | worker | provider | error |", "|---|---|---|---|---|---|---|"]
    for r in reports:
        lines.append(f"| {r['row']} | {Path(r['out']).name} | {r['status']} | {r['seconds'] or 0:.1f} | "
                     f"{r['worker']} | {r['provider']} | {r['error']} |")
    return "\n".join(lines)


def add_batch_command(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("batch", help="pansharpen the scenes of a manifest on dask.distributed (local or a cluster)")
    b.add_argument("--manifest",
                   help="CSV with header pan,ms,out (optional columns sensor,method,model,bands) or JSON lines "
                        "with those keys; relative paths are relative to the manifest")
    b.add_argument("--glob", help="instead of a manifest: PAN files matching this pattern (quote it; ** allowed)")
    b.add_argument("--pair", help="with --glob: PAN_PART=MS_PART, the MS is the PAN's file name with PAN_PART "
                                  "replaced (e.g. P1BS=M1BS, pan=ms)")
    b.add_argument("--out-dir", help="with --glob: folder of the outputs (<PAN stem>_fused.tif)")
    b.add_argument("--scheduler", help="address of an existing Dask scheduler (default: a local cluster)")
    b.add_argument("--workers", type=int,
                   help="worker processes of the local cluster (default: one per core); ignored with --scheduler")
    b.add_argument("--report", help="write the per-scene report as JSON to this file")
    b.add_argument("--evaluate", action="store_true", help="add the full-resolution metrics of each output")
    b.add_argument("--method", default=DEFAULT_CLASSICAL, help=method_help() + "; a row's method column wins")
    add_sensor_option(b)
    add_tile_option(b)
    b.add_argument("--float", action="store_true", help="write float32 instead of the MS data type")
    add_hfreqdiff_options(b)
    add_progress_option(b)
    b.set_defaults(func=cmd_batch)

