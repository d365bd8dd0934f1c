"""`fuse` (a PAN/MS pair into a GeoTIFF) and `demo` (what `build.py run` does)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..definitions import DEFAULT_CLASSICAL, HFREQDIFF, bundled_models
from ..errors import PansharpenError
from ..progress import make_progress
from .options import (
    add_hfreqdiff_options,
    add_output_options,
    add_pan_ms_options,
    add_progress_option,
    add_sensor_option,
    add_tile_option,
    hfreqdiff_options,
    method_help,
    output_options,
    print_result,
    print_notes,
    report_fuse,
)


def _method_options(method: str, args: argparse.Namespace) -> dict:
    return hfreqdiff_options(args).method_options() if method == HFREQDIFF else {}


def cmd_fuse(args: argparse.Namespace) -> int:
    from ..pipeline import fuse_files

    if args.scheduler:
        return _fuse_on_cluster(args)
    result = fuse_files(args.pan, args.ms, args.out, method=args.method, sensor=args.sensor, tile=args.tile,
                        float_output=args.float, progress=make_progress(args.progress, args.method),
                        method_options=_method_options(args.method, args), bands=args.bands,
                        extra_metadata=_layers_record(args), **output_options(args))
    report_fuse(result, args.progress)
    return 0


def _layers_record(args: argparse.Namespace):
    """--layers PAN MS (the plugin's child runs): the files its layers show, recorded as PADM_LAYERS."""
    return {"layers": {"pan": args.layers[0], "ms": args.layers[1]}} if args.layers else None


def _fuse_on_cluster(args: argparse.Namespace) -> int:
    """The scene's tile rows in chunks over the workers of an existing Dask scheduler."""
    import time

    from ..batch.cluster import open_cluster
    from ..batch.run import fuse_split

    if args.bands or (args.samples or 1) > 1:
        raise PansharpenError("--scheduler splits one sample of the MS as it is: drop --bands and --samples, or "
                              "fuse without --scheduler.")
    t0 = time.perf_counter()
    cluster = open_cluster(args.scheduler)
    try:
        info = fuse_split(args.pan, args.ms, Path(args.out), args.method.strip().lower(), args.sensor, args.tile,
                          args.float, _method_options(args.method, args), cluster,
                          make_progress(args.progress, args.method), args.chunks, **output_options(args))
    finally:
        cluster.close()
    info["seconds"] = round(time.perf_counter() - t0, 2)
    if args.progress != "json":
        print_notes(info["notes"])
    print_result(args.progress, info, f"wrote {info['out']} ({info['chunks']} chunks on "
                                      f"{len(info['workers']) or '?'} workers, {info['provider']}, "
                                      f"{info['seconds']:.1f} s)")
    return 0


def default_method() -> str:
    """HFreqDiff when the bundled model is present, else the best classical baseline."""
    return HFREQDIFF if bundled_models() else DEFAULT_CLASSICAL


def cmd_demo(args: argparse.Namespace) -> int:
    """Pansharpen the synthetic demo scene (or --pan/--ms) -> GeoTIFF + PNG preview."""
    from ..pipeline import fuse_files
    from ..raster.preview import write_before_after_png, write_preview_png

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    method = args.method or default_method()
    truth = None
    if args.pan or args.ms:
        if not (args.pan and args.ms):
            raise PansharpenError("run needs both --pan and --ms (or neither, for the demo scene).")
        pan_path, ms_path, sensor = Path(args.pan), Path(args.ms), args.sensor
        stem = scene_stem(pan_path)
        rgb = None
    else:
        from ..demo import demo_scene, write_geotiffs

        print("generating the synthetic demo scene (4 bands, 512x512 PAN, UTM 33N, known degradation)")
        scene, truth = demo_scene(512, seed=0)
        pan_path, ms_path = write_geotiffs(scene, out_dir / "demo_inputs")
        sensor, stem = scene.sensor.name, "demo"
        rgb = scene.sensor.rgb_bands(4)
    out = demo_output(out_dir / f"{stem}_{method}.tif", pan_path, ms_path)
    result = fuse_files(pan_path, ms_path, out, method=method, sensor=sensor, tile=args.tile,
                        progress=make_progress(args.progress, method), method_options=_method_options(method, args),
                        overwrite=True)
    report_fuse(result, args.progress)
    png = out.with_suffix(".png")
    write_preview_png(out, png, rgb)
    print(f"wrote {png} (preview, natural colour)")
    pair_png = out.with_name(f"{out.stem}_before_after.png")
    write_before_after_png(ms_path, out, pair_png, rgb)
    print(f"wrote {pair_png} (before | after: the MS interpolated beside the fused result, same stretch)")
    if truth is not None:
        _score_demo(out, truth, scene)
    return 0


def scene_stem(pan: Path) -> str:
    """A scene's name for its outputs: the PAN's folder and stem (`wv3_hpf_geotiff_pan`), so that
    scenes whose PANs share a name (pan.tif) get different outputs."""
    folder = pan.expanduser().absolute().parent.name
    return f"{folder}_{pan.stem}" if folder else pan.stem


def demo_output(out: Path, pan: Path, ms: Path) -> Path:
    """``out``, unless it holds another scene's result (or a file this tool did not write): then the
    first free ``<stem>_2.tif``, ``_3``... A rerun of the same scene replaces its own result."""
    import json

    from osgeo import gdal

    wanted = [str(Path(p).expanduser().absolute()) for p in (pan, ms)]
    candidate, k = out, 1
    while candidate.exists():
        gdal.PushErrorHandler("CPLQuietErrorHandler")
        try:
            ds = gdal.OpenEx(str(candidate), gdal.OF_RASTER)
            request = json.loads((ds.GetMetadataItem("PADM_REQUEST") if ds is not None else None) or "{}")
        except (RuntimeError, ValueError):
            request = {}
        finally:
            ds = None
            gdal.PopErrorHandler()
        if [request.get("pan"), request.get("ms")] == wanted:
            return candidate
        k += 1
        candidate = out.with_name(f"{out.stem}_{k}{out.suffix}")
    return candidate


def _score_demo(fused_path: Path, truth, scene) -> None:
    import numpy as np
    from osgeo import gdal

    from ..metrics import reduced_resolution_metrics

    fused = np.moveaxis(gdal.Open(str(fused_path)).ReadAsArray().astype(np.float64), 0, 2)
    m = reduced_resolution_metrics(fused, truth[: fused.shape[0], : fused.shape[1]], scene.ratio, scene.bits)
    print("against the demo's ground truth: " + ", ".join(f"{k} {v:.4f}" for k, v in m.items()))


def add_fuse_command(sub: argparse._SubParsersAction) -> None:
    f = sub.add_parser("fuse", help="pansharpen a PAN/MS pair into a GeoTIFF")
    add_pan_ms_options(f)
    f.add_argument("--out", required=True, help="output GeoTIFF")
    f.add_argument("--method", default=DEFAULT_CLASSICAL, help=method_help())
    add_sensor_option(f)
    add_tile_option(f)
    f.add_argument("--float", action="store_true", help="write float32 instead of the MS data type")
    add_output_options(f)
    f.add_argument("--bands", help="MS band order or subset, 1-based (e.g. 5,3,2), read through a VRT")
    f.add_argument("--scheduler", help="split the scene's tiles over the workers of this Dask scheduler "
                                       "(same pixels as without it)")
    f.add_argument("--chunks", type=int, help="with --scheduler: chunks of tile rows (default: one per worker)")
    f.add_argument("--layers", nargs=2, metavar=("PAN", "MS"), help=argparse.SUPPRESS)  # the plugin's PADM_LAYERS
    add_hfreqdiff_options(f)
    add_progress_option(f)
    f.set_defaults(func=cmd_fuse)


def add_demo_command(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("demo", help="pansharpen the synthetic demo scene (what `build.py run` does)")
    d.add_argument("--pan", help="a real scene's panchromatic raster instead of the demo scene (with --ms)")
    d.add_argument("--ms", help="a real scene's multispectral raster instead of the demo scene (with --pan)")
    add_sensor_option(d)
    d.add_argument("--method", help=method_help(default="hfreqdiff with the bundled model"))
    add_tile_option(d)
    d.add_argument("--out-dir", default="build/run", help="folder of the outputs (default build/run)")
    add_hfreqdiff_options(d)
    add_progress_option(d)
    d.set_defaults(func=cmd_demo)
