"""HFreqDiff presets (issue 14): held-out quality of `fast` and `best` against the classical
baselines, and wall time / peak RSS against GSA and gdal_pansharpen on larger real-imagery scenes.

    .venv/bin/python -m lab.presets_bench [--quality] [--speed] [--repeats 3]

Quality: the held-out scenes of the shipped model (lab/configs/hfreqdiff_train_ship.json), scored
as `build.py bench` scores them (engine.evaluation.evaluate_methods). Speed: (a) a 2048 x 2048 PAN
4-band scene and (b) a 1024 x 1024 PAN 8-band scene, mirrored up from the shared Zhengzhou and
WorldView-3 scenes (real imagery), through the `fuse` command as a user runs it, each timed with
/usr/bin/time -v (wall time, peak RSS); medians of --repeats runs; ratios to GSA timed in the same run.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from osgeo import gdal

from padm_pansharpening.engine.evaluation import HIGHER_IS_BETTER, evaluate_methods
from padm_pansharpening.engine.hfreqdiff.method import HFreqDiffMethod
from padm_pansharpening.engine.machine import machine_summary

from .bench import CLASSICAL, SHIPPED_CONFIG
from .scenes import load_scene, shared_data_dir
from .train_config import TrainConfig

PRESETS = {"fast": "none", "best": "flips"}  # ensemble of each preset with the shipped model


def _named(method, name: str):
    method.name = name
    return method


def quality() -> dict:
    out = {}
    for scene_name in TrainConfig.from_json(SHIPPED_CONFIG).val_scenes:
        s = load_scene(scene_name)
        methods = [_named(HFreqDiffMethod(device="cpu", ensemble=e), f"hfreqdiff-{p}") for p, e in PRESETS.items()]
        res = evaluate_methods(s.pan, s.ms_lr, s.ratio, s.sensor, s.bits, methods + list(CLASSICAL))
        out[scene_name] = {"RR": res["RR"], "FR": res["FR"]}
        print(f"quality {scene_name}: " + json.dumps({g: {m: {k: round(v, 4) for k, v in r.items()}
                                                         for m, r in res[g].items() if m.startswith("hfreqdiff")}
                                                     for g in ("RR", "FR")}), flush=True)
    return out


def quality_table(q: dict) -> str:
    rows = ["| scene | metric | best (flips) | fast | fast - best | best classical | fast beats it where best does |",
            "|---|---|---|---|---|---|---|"]
    for scene, groups in q.items():
        for group, keys in (("RR", ("Q2n", "SAM", "ERGAS")), ("FR", ("HQNR",))):
            table = groups[group]
            if not table:
                continue
            for k in keys:
                sign = 1 if HIGHER_IS_BETTER[k] else -1
                classical = max((m for m in table if not m.startswith("hfreqdiff")), key=lambda m: sign * table[m][k])
                best, fast, cl = table["hfreqdiff-best"][k], table["hfreqdiff-fast"][k], table[classical][k]
                beats = "-" if sign * (best - cl) <= 0 else ("yes" if sign * (fast - cl) > 0 else "NO")
                rows.append(f"| {scene} | {k} | {best:.4f} | {fast:.4f} | {fast - best:+.4f} | {cl:.4f} ({classical}) "
                            f"| {beats} |")
    return "\n".join(rows)


def _mirror(a: np.ndarray, reps: int) -> np.ndarray:
    """(B, H, W) mirrored reps x reps times (real imagery, seamless)."""
    rows = []
    for i in range(reps):
        row = [a[:, ::(-1 if i % 2 else 1), ::(-1 if j % 2 else 1)] for j in range(reps)]
        rows.append(np.concatenate(row, axis=2))
    return np.concatenate(rows, axis=1)


def _write(path: Path, arr: np.ndarray, px: float, wkt: str, dtype) -> Path:
    ds = gdal.GetDriverByName("GTiff").Create(str(path), arr.shape[2], arr.shape[1], arr.shape[0], dtype,
                                              ["TILED=YES", "COMPRESS=DEFLATE"])
    ds.SetGeoTransform((500000.0, px, 0.0, 4000000.0, 0.0, -px))
    ds.SetProjection(wkt)
    for b in range(arr.shape[0]):
        ds.GetRasterBand(b + 1).WriteArray(arr[b])
    ds = None
    return path


def make_scenes(folder: Path) -> dict[str, tuple[Path, Path, str]]:
    data = shared_data_dir()
    zz = gdal.Open(str(data / "vhr4b_zhengzhou_geotiff" / "pan.tif"))
    wkt = zz.GetProjection()
    pan = zz.ReadAsArray()[None, :512, :512]
    ms = gdal.Open(str(data / "vhr4b_zhengzhou_geotiff" / "ms.tif")).ReadAsArray()[:, :128, :128]
    a = (_write(folder / "a_pan.tif", _mirror(pan, 4), 0.5, wkt, gdal.GDT_UInt16),
         _write(folder / "a_ms.tif", _mirror(ms, 4), 2.0, wkt, gdal.GDT_UInt16), "none")
    wv = data / "wv3_hpf_geotiff"
    pan = gdal.Open(str(wv / "pan_uncompressed.tif")).ReadAsArray()[None, 1:513, 2:514]  # README: +1 row, +2 cols
    ms = gdal.Open(str(wv / "mul_uncompressed.tif")).ReadAsArray()[:, :128, :128]
    b = (_write(folder / "b_pan.tif", _mirror(pan, 2), 0.5, wkt, gdal.GDT_Float32),
         _write(folder / "b_ms.tif", _mirror(ms, 2), 2.0, wkt, gdal.GDT_Float32), "WV3")
    return {"a: 2048x2048 PAN, 4 bands": a, "b: 1024x1024 PAN, 8 bands": b}


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) from /usr/bin/time -v."""
    r = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", r.stderr).group(1)
    parts = [float(x) for x in wall.split(":")]
    seconds = sum(v * 60 ** (len(parts) - 1 - i) for i, v in enumerate(parts))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) / 1024
    return seconds, rss


def speed(folder: Path, repeats: int, best_repeats: int) -> dict:
    out = {}
    for label, (pan, ms, sensor) in make_scenes(folder).items():
        fuse = [sys.executable, "-m", "padm_pansharpening", "fuse", "--pan", str(pan), "--ms", str(ms),
                "--sensor", sensor, "--progress", "none"]
        runs = {"GSA": fuse + ["--method", "gsa"],
                "gdal_pansharpen": ["gdal_pansharpen.py", str(pan), str(ms), "-q"],
                "HFreqDiff fast": fuse + ["--method", "hfreqdiff", "--ensemble", "none"],
                "HFreqDiff best": fuse + ["--method", "hfreqdiff", "--ensemble", "flips"]}
        res = {}
        for name, cmd in runs.items():
            n = best_repeats if name == "HFreqDiff best" else repeats
            samples = []
            for k in range(n):
                target = folder / f"out_{k}.tif"
                target.unlink(missing_ok=True)
                samples.append(timed(cmd + ([str(target)] if name == "gdal_pansharpen" else ["--out", str(target)])))
                target.unlink(missing_ok=True)
            res[name] = {"seconds": statistics.median(s for s, _ in samples), "peak_rss_MiB": max(r for _, r in samples),
                         "runs": samples}
            print(f"speed {label} {name}: {res[name]['seconds']:.1f} s, {res[name]['peak_rss_MiB']:.0f} MiB", flush=True)
        out[label] = res
    return out


def speed_table(sp: dict) -> str:
    rows = ["| scene | method | wall s (median) | x GSA | peak RSS MiB |", "|---|---|---|---|---|"]
    for label, res in sp.items():
        gsa = res["GSA"]["seconds"]
        for name, r in res.items():
            rows.append(f"| {label} | {name} | {r['seconds']:.1f} | {r['seconds'] / gsa:.1f} | {r['peak_rss_MiB']:.0f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.presets_bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quality", action="store_true")
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--best-repeats", type=int, default=1)
    ap.add_argument("--json", default="build/presets_bench.json")
    args = ap.parse_args(argv)
    report: dict = {"machine": machine_summary()}
    if args.speed:
        with tempfile.TemporaryDirectory(prefix="padm_presets_") as tmp:
            report["speed"] = speed(Path(tmp), args.repeats, args.best_repeats)
    if args.quality:
        report["quality"] = quality()
    print(f"\nMachine: {report['machine']}\n")
    if "speed" in report:
        print(speed_table(report["speed"]) + "\n")
    if "quality" in report:
        print(quality_table(report["quality"]))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
