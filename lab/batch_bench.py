"""Batch throughput: scenes per hour on this machine with 1 and with 2 worker processes (issue 18).

    .venv/bin/python -m lab.batch_bench [--scenes 8] [--size 384] [--method hfreqdiff] [--workers 1,2]

Scenes are crops of the shared Zhengzhou scene (real imagery) at different offsets; each worker
count runs the same manifest into a fresh folder, through the `batch` command as a user runs it.
Prints a markdown table and writes build/batch_bench.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from osgeo import gdal

from padm_pansharpening.engine.machine import machine_summary

from .scenes import shared_data_dir


def make_scenes(folder: Path, n: int, size: int) -> list[tuple[Path, Path]]:
    src = shared_data_dir() / "vhr4b_zhengzhou_geotiff"
    pan_ds, ms_ds = gdal.Open(str(src / "pan.tif")), gdal.Open(str(src / "ms.tif"))
    room = (min(pan_ds.RasterXSize, pan_ds.RasterYSize) - size) // 4 * 4
    out = []
    for k in range(n):
        off = (k * 4 * 7) % max(room, 4) // 4 * 4
        pan, ms = folder / f"s{k}_pan.tif", folder / f"s{k}_ms.tif"
        gdal.Translate(str(pan), pan_ds, srcWin=[off, off, size, size])
        gdal.Translate(str(ms), ms_ds, srcWin=[off // 4, off // 4, size // 4, size // 4])
        out.append((pan, ms))
    return out


def run(manifest: Path, workers: int, method: str, cwd: Path) -> dict:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "padm_pansharpening", "batch", "--manifest", str(manifest),
                        "--workers", str(workers), "--method", method, "--progress", "none",
                        "--report", str(cwd / f"report_{workers}.json")], cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"batch failed: {r.stderr.strip().splitlines()[-1:]}")
    report = json.loads((cwd / f"report_{workers}.json").read_text())
    return {"workers": workers, "seconds": round(seconds, 1), "scenes": len(report["scenes"]),
            "scenes_per_hour": round(3600 * len(report["scenes"]) / seconds, 1),
            "mean_scene_seconds": round(sum(s["seconds"] for s in report["scenes"]) / len(report["scenes"]), 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.batch_bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", type=int, default=8)
    ap.add_argument("--size", type=int, default=384, help="PAN pixels per side of each scene")
    ap.add_argument("--method", default="hfreqdiff")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--json", default="build/batch_bench.json")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="padm_batch_bench_") as tmp:
        tmp = Path(tmp)
        scenes = make_scenes(tmp, args.scenes, args.size)
        for w in (int(x) for x in args.workers.split(",")):
            folder = tmp / f"w{w}"
            folder.mkdir()
            manifest = folder / "m.csv"
            manifest.write_text("pan,ms,out\n" + "".join(f"{p},{m},o{k}.tif\n" for k, (p, m) in enumerate(scenes)))
            rows.append(run(manifest, w, args.method, folder))
    print(f"Batch throughput, {args.scenes} scenes of {args.size}x{args.size} PAN px ({args.method}), "
          f"{machine_summary()}\n")
    print("| worker processes | wall s | scenes/hour | mean s per scene (in its worker) |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['workers']} | {r['seconds']} | {r['scenes_per_hour']} | {r['mean_scene_seconds']} |")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"machine": machine_summary(), "config": vars(args), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
