"""Options and output helpers that several commands share (one definition each)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .. import DEFAULT_TILE
from ..definitions import CLASSICAL_METHODS, DEFAULT_CLASSICAL, HFREQDIFF, sensor_names
from ..options import DEFAULT_QUALITY, DEVICE_NAMES, ENSEMBLES, QUALITIES, HFreqDiffOptions


def add_progress_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--progress", choices=["bar", "json", "none"], default="bar",
                   help="progress output: a text bar on stderr (default), JSON lines on stdout, or none")


def add_sensor_option(p: argparse.ArgumentParser, purpose: str = "MTF gains and band descriptors") -> None:
    p.add_argument("--sensor", help=f"sensor for the {purpose}: {', '.join(sensor_names())} "
                                    "(case-insensitive; default: guessed from the metadata and band count)")


def add_pan_ms_options(p: argparse.ArgumentParser, ms_bands: str = "2+ bands") -> None:
    p.add_argument("--pan", required=True, help="panchromatic raster (one band)")
    p.add_argument("--ms", required=True, help=f"multispectral raster ({ms_bands})")


def method_help(default: str = DEFAULT_CLASSICAL) -> str:
    return f"{HFREQDIFF} | {' | '.join(CLASSICAL_METHODS)} (default {default})"


def add_tile_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tile", type=int, default=DEFAULT_TILE, help=f"tile size in PAN pixels (default {DEFAULT_TILE})")


def add_output_options(p: argparse.ArgumentParser, overwrite: bool = True) -> None:
    """--format, --co, --clip (and --overwrite): how the fused file is written."""
    from ..raster.writer import DEFAULT_FORMAT, OUTPUT_FORMATS

    g = p.add_argument_group("output file")
    g.add_argument("--format", default=DEFAULT_FORMAT, choices=list(OUTPUT_FORMATS), type=_format_name,
                   help=f"GDAL driver of the output (default {DEFAULT_FORMAT}: Cloud-Optimised GeoTIFF with "
                        "overviews; GTiff: a tiled GeoTIFF without overviews); both end in .tif or .tiff")
    g.add_argument("--co", action="append", default=[], metavar="KEY=VALUE",
                   help="creation option of that driver, replacing the default of its key (repeatable), e.g. "
                        "--co COMPRESS=ZSTD")
    g.add_argument("--clip", action="store_true",
                   help="clip a float output to the range the MS's encoding holds per band (integer outputs always are); "
                        "without it a float output keeps values outside it, negatives included")
    if overwrite:
        g.add_argument("--overwrite", action="store_true", help="replace an existing output (refused without it)")


def _format_name(text: str) -> str:
    from ..raster.writer import OUTPUT_FORMATS

    return next((f for f in OUTPUT_FORMATS if f.lower() == text.strip().lower()), text)


def output_options(args: argparse.Namespace) -> dict:
    """fuse_files' keyword arguments of the output options."""
    return {"output_format": args.format, "creation_options": tuple(args.co or ()), "clip": bool(args.clip),
            "overwrite": bool(getattr(args, "overwrite", False))}


def add_hfreqdiff_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("HFreqDiff options")
    g.add_argument("--model", help="model file or fine-tuned model folder (default: the bundled model)")
    g.add_argument("--steps", type=int, help="DDIM sampling steps (default: the model's)")
    g.add_argument("--seed", type=int, default=0, help="noise seed (same seed, same output)")
    g.add_argument("--samples", type=int, default=1, help="draw K samples; K>1 also writes their per-pixel spread")
    g.add_argument("--device", choices=list(DEVICE_NAMES), default="auto", help="inference device")
    g.add_argument("--quality", choices=list(QUALITIES), default=DEFAULT_QUALITY,
                   help="; ".join(f"{k}: {v}" for k, v in QUALITIES.items()))
    g.add_argument("--ensemble", choices=list(ENSEMBLES),
                   help="expert override of the quality preset: flips (mean over 4 flips of the input, 4x the "
                        "network time) or none")


def hfreqdiff_options(args: argparse.Namespace) -> HFreqDiffOptions:
    """The HFreqDiff options given on the command line (strict: --steps 0 is an error here)."""
    given = {k: getattr(args, k, None) for k in HFreqDiffOptions.__dataclass_fields__}
    return HFreqDiffOptions(**{k: v for k, v in given.items() if v is not None})


def report_fuse(result, progress_kind: str) -> None:
    """The result of a fuse run: one JSON line (--progress json) or human-readable lines."""
    info = {"output": str(result.out_path), "width": result.width, "height": result.height,
            "bands": result.bands, "seconds": round(result.seconds, 2), "method": result.method,
            "provider": result.provider, "notes": list(result.notes),
            "uncertainty": str(result.uncertainty_path) if result.uncertainty_path else None}
    if progress_kind == "json":
        print_result(progress_kind, info, "")
        return
    print_notes(result.notes)
    mp = result.width * result.height / 1e6
    print(f"wrote {result.out_path} ({result.width}x{result.height}x{result.bands}, {result.method} on "
          f"{result.provider}, {result.seconds:.1f} s, {result.seconds / max(mp, 1e-9):.2f} s/MP)")
    if result.uncertainty_path:
        print(f"wrote {result.uncertainty_path} (per-pixel standard deviation of the samples)")


def print_result(progress_kind: str, info: dict, line: str) -> None:
    """A command's result: one {"result": ...} JSON line (--progress json), else the line for people."""
    if progress_kind == "json":
        print(json.dumps({"result": info}), flush=True)
    else:
        print(line)


def print_notes(notes) -> None:
    for note in notes:  # a note that is a warning ("warning: ...") is printed as one
        print(note if note.startswith("warning:") else f"note: {note}", file=sys.stderr)


def print_tables(results: dict) -> None:
    from ..evaluation import FR_KEYS, RR_KEYS, markdown_table

    if results.get("RR"):
        print("\nReduced resolution (Wald protocol)\n")
        print(markdown_table(results["RR"], RR_KEYS))
    if results.get("FR"):
        print("\nFull resolution\n")
        print(markdown_table(results["FR"], FR_KEYS))


def write_json(path: str, obj: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=1))
    print(f"wrote {path}")
