"""fuse_files: PAN + MS files -> fused GeoTIFF, tile by tile (engine.raster + engine.tiling).

Steps: validate and align the pair (raster.open_pair); resolve sensor and method; fit the method
on the scene sample (the whole processed region up to 2048 x 2048 PAN pixels, else its central
ratio-aligned 2048 x 2048 crop); fuse tiles with halo and feathered overlaps; write the GeoTIFF
under a temporary name in the output folder and rename it when complete. An error or a cancel
leaves no file behind; inputs are never written.

The output is a Cloud-Optimised GeoTIFF by default (``output_format``: COG or GTiff, with the
user's creation options); an existing output is refused unless ``overwrite``. Integer outputs are
clipped to the range the MS's encoding holds (per band, scene-wide), float outputs only with ``clip``; the count
of clipped pixels is a note and metadata (PADM_CLIPPED). Colour interpretation, band descriptions,
centre wavelengths (the sensor table) and scale/offset are carried from the MS.

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
from osgeo import gdal

from . import __version__
from .errors import Cancelled, PansharpenError
from .methods import FusionMethod, get_method
from .model_files import sensor_for_model
from .raster.bands import band_order_vrt, ms_band_count, parse_band_order
from .raster.pair import open_pair, resolve_sensor
from .raster.writer import (
    DEFAULT_FORMAT,
    BandLabel,
    OutputFormat,
    OutputWriter,
    check_raster_output,
    output_nodata,
    provenance_metadata,
)
from .raster.values import ValueRange, ms_valid_range
from .registration import measure_pair, misregistration_metadata
from .tiling import DEFAULT_TILE, TileGrid, fit_on_sample, fuse_tiles, grid_for


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

    def fit(self, *args, **kwargs) -> None:
        self.method.fit(*args, **kwargs)

    @property
    def tile_progress(self):  # the method's in-tile progress hook (engine.tiling.fuse_tiles)
        return getattr(self.method, "tile_progress", None)

    @tile_progress.setter
    def tile_progress(self, hook) -> None:
        self.method.tile_progress = hook

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
    labels: list[BandLabel] = field(default_factory=list)  # per band: description, colour, wavelength...
    value_range: Optional[ValueRange] = None  # the range the MS's encoding holds and whether it clips

    def close(self) -> None:
        self.pair.close()


def request_record(pan_path, ms_path, method: str | FusionMethod, sensor: Optional[str], tile: int,
                   float_output: bool, method_options: Optional[dict], bands: Optional[list[int]] = None,
                   clip: bool = False) -> dict:
    """What was asked for, as recorded in the output's metadata (PADM_REQUEST): a batch rerun skips an
    output whose record equals its own."""
    return {"pan": str(Path(pan_path).expanduser().absolute()), "ms": str(Path(ms_path).expanduser().absolute()),
            "method": method if isinstance(method, str) else method.name, "sensor": sensor, "tile": int(tile),
            "float": bool(float_output), "options": dict(sorted((method_options or {}).items())),
            "bands": list(bands) if bands else None, **({"clip": True} if clip else {})}


def plan_fusion(pan_path, ms_path, method: str | FusionMethod, sensor: str | None = None, tile: int = DEFAULT_TILE,
                float_output: bool = False, method_options: dict | None = None,
                extra_metadata: dict | None = None, report: Callable[[float, str], None] | None = None,
                is_cancelled: Callable[[], bool] | None = None, clip: bool = False,
                band_order: Optional[list[int]] = None, source_bands: Optional[int] = None) -> FusionPlan:
    """Open and validate the pair, build and fit the method, plan the tiles and the output's metadata.
    ``clip``: clip a float output to the range the MS's encoding holds too (integer outputs always are);
    ``band_order``: the 1-based bands of the original MS (of ``source_bands``) that ms_path holds,
    for the sensor's band labels. The caller closes the plan."""
    report = report or (lambda fraction, text: None)
    pair = open_pair(pan_path, ms_path)
    try:
        method_obj, params = _resolve_method(method, method_options)
        used_sensor, model_notes = sensor_for_model(getattr(method_obj, "metadata", None) or {}, sensor,
                                                    getattr(method_obj, "model_path", None))
        sensor_obj, sensor_notes = resolve_sensor(pair, used_sensor)
        notes = list(pair.notes) + model_notes + sensor_notes
        ratio = pair.ratio
        grid = grid_for(method_obj, pair.height, pair.width, pair.bands, ratio, tile)
        if is_cancelled is not None and is_cancelled():
            raise Cancelled()
        report(0.0, f"{method_obj.name}: fitting on the scene sample")
        fill = fit_on_sample(pair, method_obj, sensor_obj)
        misregistration = measure_pair(pair, sensor_obj)  # PAN/MS shift: a note, a warning above 0.2 MS px
        if misregistration is not None:
            notes.append(misregistration.note())
        dtype = np.dtype(np.float32) if float_output else pair.ms.dtype
        params = {**params, "tile": grid.tile, "halo": grid.halo, "overlap": grid.overlap, "ratio": ratio}
        described = _runtime_record(method_obj)
        request = request_record(pan_path, ms_path, method, sensor, tile, float_output, method_options, clip=clip)
        extra = {**({"runtime": described} if described else {}), "request": request,
                 **misregistration_metadata(misregistration), **(extra_metadata or {})}
        metadata = provenance_metadata(method_obj.name, params, sensor_obj, __version__, extra)
        labels, label_notes = band_labels(pair, sensor_obj, band_order, source_bands)
        notes += label_notes
        value_range = ms_valid_range(pair.ms_ds, clip or not np.issubdtype(dtype, np.floating), pair.ms)
        return FusionPlan(pair, method_obj, sensor_obj, grid, fill, dtype, output_nodata(pair, dtype), metadata,
                          [label.description for label in labels], notes, str(getattr(method_obj, "provider", "numpy")),
                          labels, value_range)
    except BaseException:
        pair.close()
        raise


def output_writer(plan: FusionPlan, out: Path, output_format: Optional[OutputFormat] = None) -> OutputWriter:
    """The atomic writer of the fused output for a plan."""
    pair = plan.pair
    return OutputWriter(out, pair.width, pair.height, pair.bands, plan.dtype, pair.geotransform, pair.pan.wkt,
                        plan.nodata, plan.labels or plan.descriptions, plan.metadata, output_format, plan.value_range)


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
    overwrite: bool = False,
    output_format: str | OutputFormat = DEFAULT_FORMAT,
    creation_options: tuple[str, ...] | list[str] = (),
    clip: bool = False,
) -> FuseResult:
    """Pansharpen pan_path + ms_path into the GeoTIFF out_path; see the module docstring. ``bands``:
    an MS band order or subset ("5,3,2", 1-based), read through a VRT over the MS. ``output_format``:
    COG (default) or GTiff, or an OutputFormat (then ``creation_options`` is ignored)."""
    fmt = output_format if isinstance(output_format, OutputFormat) else OutputFormat(output_format,
                                                                                   tuple(creation_options))
    out = check_raster_output(out_path, [pan_path, ms_path], overwrite)
    total = ms_band_count(ms_path)
    order = parse_band_order(bands, total) if bands is not None else None
    if order is None:
        return _fuse(pan_path, ms_path, out, method, sensor, tile, float_output, progress, is_cancelled,
                     method_options, extra_metadata, fmt, overwrite, clip)
    request = request_record(pan_path, ms_path, method, sensor, tile, float_output, method_options, order, clip)
    with tempfile.TemporaryDirectory(prefix="padm_bands_") as folder:
        vrt = band_order_vrt(ms_path, order, Path(folder))
        result = _fuse(pan_path, vrt, out, method, sensor, tile, float_output, progress, is_cancelled,
                       method_options, {"request": request, **(extra_metadata or {})}, fmt, overwrite, clip,
                       (order, total))
    result.notes.append(f"MS bands used, in this order: {', '.join(map(str, order))}")
    return result


def _fuse(pan_path, ms_path, out: Path, method, sensor, tile, float_output, progress, is_cancelled,
          method_options, extra_metadata, fmt: OutputFormat, overwrite: bool, clip: bool,
          order: Optional[tuple[list[int], int]] = None) -> FuseResult:
    t0 = time.perf_counter()
    report = progress or (lambda fraction, text: None)
    cancelled = is_cancelled or (lambda: False)
    plan = plan_fusion(pan_path, ms_path, method, sensor, tile, float_output, method_options, extra_metadata,
                       report, cancelled, clip, *(order or (None, None)))
    try:
        pair, method_obj, grid, metadata = plan.pair, plan.method, plan.grid, plan.metadata
        spread_out = uncertainty_path_for(out) if _draws_samples(method_obj) else None
        if spread_out is not None:
            check_raster_output(spread_out, [pan_path, ms_path], overwrite)

        def tile_done(done: float, total: int) -> None:  # done: fractional within a tile (fuse_tiles)
            report(0.05 + 0.94 * done / total, f"{method_obj.name}: tile {min(int(done) + 1, total)}/{total}")

        bands = pair.bands
        with output_writer(plan, out, fmt) as writer, \
                _optional_spread_writer(spread_out, pair, plan.descriptions, metadata, fmt) as spread_writer:
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
            finishing = (lambda f, t: report(0.99, t)) if fmt.driver == "COG" else None
            if spread_writer is not None:
                spread_writer.commit(finishing, cancelled)
            try:
                writer.commit(finishing, cancelled)
            except BaseException:
                if spread_out is not None:
                    spread_out.unlink(missing_ok=True)
                raise
        report(1.0, f"{method_obj.name}: wrote {out.name}")
        notes = plan.notes + ([writer.note()] if writer.note() else [])
        return FuseResult(out, pair.width, pair.height, bands, time.perf_counter() - t0, notes, method_obj.name,
                          plan.provider, spread_out)
    finally:
        plan.close()


def _optional_spread_writer(path: Optional[Path], pair, descriptions: list[str],
                            metadata: dict[str, str], fmt: Optional[OutputFormat] = None):
    """The float32 uncertainty writer when ``path`` is given (an OutputWriter: removed unless
    committed), else a context that yields None."""
    if path is None:
        return nullcontext()
    names = [f"{d or f'band {i + 1}'} spread (std of samples)" for i, d in enumerate(descriptions)]
    md = {**metadata, "PADM_LAYER": "uncertainty: per-pixel standard deviation of the samples, in DN"}
    return OutputWriter(path, pair.width, pair.height, pair.bands, np.dtype(np.float32), pair.geotransform,
                        pair.pan.wkt, -1.0, names, md, fmt)  # nodata -1: a spread is never negative


def _runtime_record(method_obj) -> dict:
    """PADM_RUNTIME: what a user needs to know of the run (model and its format, provider, steps, seed,
    samples, quality), not the model's nested training history."""
    described = dict(method_obj.describe()) if hasattr(method_obj, "describe") else {}
    if described.pop("trained", None) is not None:
        described["model_format"] = (getattr(method_obj, "metadata", None) or {}).get("format", "")
    return described


_COLOURS = {"red": gdal.GCI_RedBand, "green": gdal.GCI_GreenBand, "blue": gdal.GCI_BlueBand}


def band_labels(pair, sensor, band_order: Optional[list[int]] = None,
                source_bands: Optional[int] = None) -> tuple[list[BandLabel], list[str]]:
    """Per output band: the MS band's description (else the sensor's band name), colour
    interpretation (the MS's when it names red/green/blue bands, else from the sensor's band names),
    centre wavelength from the sensor table, scale and offset; and notes. The sensor's table applies
    when it has one entry per MS band (of the original MS, through ``band_order``) and does not
    contradict the MS's own colour interpretation."""
    n = pair.bands
    index = [b - 1 for b in band_order] if band_order else list(range(n))
    table_size = source_bands if band_order else n
    fits = len(sensor.band_names) == table_size and len(sensor.wavelengths_nm) == table_size
    names = [sensor.band_names[i] for i in index] if fits else [""] * n
    waves = [float(sensor.wavelengths_nm[i]) for i in index] if fits else [None] * n
    bands = [pair.ms_ds.GetRasterBand(i) for i in (getattr(pair.ms, "band_list", None) or range(1, n + 1))]
    ms_colours = [b.GetColorInterpretation() for b in bands]
    notes: list[str] = []
    if any(c in _COLOURS.values() for c in ms_colours):
        colours = [c if c in _COLOURS.values() else None for c in ms_colours]
        clash = [b for b in range(n) if fits and colours[b] is not None and _COLOURS.get(names[b]) != colours[b]]
        if clash:
            b = clash[0]
            notes.append(f"the MS marks band {b + 1} as {gdal.GetColorInterpretationName(colours[b]).lower()}, "
                         f"sensor {sensor.name}'s table says {names[b]}: the output keeps the MS's colours and "
                         "gets no band names or wavelengths from the table")
            names, waves = [""] * n, [None] * n
    else:
        colours = [_COLOURS.get(name) for name in names]
    descriptions = list(pair.ms.descriptions) if any(pair.ms.descriptions) else names
    return [BandLabel(descriptions[b], colours[b], waves[b], bands[b].GetScale(), bands[b].GetOffset())
            for b in range(n)], notes
