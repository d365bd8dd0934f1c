"""Command line: `python -m padm_pansharpening <command> ...`, one module per command group
(fuse/demo, evaluate, info, padm, batch) and one of shared options.

User mistakes print one line ("error: ...") and exit with status 2; never a traceback. Training
and benchmarks are not commands of the shipped package: they live in the lab (lab/README.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from .. import __version__
from ..errors import Cancelled, PansharpenError
from .batch import add_batch_command
from .evaluate import add_evaluate_commands
from .fuse import add_demo_command, add_fuse_command
from .info import add_info_command
from .padm import add_degradation_command, add_finetune_command

GDAL_CACHE_BYTES = 256 * 2**20


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m padm_pansharpening",
                                description="PADM Pansharpening: fuse PAN and MS rasters into a high-resolution MS GeoTIFF.")
    p.add_argument("--version", action="version", version=__version__)
    sub = p.add_subparsers(dest="command", required=True)
    for add in (add_fuse_command, add_evaluate_commands, add_info_command, add_demo_command,
                add_degradation_command, add_finetune_command, add_batch_command):
        add(sub)
    return p


def _bound_gdal_cache() -> None:
    """GDAL's block cache defaults to 5% of the RAM: bound it so that the process's memory follows
    the tile size, not the machine. GDAL_CACHEMAX in the environment wins."""
    if "GDAL_CACHEMAX" not in os.environ:
        from osgeo import gdal

        gdal.SetCacheMax(GDAL_CACHE_BYTES)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _bound_gdal_cache()
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except PansharpenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (Cancelled, KeyboardInterrupt):
        print("cancelled: no output was written", file=sys.stderr)
        return 130
