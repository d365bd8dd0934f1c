"""Running a batch on a cluster: skip what is complete, submit the rest as tasks, collect one report
per scene as they finish (a failed scene never stops the others), and leave no partial file behind,
whatever happens to the workers or the client."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

from ..errors import PansharpenError
from ..progress import ProgressFn, silent
from .chunks import ChunkTask, assemble, chunk_plan, count_tile_rows, new_token, run_chunk
from .cluster import Cluster
from .scenes import (
    SceneTask,
    existing_output_state,
    refuse_foreign_output,
    remove_partial_files,
    run_scene,
    scene_report,
    skipped_report,
)

TASK_RETRIES = 2  # a task whose worker died is run again elsewhere (on top of Dask's own rescheduling)


def run_batch(tasks: list[SceneTask], cluster: Cluster, progress: ProgressFn = silent,
              on_scene: Optional[Callable[[dict], None]] = None, split_single: bool = True) -> list[dict]:
    """Reports in manifest order. A single scene to do is split across the workers when there are
    several (``split_single``)."""
    reports: dict[int, dict] = {}
    todo: list[SceneTask] = []
    for task in tasks:
        state = _state(task)
        if state == "complete":
            reports[task.job.row] = skipped_report(task)
        else:
            todo.append(task)
    done = len(reports)
    total = len(tasks)
    for rep in reports.values():
        _announce(rep, done, total, progress, on_scene)
    futures: dict = {}
    try:
        if len(tasks) == 1 and len(todo) == 1 and split_single and splittable(todo[0]) and cluster.n_workers > 1:
            rep = run_split_scene(todo[0], cluster, lambda f, t: progress((done + f) / total, t))
            reports[rep["row"]] = rep
            _announce(rep, done + 1, total, progress, on_scene)
        elif todo:
            from distributed import as_completed

            futures = {cluster.client.submit(run_scene, task, key=f"padm-scene-{task.job.row}-{new_token()}",
                                             pure=False, retries=TASK_RETRIES): task for task in todo}
            for future in as_completed(futures):
                task = futures[future]
                try:
                    rep = future.result()
                except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker after repeated worker deaths
                    rep = scene_report(task, "failed", f"the task failed on the cluster: {type(exc).__name__}: {exc}")
                reports[task.job.row] = rep
                done += 1
                _announce(rep, done, total, progress, on_scene)
    except BaseException:
        cluster.client.cancel(list(futures))  # Ctrl-C: the caller closes the cluster, then cleans up
        raise
    remove_partial_files([t.job.out for t in tasks])
    return [reports[t.job.row] for t in tasks]


def splittable(task: SceneTask) -> bool:
    """A scene that can be split into chunks: one sample, no band order, no evaluation."""
    return not task.bands and not task.evaluate and int(task.method_options.get("samples", 1) or 1) == 1


def _state(task: SceneTask) -> str:
    try:
        return existing_output_state(task)
    except PansharpenError:
        return "missing"  # bad inputs: the task will report the one-line error


def _announce(rep: dict, done: int, total: int, progress: ProgressFn,
              on_scene: Optional[Callable[[dict], None]]) -> None:
    what = rep["status"] + (f": {rep['error']}" if rep["error"] else "")
    progress(done / total, f"{done}/{total} {Path(rep['out']).name} {what}")
    if on_scene is not None:
        on_scene(rep)


def run_split_scene(task: SceneTask, cluster: Cluster, progress: ProgressFn = silent,
                    n_chunks: Optional[int] = None) -> dict:
    """One scene (see splittable), its tile rows split into chunks over the cluster's workers,
    assembled here."""
    job = task.job
    t0 = time.perf_counter()
    rep = scene_report(task, "failed", worker="split")
    try:
        refuse_foreign_output(job.out)
        rep.update(fuse_split(str(job.pan), str(job.ms), job.out, task.method, task.sensor, task.tile,
                              task.float_output, task.method_options, cluster, progress, n_chunks,
                              overwrite=True))  # an output of ours with another request: redone
        rep["status"] = "done"
    except PansharpenError as exc:
        rep["error"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - reported as the scene's error, like run_scene does
        rep["error"] = f"the split run failed: {type(exc).__name__}: {' '.join(str(exc).split())}"
    rep["seconds"] = round(time.perf_counter() - t0, 2)
    return rep


def fuse_split(pan: str, ms: str, out: Path, method: str, sensor: Optional[str], tile: int, float_output: bool,
               method_options: dict, cluster: Cluster, progress: ProgressFn = silent,
               n_chunks: Optional[int] = None, output_format: str = "COG", creation_options: tuple[str, ...] = (),
               clip: bool = False, overwrite: bool = False) -> dict:
    """`fuse --scheduler`: the scene's tile rows in chunks over the cluster; raises PansharpenError.
    The grid is planned on a worker too (HFreqDiff loads its model to know its halo: not here)."""
    from distributed import as_completed

    from ..raster.writer import OutputFormat, check_raster_output

    fmt = OutputFormat(output_format, tuple(creation_options))
    out = check_raster_output(out, [pan, ms], overwrite)
    client = cluster.client
    try:
        rows = client.submit(count_tile_rows, pan, ms, method, tile, method_options, pure=False).result()
        plan = chunk_plan(rows, n_chunks or max(1, cluster.n_workers))
        token = new_token()
        tasks = [ChunkTask(pan, ms, str(out), method, sensor, tile, float_output, method_options, span, token, clip)
                 for span in plan]
        progress(0.0, f"{len(tasks)} chunks of {rows} tile rows on {cluster.n_workers} workers")
        futures = [client.submit(run_chunk, t, key=f"padm-chunk-{t.tile_rows[0]}-{token}", pure=False,
                                 retries=TASK_RETRIES) for t in tasks]
        chunks = []
        try:
            for k, future in enumerate(as_completed(futures), 1):
                chunks.append(future.result())
                progress(0.9 * k / len(futures), f"chunk {k}/{len(futures)} fused")
        except BaseException:
            client.cancel(futures)
            raise
        _, range_note = assemble(chunks, out, lambda f, t: progress(0.9 + 0.1 * f, t), output_format=fmt)
    finally:
        remove_partial_files([out])
    first = chunks[0]
    notes = list(first["notes"]) + ([range_note] if range_note else [])
    return {"out": str(out), "provider": first["provider"], "notes": notes,
            "size": first["size"], "chunks": len(chunks), "workers": sorted({c["worker"] for c in chunks})}
