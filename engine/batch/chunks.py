"""One huge scene across workers: the tile grid is cut into chunks of whole tile rows; each worker
fits the method on the scene sample (as `fuse` does), fuses its tile rows (plus the row above,
whose overlap strip blends into its first row) and writes its finished cells, already in the output
type, to a hidden chunk file beside the output. The client then copies the chunks into the output,
written under a temporary name and renamed, as `fuse` writes it: the pixels equal a one-process
run's, because every written cell sees exactly the tiles and weights it sees there."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ..errors import PansharpenError


@dataclass(frozen=True)
class ChunkTask:
    pan: str
    ms: str
    out: str  # the final output: chunk files go beside it
    method: str
    sensor: Optional[str]
    tile: int
    float_output: bool
    method_options: dict[str, Any]
    tile_rows: tuple[int, int]
    token: str  # one per run: names the chunk files
    clip: bool = False  # clip a float output to the MS's valid range (fuse's --clip)


def chunk_plan(n_rows: int, n_chunks: int) -> list[tuple[int, int]]:
    """Split tile rows 0..n_rows-1 into at most n_chunks contiguous, near-equal ranges."""
    n = max(1, min(n_chunks, n_rows))
    bounds = [round(k * n_rows / n) for k in range(n + 1)]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def chunk_path(task: ChunkTask) -> Path:
    out = Path(task.out)
    return out.with_name(f".{out.name}.{task.token}.chunk{task.tile_rows[0]:05d}.part.tif")


def count_tile_rows(pan: str, ms: str, method: str, tile: int, method_options: dict[str, Any]) -> int:
    """Tile rows of the scene's grid, as fuse would plan it (opens the pair; builds the method for its halo)."""
    from ..methods import get_method
    from ..raster.pair import open_pair
    from ..tiling import grid_for, n_tile_rows

    pair = open_pair(pan, ms)
    try:
        m = get_method(method, **method_options)
        return n_tile_rows(grid_for(m, pair.height, pair.width, pair.bands, pair.ratio, tile))
    finally:
        pair.close()


def run_chunk(task: ChunkTask) -> dict:
    """On a worker: fuse the chunk's tile rows into its chunk file; returns where they go and what
    the output's header needs (metadata, nodata, type, band descriptions)."""
    from osgeo import gdal, gdal_array

    from ..pipeline import plan_fusion
    from ..raster.values import ValueConverter
    from .scenes import worker_name
    from ..tiling import fuse_tiles, row_span

    plan = plan_fusion(task.pan, task.ms, task.method, task.sensor, task.tile, task.float_output,
                       task.method_options or None, clip=task.clip)
    path = chunk_path(task)
    try:
        if int(getattr(plan.method, "samples", 1) or 1) > 1:
            raise PansharpenError("A scene split across workers takes one sample: drop --samples (or fuse it "
                                  "without --scheduler).")
        r_start, r_stop = row_span(plan.grid, *task.tile_rows)
        pair = plan.pair
        ds = gdal.GetDriverByName("GTiff").Create(
            str(path), pair.width, r_stop - r_start, pair.bands,
            gdal_array.NumericTypeCodeToGDALTypeCode(plan.dtype), ["TILED=YES", "BIGTIFF=IF_SAFER"])
        if ds is None:
            raise PansharpenError(f"Cannot create the chunk file {path}: check free space in the output folder.")
        convert = ValueConverter(plan.dtype, plan.nodata, plan.value_range)

        def write(r0: int, c0: int, values: np.ndarray, valid: np.ndarray) -> None:
            out = convert(values, valid)
            for b in range(out.shape[2]):
                ds.GetRasterBand(b + 1).WriteArray(out[:, :, b], c0, r0 - r_start)

        fuse_tiles(pair, plan.method, plan.grid, write, plan.fill, tile_rows=task.tile_rows)
        ds.FlushCache()
        ds = None
        return {"path": str(path), "rows": [r_start, r_stop], "worker": worker_name(), "metadata": plan.metadata,
                "nodata": plan.nodata, "stats": convert.stats.to_dict(),
                "value_range": asdict(plan.value_range) if plan.value_range else None,
                "labels": [asdict(label) for label in plan.labels],
                "dtype": plan.dtype.str, "descriptions": plan.descriptions, "notes": plan.notes,
                "provider": plan.provider, "method": plan.method.name, "size": [pair.width, pair.height, pair.bands],
                "geotransform": pair.geotransform, "wkt": pair.pan.wkt}
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    finally:
        plan.close()


def assemble(chunks: list[dict], out: Path, progress: Optional[Callable[[float, str], None]] = None,
             block_rows: int = 256, output_format=None) -> tuple[Path, str]:
    """Copy the chunk files into the output (temporary name, renamed when complete; ``output_format``:
    an OutputFormat, default COG); removes them. Returns the output and the note on its value range."""
    from osgeo import gdal

    from ..raster.values import RangeStats, ValueRange
    from ..raster.writer import BandLabel, OutputWriter

    first = chunks[0]
    width, height, bands = first["size"]
    vr = first.get("value_range")
    labels = [BandLabel(**label) for label in first["labels"]] if first.get("labels") else first["descriptions"]
    writer = OutputWriter(out, width, height, bands, np.dtype(first["dtype"]), first["geotransform"], first["wkt"],
                          first["nodata"], labels, first["metadata"], output_format,
                          ValueRange(tuple(vr["low"]), tuple(vr["high"]), vr["clip"]) if vr else None)
    for chunk in chunks:
        if chunk.get("stats") and chunk["stats"]["below"]:
            writer.stats.add(RangeStats(**chunk["stats"]))
    with writer:
        for k, chunk in enumerate(sorted(chunks, key=lambda c: c["rows"][0])):
            ds = gdal.Open(chunk["path"])
            if ds is None:
                raise PansharpenError(f"Chunk file {chunk['path']} is missing: the output folder must be shared "
                                      "by the workers and the client.")
            r0, r1 = chunk["rows"]
            for y in range(0, r1 - r0, block_rows):
                h = min(block_rows, r1 - r0 - y)
                block = np.stack([ds.GetRasterBand(b + 1).ReadAsArray(0, y, width, h) for b in range(bands)], axis=2)
                writer.write_converted(r0 + y, 0, block)
            ds = None
            Path(chunk["path"]).unlink(missing_ok=True)
            if progress is not None:
                progress((k + 1) / len(chunks), f"assembled chunk {k + 1}/{len(chunks)}")
        writer.commit(progress and (lambda f, t: progress(1.0, t)))
    return out, writer.note()


def new_token() -> str:
    return uuid.uuid4().hex[:8]
