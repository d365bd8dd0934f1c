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

from padm_pansharpening.engine.definitions import bundled_model
from padm_pansharpening.engine.evaluation import HIGHER_IS_BETTER, evaluate_methods
from padm_pansharpening.engine.hfreqdiff.method import HFreqDiffMethod
from padm_pansharpening.engine.machine import machine_summary

from .bench import CLASSICAL, SHIPPED_CONFIG
from .scenes import load_scene, shared_data_dir
from .train_config import TrainConfig

PRESETS = ("fast", "best")  # the shipped presets: the distilled model once, the shipped model's flip ensemble


def _named(method, name: str):
    method.name = name
    return method


TOLERANCE = {"Q2n": 0.003, "SAM": 0.05, "ERGAS": 0.03, "HQNR": 0.005}  # issue 14: against today's best
REFERENCE = "hfreqdiff-best"


def hfreqdiff_variants(candidates: dict[str, str] | None = None) -> list:
    """The two shipped presets, the previous fast preset (the best model run once), then each candidate
    (name -> model[:ensemble], default one pass)."""
    methods = [_named(HFreqDiffMethod(device="cpu", quality=p), f"hfreqdiff-{p}") for p in PRESETS]
    methods.append(_named(HFreqDiffMethod(model=bundled_model("best"), device="cpu", ensemble="none"),
                          "previous-fast"))
    for name, spec in (candidates or {}).items():
        path, _, ensemble = spec.partition(":")
        methods.append(_named(HFreqDiffMethod(model=path, device="cpu", ensemble=ensemble or "none"), name))
    return methods


def quality(candidates: dict[str, str] | None = None, scenes: list[str] | None = None) -> dict:
    out = {}
    methods = hfreqdiff_variants(candidates)  # each loads its model once; fit per scene
    names = [m.name for m in methods]
    for scene_name in scenes or TrainConfig.from_json(SHIPPED_CONFIG).val_scenes:
        s = load_scene(scene_name)
        res = evaluate_methods(s.pan, s.ms_lr, s.ratio, s.sensor, s.bits, methods + list(CLASSICAL))
        out[scene_name] = {"RR": res["RR"], "FR": res["FR"]}
        print(f"quality {scene_name}: " + json.dumps({g: {m: {k: round(v, 4) for k, v in r.items()}
                                                         for m, r in res[g].items() if m in names}
                                                     for g in ("RR", "FR")}), flush=True)
    return out


def quality_table(q: dict) -> str:
    """Per held-out scene and metric: today's best, then every other HFreqDiff variant with its
    difference to it (* outside the issue's tolerance) and whether it beats the best classical
    method where today's best does (NO where it does not)."""
    first = next(iter(q.values()))
    variants = [m for m in next(t for t in first.values() if t) if m.lower() not in CLASSICAL]
    others = [v for v in variants if v != REFERENCE]
    rows = ["| scene | metric | best (flips) | " + " | ".join(others) + " | best classical |",
            "|---|---|---|" + "---|" * len(others) + "---|"]
    for scene, groups in q.items():
        for group, keys in (("RR", ("Q2n", "SAM", "ERGAS")), ("FR", ("HQNR",))):
            table = groups[group]
            if not table:
                continue
            for k in keys:
                sign = 1 if HIGHER_IS_BETTER[k] else -1
                classical = max((m for m in table if m not in variants), key=lambda m: sign * table[m][k])
                ref, cl = table[REFERENCE][k], table[classical][k]
                cells = []
                for v in others:
                    d = table[v][k] - ref
                    flag = "*" if sign * d < -TOLERANCE[k] else ""
                    beats = " NO" if sign * (ref - cl) > 0 and sign * (table[v][k] - cl) <= 0 else ""
                    cells.append(f"{table[v][k]:.4f} ({d:+.4f}{flag}){beats}")
                rows.append(f"| {scene} | {k} | {ref:.4f} | " + " | ".join(cells) + f" | {cl:.4f} ({classical}) |")
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


def mirrored_scenes(folder: Path, reps_4band: int, reps_8band: int, prefix: str = "") -> dict[str, tuple[Path, Path, str]]:
    """Two real-imagery scenes mirrored up: the Zhengzhou VHR crop (512 px PAN, 4 bands, uint16)
    ``reps_4band`` x ``reps_4band`` times and the WorldView-3 crop (512 px, 8 bands, float32)
    ``reps_8band`` x ``reps_8band`` times; label -> (PAN, MS, sensor)."""
    data = shared_data_dir()
    zz = gdal.Open(str(data / "vhr4b_zhengzhou_geotiff" / "pan.tif"))
    wkt = zz.GetProjection()
    pan = zz.ReadAsArray()[None, :512, :512]
    ms = gdal.Open(str(data / "vhr4b_zhengzhou_geotiff" / "ms.tif")).ReadAsArray()[:, :128, :128]
    a = (_write(folder / f"{prefix}a_pan.tif", _mirror(pan, reps_4band), 0.5, wkt, gdal.GDT_UInt16),
         _write(folder / f"{prefix}a_ms.tif", _mirror(ms, reps_4band), 2.0, wkt, gdal.GDT_UInt16), "none")
    wv = data / "wv3_hpf_geotiff"
    pan = gdal.Open(str(wv / "pan_uncompressed.tif")).ReadAsArray()[None, 1:513, 2:514]  # README: +1 row, +2 cols
    ms = gdal.Open(str(wv / "mul_uncompressed.tif")).ReadAsArray()[:, :128, :128]
    b = (_write(folder / f"{prefix}b_pan.tif", _mirror(pan, reps_8band), 0.5, wkt, gdal.GDT_Float32),
         _write(folder / f"{prefix}b_ms.tif", _mirror(ms, reps_8band), 2.0, wkt, gdal.GDT_Float32), "WV3")
    a_side, b_side = 512 * reps_4band, 512 * reps_8band
    return {f"{a_side}x{a_side} PAN, 4 bands": a, f"{b_side}x{b_side} PAN, 8 bands": b}


def make_scenes(folder: Path) -> dict[str, tuple[Path, Path, str]]:
    """The speed table's scenes: (a) 2048 x 2048 PAN 4 bands, (b) 1024 x 1024 PAN 8 bands."""
    (la, a), (lb, b) = mirrored_scenes(folder, 4, 2).items()
    return {f"a: {la}": a, f"b: {lb}": b}


def make_large_scenes(folder: Path) -> dict[str, tuple[Path, Path, str]]:
    """The memory rows: 8192 x 8192 PAN 4 bands and 4096 x 4096 PAN 8 bands."""
    return mirrored_scenes(folder, 16, 8, prefix="big_")


def memory(folder: Path, presets: tuple[str, ...] = ("fast",)) -> dict:
    """Wall time and peak RSS of HFreqDiff runs (the given presets) on the large scenes, one run each."""
    out = {}
    for label, (pan, ms, sensor) in make_large_scenes(folder).items():
        for preset in presets:
            target = folder / "big_out.tif"
            target.unlink(missing_ok=True)
            seconds, rss = timed([sys.executable, "-m", "padm_pansharpening", "fuse", "--pan", str(pan), "--ms", str(ms),
                                  "--sensor", sensor, "--progress", "none", "--method", "hfreqdiff",
                                  "--quality", preset, "--out", str(target)])
            target.unlink(missing_ok=True)
            out[f"{label}, HFreqDiff {preset}"] = {"seconds": seconds, "peak_rss_MiB": rss}
            print(f"memory {label} HFreqDiff {preset}: {seconds:.0f} s, {rss:.0f} MiB", flush=True)
    return out


def memory_table(mem: dict) -> str:
    rows = ["| scene, run | wall s | peak RSS MiB |", "|---|---|---|"]
    rows += [f"| {k} | {v['seconds']:.0f} | {v['peak_rss_MiB']:.0f} |" for k, v in mem.items()]
    return "\n".join(rows)


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
                "HFreqDiff fast": fuse + ["--method", "hfreqdiff", "--quality", "fast"],
                "HFreqDiff best": fuse + ["--method", "hfreqdiff", "--quality", "best"]}
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
    ap.add_argument("--memory", action="store_true", help="peak RSS of the default run on 8192^2 4-band and 4096^2 "
                                                          "8-band scenes")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--best-repeats", type=int, default=1)
    ap.add_argument("--candidate", action="append", default=[], metavar="NAME=MODEL[:ensemble]",
                    help="another model to score (one pass unless :flips)")
    ap.add_argument("--scenes", nargs="*", help="held-out scenes to score (default: all of them)")
    ap.add_argument("--json", default="build/presets_bench.json")
    args = ap.parse_args(argv)
    report: dict = {"machine": machine_summary()}
    if args.speed:
        with tempfile.TemporaryDirectory(prefix="padm_presets_") as tmp:
            report["speed"] = speed(Path(tmp), args.repeats, args.best_repeats)
    if args.memory:
        with tempfile.TemporaryDirectory(prefix="padm_memory_") as tmp:
            report["memory"] = memory(Path(tmp))
    if args.quality:
        report["quality"] = quality(dict(c.split("=", 1) for c in args.candidate), args.scenes)
    print(f"\nMachine: {report['machine']}\n")
    if "speed" in report:
        print(speed_table(report["speed"]) + "\n")
    if "memory" in report:
        print(memory_table(report["memory"]) + "\n")
    if "quality" in report:
        print(quality_table(report["quality"]))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
