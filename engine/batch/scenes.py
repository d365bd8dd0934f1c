"""One batch scene: what it asks for, whether its output is already there, and the task that a
worker runs (fuse, optionally evaluate), returning a small report dict instead of raising."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..definitions import HFREQDIFF
from ..errors import PansharpenError
from .manifest import SceneJob


@dataclass(frozen=True)
class SceneDefaults:
    """The `fuse` options given on the batch command line: defaults for every row."""

    method: str = "gsa"
    sensor: Optional[str] = None
    tile: int = 512
    float_output: bool = False
    hfreqdiff: dict[str, Any] = field(default_factory=dict)  # HFreqDiffOptions.method_options()
    evaluate: bool = False


@dataclass(frozen=True)
class SceneTask:
    """Everything a worker needs for one scene (plain data: it is pickled to the worker)."""

    job: SceneJob
    method: str
    sensor: Optional[str]
    tile: int
    float_output: bool
    method_options: dict[str, Any]
    bands: Optional[str]
    evaluate: bool

    def request(self) -> dict:
        """The record fuse writes in the output's metadata (PADM_REQUEST) for this scene."""
        from ..pipeline import request_record
        from ..raster.bands import ms_band_count, parse_band_order

        order = parse_band_order(self.bands, ms_band_count(self.job.ms)) if self.bands else None
        return request_record(self.job.pan, self.job.ms, self.method, self.sensor, self.tile, self.float_output,
                              self.method_options, order)


def scene_task(job: SceneJob, defaults: SceneDefaults) -> SceneTask:
    method = (job.method or defaults.method).strip().lower()
    options: dict[str, Any] = {}
    if method == HFREQDIFF:
        options = dict(defaults.hfreqdiff)
        if job.model:
            options["model"] = str(job.model)
    elif job.model:
        raise PansharpenError(f"row {job.row} gives a model but its method is {method}: models are for hfreqdiff.")
    return SceneTask(job, method, job.sensor or defaults.sensor, defaults.tile, defaults.float_output, options,
                     job.bands, defaults.evaluate)


def _padm_metadata(out: Path) -> Optional[dict[str, str]]:
    """The output's metadata if this tool wrote it (PADM_VERSION), else None."""
    from osgeo import gdal

    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        ds = gdal.OpenEx(str(out), gdal.OF_RASTER)
        md = ds.GetMetadata() if ds is not None else {}
    finally:
        gdal.PopErrorHandler()
    return md if "PADM_VERSION" in md else None


def refuse_foreign_output(out: Path) -> None:
    """An existing output this tool did not write is never replaced."""
    if out.exists() and _padm_metadata(out) is None:
        raise PansharpenError(f"Output {out} exists and was not written by PADM Pansharpening: move it away or "
                              "give another output path.")


def existing_output_state(task: SceneTask) -> str:
    """'missing', 'complete' (written by fuse with this very request), 'stale' (ours, other request)
    or 'foreign' (a file this tool did not write). Outputs appear only when complete (atomic rename),
    so an existing file of ours is whole."""
    out = task.job.out
    if not out.exists():
        return "missing"
    md = _padm_metadata(out)
    if md is None:
        return "foreign"
    try:
        recorded = json.loads(md.get("PADM_REQUEST", "null"))
        wanted = task.request()
    except (ValueError, PansharpenError):
        return "stale"
    return "complete" if recorded == wanted else "stale"


def scene_report(task: SceneTask, status: str, error: str = "", **fields: Any) -> dict:
    """One scene's line of the batch report."""
    job = task.job
    return {"row": job.row, "pan": str(job.pan), "ms": str(job.ms), "out": str(job.out), "method": task.method,
            "status": status, "error": error, "seconds": 0.0, "worker": "", "provider": "", "notes": [], **fields}


def run_scene(task: SceneTask) -> dict:
    """Fuse one scene on this worker (and evaluate it when asked). Never raises for a scene's own
    problem: the report says ``failed`` with the one-line error, so the other scenes go on."""
    from ..errors import Cancelled
    from ..pipeline import fuse_files

    job = task.job
    report = scene_report(task, "failed", worker=worker_name())
    t0 = time.perf_counter()
    try:
        refuse_foreign_output(job.out)
        result = fuse_files(job.pan, job.ms, job.out, method=task.method, sensor=task.sensor, tile=task.tile,
                            float_output=task.float_output, method_options=task.method_options or None,
                            bands=task.bands, overwrite=True)  # refuse_foreign_output decided above
        report.update(status="done", provider=result.provider, notes=list(result.notes),
                      size=[result.width, result.height, result.bands])
        if task.evaluate:
            from ..evaluation import evaluate_files

            report["metrics"] = evaluate_files(job.pan, job.ms, job.out, sensor=task.sensor).results["FR"]
    except PansharpenError as exc:
        report["error"] = str(exc)
    except (Cancelled, KeyboardInterrupt):
        report["error"] = "cancelled"
    except Exception as exc:  # noqa: BLE001 - a bug on one scene must not stop the others; reported
        report["error"] = f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())}"
    report["seconds"] = round(time.perf_counter() - t0, 2)
    return report


def skipped_report(task: SceneTask) -> dict:
    return scene_report(task, "skipped", notes=["output already complete with the same parameters"])


def worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"local pid {os.getpid()}"


def remove_partial_files(outputs: list[Path]) -> int:
    """Delete what a killed or interrupted writer left beside these outputs (hidden .part files,
    chunk files); returns how many. Call only when no task of the batch is running."""
    removed = 0
    for out in outputs:
        for stale in out.parent.glob(f".{out.name}.*.part*"):
            stale.unlink(missing_ok=True)
            removed += 1
    return removed
