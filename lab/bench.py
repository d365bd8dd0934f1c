"""`python3 build.py bench`: quality and speed tables on the shared real scenes.

Quality: for every scene, the reduced-resolution (Wald) and full-resolution metric tables of every
method (engine.evaluation). Speed: seconds per PAN megapixel of the tiled GeoTIFF pipeline
(engine.pipeline) on each scene. Markdown on stdout, JSON in build/bench.json.
HFreqDiff speed: seconds per PAN megapixel for the default run and per extra DDIM step, ONNX
Runtime against torch, on a synthetic 1024 x 1024 scene (`--speed-size`, 0 to skip).
Optional: `--memory N` compares peak RSS and speed of our Brovey with GDAL's gdal_pansharpen
on a synthetic N x N PAN scene; `--memory-hfreqdiff N` measures HFreqDiff's peak RSS on one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from padm_pansharpening.engine.definitions import CLASSICAL_METHODS, bundled_model
from padm_pansharpening.engine.demo import demo_scene, write_geotiffs
from .scenes import list_scenes, load_scene
from .train_config import TrainConfig
from padm_pansharpening.engine.evaluation import FR_KEYS, RR_KEYS, evaluate_methods, markdown_table
from padm_pansharpening.engine.machine import machine_summary
from padm_pansharpening.engine.methods import METHOD_NAMES
from padm_pansharpening.engine.pipeline import fuse_files

CLASSICAL = [m for m in CLASSICAL_METHODS if m != "bt-h"]  # the toolbox baselines of the tables
CONFIGS = Path(__file__).resolve().parent / "configs"


def default_methods() -> list[str]:
    """The classical baselines, plus HFreqDiff when the bundled model is there."""
    return CLASSICAL + (["hfreqdiff"] if bundled_model().exists() else [])


SHIPPED_CONFIG = CONFIGS / "hfreqdiff_train_ship.json"  # the config that made models/hfreqdiff.*


def training_scenes() -> list[str]:
    """The shared scenes the bundled HFreqDiff model was trained on (from its training config)."""
    return list(TrainConfig.from_json(SHIPPED_CONFIG).train_scenes)


def held_out_scenes() -> list[str]:
    """The shared scenes the bundled HFreqDiff model was validated on and never trained on."""
    return list(TrainConfig.from_json(SHIPPED_CONFIG).val_scenes)


def speed_of(scene, methods: list[str], folder: Path) -> dict[str, float]:
    """Seconds per PAN megapixel of the whole GeoTIFF pipeline, per method."""
    pan_path, ms_path = write_geotiffs(scene, folder)
    mp = scene.pan.size / 1e6
    out = {}
    for method in methods:
        target = folder / f"{scene.name}_{method}.tif"
        t0 = time.perf_counter()
        fuse_files(pan_path, ms_path, target, method=method, sensor=scene.sensor.name)
        out[method] = (time.perf_counter() - t0) / mp
        target.unlink()
    return out


def run_quality(scenes: list[str], methods: list[str]) -> dict:
    report: dict = {"machine": machine_summary(), "scenes": {}}
    for name in scenes:
        scene = load_scene(name)
        seen = " (HFreqDiff was trained on this scene)" if name in training_scenes() else " (held out)"
        print(f"\n## {name} — {scene.sensor.name}, {scene.n_bands} bands, ratio {scene.ratio}, "
              f"PAN {scene.pan.shape[1]}x{scene.pan.shape[0]}{seen if 'hfreqdiff' in methods else ''}", flush=True)
        res = evaluate_methods(scene.pan, scene.ms_lr, scene.ratio, scene.sensor, scene.bits, methods)
        with tempfile.TemporaryDirectory() as tmp:
            res["s_per_MP"] = speed_of(scene, methods, Path(tmp))
        for note in res["notes"]:
            print(f"\nnote: {note}")
        print("\nReduced resolution (Wald protocol, 21 px border cut)\n")
        print(markdown_table(res["RR"], RR_KEYS))
        print("\nFull resolution\n")
        print(markdown_table(res["FR"], FR_KEYS))
        print("\nSeconds per PAN megapixel (tiled GeoTIFF pipeline): "
              + ", ".join(f"{m} {v:.2f}" for m, v in res["s_per_MP"].items()), flush=True)
        report["scenes"][name] = res
    return report


# --- memory: our tiled Brovey against gdal_pansharpen on a large synthetic scene ------------

def _make_big_scene(folder: Path, size: int, tag: str = "big") -> tuple[Path, Path]:
    """A size x size uint16 PAN and a (size/4)^2 x 4 MS, written block by block (bounded memory)."""
    import numpy as np
    from osgeo import gdal, osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    paths = []
    for name, n, bands, px in (("pan", size, 1, 0.5), ("ms", size // 4, 4, 2.0)):
        path = folder / f"{tag}_{name}.tif"
        ds = gdal.GetDriverByName("GTiff").Create(str(path), n, n, bands, gdal.GDT_UInt16,
                                                  ["TILED=YES", "BIGTIFF=YES", "COMPRESS=NONE"])
        ds.SetGeoTransform((500000.0, px, 0, 5000000.0, 0, -px))
        ds.SetProjection(srs.ExportToWkt())
        rng = np.random.default_rng(0)
        step = 2048
        for y in range(0, n, step):
            h = min(step, n - y)
            yy, xx = np.mgrid[y:y + h, 0:n]
            base = 800 + 300 * np.sin(xx / 37.0) * np.cos(yy / 53.0)
            for b in range(bands):
                noise = rng.normal(0, 40, (h, n))
                ds.GetRasterBand(b + 1).WriteArray(np.clip(base * (1 + 0.1 * b) + noise, 1, 2047).astype(np.uint16), 0, y)
        ds = None
        paths.append(path)
    return paths[0], paths[1]


_RSS_WRAPPER = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
                "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")


def _peak_rss_of(cmd: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of a command, measured by a wrapper process of its own."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _RSS_WRAPPER, *cmd], check=True, capture_output=True, text=True)
    return time.perf_counter() - t0, int(r.stdout.strip().splitlines()[-1]) / 1024.0


def run_hfreqdiff_speed(size: int, folder: Path) -> dict:
    """HFreqDiff through the GeoTIFF pipeline on a synthetic size x size scene: seconds per PAN
    megapixel at 1 and 3 DDIM steps, per backend; per step = (t3 - t1) / 2."""
    from padm_pansharpening.engine.hfreqdiff.method import HFreqDiffMethod

    scene, _ = demo_scene(size, seed=7)
    pan_path, ms_path = write_geotiffs(scene, folder)
    mp = size * size / 1e6
    default_steps = HFreqDiffMethod(device="cpu").steps
    out: dict = {"size": size, "default_steps": default_steps}
    for backend, model in (("onnx", bundled_model()), ("torch", bundled_model())):  # torch: built from the .onnx
        if not model.exists():
            continue
        times = {}
        for steps in sorted({1, 3, default_steps}):
            target = folder / f"speed_{backend}_{steps}.tif"
            res = fuse_files(pan_path, ms_path, target, "hfreqdiff", sensor=scene.sensor.name,
                             method_options={"backend": backend, "steps": steps, "device": "auto"})
            times[steps] = res.seconds / mp
            target.unlink()
        out[backend] = {"provider": res.provider, "s_per_MP_default_run": times[default_steps],
                        "s_per_MP_per_step": (times[3] - times[1]) / 2, "s_per_MP_by_steps": times}
    return out


def run_hfreqdiff_memory(size: int, folder: Path) -> dict:
    pan, ms = _make_big_scene(folder, size)
    out = folder / "hfd.tif"
    cmd = [sys.executable, "-m", "padm_pansharpening", "fuse", "--pan", str(pan), "--ms", str(ms), "--out", str(out),
           "--method", "hfreqdiff", "--sensor", "none", "--progress", "none", "--ensemble", "none"]
    seconds, rss = _peak_rss_of(cmd)  # the flip ensemble runs its flips one after another: same peak
    return {"size": size, "seconds": seconds, "s_per_MP": seconds / (size * size / 1e6), "peak_rss_MiB": rss,
            "ensemble": "none"}


def run_memory(size: int, folder: Path) -> dict:
    pan, ms = _make_big_scene(folder, size)
    mp = size * size / 1e6
    ours_out, gdal_out = folder / "ours.tif", folder / "gdal.tif"
    gdal_cmd = [sys.executable, "-m", "osgeo_utils.gdal_pansharpen", str(pan), str(ms), str(gdal_out),
                "-co", "TILED=YES", "-co", "COMPRESS=DEFLATE", "-co", "BIGTIFF=YES", "-q"]
    def ours_cmd(pan_path: Path, ms_path: Path, out_path: Path) -> list[str]:
        return [sys.executable, "-m", "padm_pansharpening", "fuse", "--pan", str(pan_path), "--ms", str(ms_path),
                "--out", str(out_path), "--method", "brovey", "--sensor", "none", "--progress", "none"]

    ours_s, ours_rss = _peak_rss_of(ours_cmd(pan, ms, ours_out))
    gdal_s, gdal_rss = _peak_rss_of(gdal_cmd)
    # the same run on a scene 16x smaller: a bounded engine has (about) the same peak
    small_pan, small_ms = _make_big_scene(folder, size // 4, "small")
    small_s, small_rss = _peak_rss_of(ours_cmd(small_pan, small_ms, folder / "ours_small.tif"))
    return {"size": size, "ours": {"seconds": ours_s, "s_per_MP": ours_s / mp, "peak_rss_MiB": ours_rss},
            "gdal_pansharpen": {"seconds": gdal_s, "s_per_MP": gdal_s / mp, "peak_rss_MiB": gdal_rss},
            "ours_quarter_size": {"size": size // 4, "seconds": small_s, "peak_rss_MiB": small_rss}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="build.py bench", description=__doc__.splitlines()[0])
    p.add_argument("--scenes", default=",".join(list_scenes()), help="comma-separated shared scenes")
    p.add_argument("--methods", default=",".join(default_methods()))
    p.add_argument("--speed-size", type=int, default=1024, help="HFreqDiff speed scene size (0: skip)")
    p.add_argument("--memory", type=int, default=0, help="also measure peak RSS on an N x N PAN scene (e.g. 16384)")
    p.add_argument("--memory-hfreqdiff", type=int, default=0, help="HFreqDiff peak RSS on an N x N PAN scene (e.g. 8192)")
    p.add_argument("--presets", type=int, default=0, metavar="REPEATS",
                   help="also the HFreqDiff quality presets: held-out quality of fast and best, and wall time / "
                        "peak RSS against GSA and gdal_pansharpen on 2048^2 4-band and 1024^2 8-band scenes, "
                        "medians of REPEATS runs (lab/presets_bench.py)")
    p.add_argument("--json", default="build/bench.json")
    args = p.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHOD_NAMES]
    if unknown:
        print(f"error: unknown method(s) {', '.join(unknown)}; known: {', '.join(METHOD_NAMES)}", file=sys.stderr)
        return 2
    print(f"# PADM Pansharpening bench\n\nMachine: {machine_summary()}")
    report = run_quality([s for s in args.scenes.split(",") if s], methods)
    if args.speed_size and "hfreqdiff" in methods:
        with tempfile.TemporaryDirectory() as tmp:
            speed = run_hfreqdiff_speed(args.speed_size, Path(tmp))
        report["hfreqdiff_speed"] = speed
        print(f"\n## HFreqDiff speed, {speed['size']}x{speed['size']} PAN, whole GeoTIFF pipeline "
              f"(default {speed['default_steps']} step(s))\n")
        print("| backend | provider | s/MP default run | s/MP per extra step |\n|---|---|---|---|")
        for backend in ("onnx", "torch"):
            if backend in speed:
                r = speed[backend]
                print(f"| {backend} | {r['provider']} | {r['s_per_MP_default_run']:.2f} | {r['s_per_MP_per_step']:.2f} |")
    if args.memory_hfreqdiff:
        with tempfile.TemporaryDirectory(dir=Path(args.json).parent if Path(args.json).parent.exists() else None) as tmp:
            hm = run_hfreqdiff_memory(args.memory_hfreqdiff, Path(tmp))
        report["memory_hfreqdiff"] = hm
        print(f"\n## HFreqDiff peak memory on a {hm['size']}x{hm['size']} PAN scene: {hm['peak_rss_MiB']:.0f} MiB, "
              f"{hm['seconds']:.0f} s ({hm['s_per_MP']:.2f} s/MP)")
    if args.memory:
        with tempfile.TemporaryDirectory(dir=Path(args.json).parent if Path(args.json).parent.exists() else None) as tmp:
            mem = run_memory(args.memory, Path(tmp))
        report["memory"] = mem
        print(f"\n## Peak memory, Brovey on a {mem['size']}x{mem['size']} PAN scene\n")
        print("| tool | seconds | s/MP | peak RSS MiB |\n|---|---|---|---|")
        for tool in ("ours", "gdal_pansharpen"):
            r = mem[tool]
            print(f"| {tool} | {r['seconds']:.1f} | {r['s_per_MP']:.3f} | {r['peak_rss_MiB']:.0f} |")
        q = mem["ours_quarter_size"]
        print(f"\nours on a {q['size']}x{q['size']} scene (16x fewer pixels): peak RSS {q['peak_rss_MiB']:.0f} MiB")
    if args.presets:
        from .presets_bench import quality, quality_table, speed, speed_table

        with tempfile.TemporaryDirectory() as tmp:
            report["presets_speed"] = speed(Path(tmp), args.presets, 1)
        report["presets_quality"] = quality()
        print("\n## HFreqDiff presets: speed against GSA (same run)\n\n" + speed_table(report["presets_speed"]))
        print("\n## HFreqDiff presets: held-out quality\n\n" + quality_table(report["presets_quality"]))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=1))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
