"""fuse_files: PAN + MS files -> fused GeoTIFF, tile by tile (engine.raster + engine.tiling).

Steps: validate and align the pair (raster.open_pair); resolve sensor and method; fit the method
on the scene sample (the whole processed region up to 2048 x 2048 PAN pixels, else its central
ratio-aligned 2048 x 2048 crop); fuse tiles with halo and feathered overlaps; write the GeoTIFF
under a temporary name in the output folder and rename it when complete. An error or a cancel
leaves no file behind; inputs are never written.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from . import __version__
from .errors import Cancelled, PansharpenError
from .methods import FusionMethod, get_method
from .raster import OutputWriter, check_output_path, open_pair, output_nodata, provenance_metadata, resolve_sensor
from .tiling import TileGrid, fit_on_sample, fuse_tiles


@dataclass
class FuseResult:
    out_path: Path
    width: int
    height: int
    bands: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    method: str = ""


def _resolve_method(method: str | FusionMethod, options: Optional[dict]) -> tuple[FusionMethod, dict]:
    if isinstance(method, str):
        return get_method(method, **(options or {})), dict(options or {})
    if options:
        raise PansharpenError("method_options apply to a method given by name: configure the method object instead.")
    params = getattr(method, "parameters", None)
    params = params() if callable(params) else params
    return method, dict(params) if isinstance(params, dict) else {}


def fuse_files(
    pan_path: str | os.PathLike,
    ms_path: str | os.PathLike,
    out_path: str | os.PathLike,
    method: str | FusionMethod,
    sensor: str | None = None,
    tile: int = 512,
    float_output: bool = False,
    progress: Callable[[float, str], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    method_options: dict | None = None,
    extra_metadata: dict | None = None,
) -> FuseResult:
    """Pansharpen pan_path + ms_path into the GeoTIFF out_path; see the module docstring."""
    t0 = time.perf_counter()
    report = progress or (lambda fraction, text: None)
    cancelled = is_cancelled or (lambda: False)
    out = check_output_path(out_path, [pan_path, ms_path])
    pair = open_pair(pan_path, ms_path)
    try:
        sensor_obj, sensor_notes = resolve_sensor(pair, sensor)
        notes = list(pair.notes) + sensor_notes
        method_obj, params = _resolve_method(method, method_options)
        ratio = pair.ratio
        grid = TileGrid.plan(pair.height, pair.width, ratio, tile, method_obj.halo(ratio))
        if cancelled():
            raise Cancelled()
        report(0.0, f"{method_obj.name}: fitting on the scene sample")
        fill = fit_on_sample(pair, method_obj, sensor_obj)
        dtype = np.dtype(np.float32) if float_output else pair.ms.dtype
        nodata = output_nodata(pair, dtype)
        params = {**params, "tile": grid.tile, "halo": grid.halo, "overlap": grid.overlap, "ratio": ratio}
        metadata = provenance_metadata(method_obj.name, params, sensor_obj, __version__, extra_metadata)
        descriptions = _band_descriptions(pair.ms.descriptions, sensor_obj.band_names)

        def tile_done(done: int, total: int) -> None:
            report(0.05 + 0.94 * done / total, f"{method_obj.name}: tile {done}/{total}")

        with OutputWriter(out, pair.width, pair.height, pair.bands, dtype, pair.geotransform, pair.pan.wkt,
                          nodata, descriptions, metadata) as writer:
            fuse_tiles(pair, method_obj, grid, writer.write, fill, tile_done, cancelled)
            if cancelled():
                raise Cancelled()
            writer.commit()
        report(1.0, f"{method_obj.name}: wrote {out.name}")
        return FuseResult(out, pair.width, pair.height, pair.bands, time.perf_counter() - t0, notes, method_obj.name)
    finally:
        pair.close()


def _band_descriptions(ms_descriptions: list[str], sensor_names: tuple[str, ...]) -> list[str]:
    """The MS band descriptions; where they are all empty, the sensor's band names (if they fit)."""
    if any(ms_descriptions) or len(sensor_names) != len(ms_descriptions):
        return list(ms_descriptions)
    return list(sensor_names)
