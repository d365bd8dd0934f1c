"""fuse_files: PAN + MS files -> fused GeoTIFF, tile by tile (engine.raster + engine.tiling).

Steps: validate and align the pair (raster.open_pair); resolve sensor and method; fit the method
on the scene sample (the whole processed region up to 2048 x 2048 PAN pixels, else its central
ratio-aligned 2048 x 2048 crop); fuse tiles with halo and feathered overlaps; write the GeoTIFF
under a temporary name in the output folder and rename it when complete. An error or a cancel
leaves no file behind; inputs are never written.

A method that draws several samples (HFreqDiff with samples > 1) also gets an uncertainty GeoTIFF
``<out stem>_uncertainty.tif`` beside the output: float32, per band the per-pixel standard deviation
of the samples in the input's digital numbers, same grid; written and renamed with the output.
"""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from . import __version__
from .errors import Cancelled, PansharpenError
from .methods import FusionMethod, get_method
from .raster.bands import band_order_vrt, ms_band_count, parse_band_order
from .raster.pair import open_pair, resolve_sensor
from .raster.writer import OutputWriter, check_output_path, output_nodata, provenance_metadata
from .tiling import DEFAULT_TILE, TileGrid, fit_on_sample, fuse_tiles


@dataclass
class FuseResult:
    out_path: Path
    width: int
    height: int
    bands: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    method: str = ""
    provider: str = ""  # runtime that ran the method (e.g. CPUExecutionProvider, torch:cuda, numpy)
    uncertainty_path: Optional[Path] = None


class _MeanAndSpread:
    """Adapter: fuse_tile returns the samples' mean and spread stacked as 2B bands."""

    def __init__(self, method):
        self.method, self.name = method, method.name
        self.context_aware = getattr(method, "context_aware", False)

    def halo(self, ratio: int) -> int:
        return self.method.halo(ratio)

    def fit(self, *args) -> None:
        self.method.fit(*args)

    def fuse_tile(self, pan, ms_lr, ratio, origin, **context):
        mean, spread = self.method.fuse_tile_with_spread(pan, ms_lr, ratio, origin, **context)
        return np.concatenate([mean, spread], axis=2)


def uncertainty_path_for(out: Path) -> Path:
    return out.with_name(f"{out.stem}_uncertainty.tif")


def _draws_samples(method) -> bool:
    return int(getattr(method, "samples", 1) or 1) > 1 and hasattr(method, "fuse_tile_with_spread")


def _resolve_method(method: str | FusionMethod, options: Optional[dict]) -> tuple[FusionMethod, dict]:
    if isinstance(method, str):
        return get_method(method, **(options or {})), dict(options or {})
    if options:
        raise PansharpenError("method_options apply to a method given by name: configure the method object instead.")
    params = getattr(method, "parameters", None)
    params = params() if callable(params) else params
    return method, dict(params) if isinstance(params, dict) else {}


@dataclass
class FusionPlan:
    """Everything decided before the first tile: the open pair, the fitted method, the tile grid and
    what the output will hold. ``close()`` releases the pair."""

    pair: object  # engine.raster.pair.PanMsPair
    method: FusionMethod
    sensor: object  # engine.sensors.Sensor
    grid: TileGrid
    fill: tuple
    dtype: np.dtype
    nodata: Optional[float]
    metadata: dict[str, str]
    descriptions: list[str]
    notes: list[str]
    provider: str

    def close(self) -> None:
        self.pair.close()


def request_record(pan_path, ms_path, method: str | FusionMethod, sensor: Optional[str], tile: int,
                   float_output: bool, method_options: Optional[dict], bands: Optional[list[int]] = None) -> dict:
    """What was asked for, as recorded in the output's metadata (PADM_REQUEST): a batch rerun skips an
    output whose record equals its own."""
    return {"pan": str(Path(pan_path).expanduser().absolute()), "ms": str(Path(ms_path).expanduser().absolute()),
            "method": method if isinstance(method, str) else method.name, "sensor": sensor, "tile": int(tile),
            "float": bool(float_output), "options": dict(sorted((method_options or {}).items())),
            "bands": list(bands) if bands else None}


def plan_fusion(pan_path, ms_path, method: str | FusionMethod, sensor: str | None = None, tile: int = DEFAULT_TILE,
                float_output: bool = False, method_options: dict | None = None,
                extra_metadata: dict | None = None, report: Callable[[float, str], None] | None = None,
                is_cancelled: Callable[[], bool] | None = None) -> FusionPlan:
    """Open and validate the pair, build and fit the method, plan the tiles and the output's metadata.
    The caller closes the plan."""
    report = report or (lambda fraction, text: None)
    pair = open_pair(pan_path, ms_path)
    try:
        sensor_obj, sensor_notes = resolve_sensor(pair, sensor)
        notes = list(pair.notes) + sensor_notes
        method_obj, params = _resolve_method(method, method_options)
        ratio = pair.ratio
        grid = TileGrid.plan(pair.height, pair.width, ratio, tile, method_obj.halo(ratio))
        if is_cancelled is not None and is_cancelled():
            raise Cancelled()
        report(0.0, f"{method_obj.name}: fitting on the scene sample")
        fill = fit_on_sample(pair, method_obj, sensor_obj)
        dtype = np.dtype(np.float32) if float_output else pair.ms.dtype
        params = {**params, "tile": grid.tile, "halo": grid.halo, "overlap": grid.overlap, "ratio": ratio}
        described = method_obj.describe() if hasattr(method_obj, "describe") else {}
        request = request_record(pan_path, ms_path, method, sensor, tile, float_output, method_options)
        extra = {**({"runtime": described} if described else {}), "request": request, **(extra_metadata or {})}
        metadata = provenance_metadata(method_obj.name, params, sensor_obj, __version__, extra)
        return FusionPlan(pair, method_obj, sensor_obj, grid, fill, dtype, output_nodata(pair, dtype), metadata,
                          _band_descriptions(pair.ms.descriptions, sensor_obj.band_names), notes,
                          str(getattr(method_obj, "provider", "numpy")))
    except BaseException:
        pair.close()
        raise


def output_writer(plan: FusionPlan, out: Path) -> OutputWriter:
    """The atomic writer of the fused output for a plan."""
    pair = plan.pair
    return OutputWriter(out, pair.width, pair.height, pair.bands, plan.dtype, pair.geotransform, pair.pan.wkt,
                        plan.nodata, plan.descriptions, plan.metadata)


def fuse_files(
    pan_path: str | os.PathLike,
    ms_path: str | os.PathLike,
    out_path: str | os.PathLike,
    method: str | FusionMethod,
    sensor: str | None = None,
    tile: int = DEFAULT_TILE,
    float_output: bool = False,
    progress: Callable[[float, str], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    method_options: dict | None = None,
    extra_metadata: dict | None = None,
    bands: str | list[int] | None = None,
) -> FuseResult:
    """Pansharpen pan_path + ms_path into the GeoTIFF out_path; see the module docstring. ``bands``:
    an MS band order or subset ("5,3,2", 1-based), read through a VRT over the MS."""
    out = check_output_path(out_path, [pan_path, ms_path])
    order = parse_band_order(bands, ms_band_count(ms_path)) if bands is not None else None
    if order is None:
        return _fuse(pan_path, ms_path, out, method, sensor, tile, float_output, progress, is_cancelled,
                     method_options, extra_metadata)
    request = request_record(pan_path, ms_path, method, sensor, tile, float_output, method_options, order)
    with tempfile.TemporaryDirectory(prefix="padm_bands_") as folder:
        vrt = band_order_vrt(ms_path, order, Path(folder))
        result = _fuse(pan_path, vrt, out, method, sensor, tile, float_output, progress, is_cancelled,
                       method_options, {"request": request, **(extra_metadata or {})})
    result.notes.append(f"MS bands used, in this order: {', '.join(map(str, order))}")
    return result


def _fuse(pan_path, ms_path, out: Path, method, sensor, tile, float_output, progress, is_cancelled,
          method_options, extra_metadata) -> FuseResult:
    t0 = time.perf_counter()
    report = progress or (lambda fraction, text: None)
    cancelled = is_cancelled or (lambda: False)
    plan = plan_fusion(pan_path, ms_path, method, sensor, tile, float_output, method_options, extra_metadata,
                       report, cancelled)
    try:
        pair, method_obj, grid, metadata = plan.pair, plan.method, plan.grid, plan.metadata
        spread_out = uncertainty_path_for(out) if _draws_samples(method_obj) else None
        if spread_out is not None:
            check_output_path(spread_out, [pan_path, ms_path])

        def tile_done(done: int, total: int) -> None:
            report(0.05 + 0.94 * done / total, f"{method_obj.name}: tile {done}/{total}")

        bands = pair.bands
        with output_writer(plan, out) as writer, \
                _optional_spread_writer(spread_out, pair, plan.descriptions, metadata) as spread_writer:
            if spread_writer is None:
                fuse_tiles(pair, method_obj, grid, writer.write, plan.fill, tile_done, cancelled)
            else:
                def write_both(r0: int, c0: int, values: np.ndarray, valid: np.ndarray) -> None:
                    writer.write(r0, c0, values[..., :bands], valid)
                    spread_writer.write(r0, c0, values[..., bands:], valid)

                fuse_tiles(pair, _MeanAndSpread(method_obj), grid, write_both, plan.fill, tile_done, cancelled,
                           out_bands=2 * bands)
            if cancelled():
                raise Cancelled()
            if spread_writer is not None:
                spread_writer.commit()
            try:
                writer.commit()
            except BaseException:
                if spread_out is not None:
                    spread_out.unlink(missing_ok=True)
                raise
        report(1.0, f"{method_obj.name}: wrote {out.name}")
        return FuseResult(out, pair.width, pair.height, bands, time.perf_counter() - t0, plan.notes, method_obj.name,
                          plan.provider, spread_out)
    finally:
        plan.close()


def _optional_spread_writer(path: Optional[Path], pair, descriptions: list[str],
                            metadata: dict[str, str]):
    """The float32 uncertainty writer when ``path`` is given (an OutputWriter: removed unless
    committed), else a context that yields None."""
    if path is None:
        return nullcontext()
    names = [f"{d or f'band {i + 1}'} spread (std of samples)" for i, d in enumerate(descriptions)]
    md = {**metadata, "PADM_LAYER": "uncertainty: per-pixel standard deviation of the samples, in DN"}
    return OutputWriter(path, pair.width, pair.height, pair.bands, np.dtype(np.float32), pair.geotransform,
                        pair.pan.wkt, -1.0, names, md)  # nodata -1: a spread is never negative


def _band_descriptions(ms_descriptions: list[str], sensor_names: tuple[str, ...]) -> list[str]:
    """The MS band descriptions; where they are all empty, the sensor's band names (if they fit)."""
    if any(ms_descriptions) or len(sensor_names) != len(ms_descriptions):
        return list(ms_descriptions)
    return list(sensor_names)
