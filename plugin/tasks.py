"""Background work of the dock, as QgsTasks: pansharpening (optionally after PADM fine-tuning;
installing the optional packages is plugin.installer's).

PADM fine-tuning and HFreqDiff (on ONNX Runtime or torch) run in a child process of the engine CLI
(plugin.child), so torch, ONNX Runtime's memory arena and GPU memory stay out of QGIS (issue 16:
QGIS grew by gigabytes during an in-process HFreqDiff run) and Cancel ends the child at once; the
classical methods run in the worker thread.

``run()`` executes in a worker thread and sees only plain data (paths, numbers): no layers, no
data providers, no widgets. Progress crosses to the GUI through ``setProgress`` and the task's
signals (queued to the main thread); ``finished()`` runs in the main thread and hands the task to
the callback given at construction.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from qgis.core import QgsMessageLog, QgsTask, Qgis
from qgis.PyQt.QtCore import pyqtSignal

from ..engine import DEFAULT_TILE
from ..engine.definitions import DEFAULT_FINETUNE_MINUTES, HFREQDIFF
from ..engine.options import HFreqDiffOptions
from . import child
from .inputs import Extent, PreparedInputs, prepare_inputs

LOG_TAG = "PADM Pansharpening"


def log_message(text: str, level=Qgis.Info) -> None:
    QgsMessageLog.logMessage(text, LOG_TAG, level)


@dataclass
class RunRequest:
    pan: str
    ms: str
    out: str
    method: str  # engine method name: hfreqdiff or a classical one
    sensor: Optional[str] = None  # None: guessed by the engine
    tile: int = DEFAULT_TILE
    options: Optional[HFreqDiffOptions] = None  # HFreqDiff's options (None for classical methods)
    band_order: Optional[list[int]] = None
    extent: Optional[Extent] = None  # in the PAN's CRS; None: whole layers
    finetune_dir: Optional[str] = None  # set: PADM fine-tuning into this folder first, then fuse with it
    finetune_minutes: float = DEFAULT_FINETUNE_MINUTES
    finetune_weight: float = 0.5  # share of the progress bar the fine-tuning takes
    work: Optional[object] = None  # engine.hfreqdiff.cost.Work of an HFreqDiff run, for the time estimate
    overwrite: bool = False  # replace an existing output (the dock asked the user)


class PansharpenTask(QgsTask):
    stage = pyqtSignal(str)  # short text of what is being done now
    logged = pyqtSignal(str)  # a line for the dock's log

    def __init__(self, request: RunRequest, on_finished: Optional[Callable[["PansharpenTask"], None]] = None):
        super().__init__(f"PADM Pansharpening: {Path(request.out).name}", QgsTask.CanCancel)
        self.request = request
        self.on_finished = on_finished
        self.result = None  # engine FuseResult
        self.error = ""  # one line
        self.was_cancelled = False
        self.model_dir: Optional[str] = None  # the fine-tuned model, when made
        self.finetune_note = ""  # which model fine-tuning kept, and why (shown with the notes)
        self.notes: list[str] = []
        self.started = time.monotonic()
        self._last_stage = ""

    # -- worker thread ------------------------------------------------------------------------
    def _progress(self, lo: float, hi: float) -> Callable[[float, str], None]:
        def report(fraction: float, text: str) -> None:
            self.setProgress(100.0 * (lo + (hi - lo) * min(max(fraction, 0.0), 1.0)))
            if text and text != self._last_stage:
                self._last_stage = text
                self.stage.emit(text)
        return report

    def run(self) -> bool:
        from ..engine.errors import Cancelled, PansharpenError

        req = self.request
        workdir = Path(tempfile.mkdtemp(prefix="padm_inputs_"))
        try:
            inputs = prepare_inputs(req.pan, req.ms, workdir, req.band_order, req.extent, req.sensor)
            for note in inputs.notes:
                self.logged.emit(note)
            options = req.options
            fuse_from = 0.0
            if req.finetune_dir:
                fuse_from = req.finetune_weight
                options = self._finetune(inputs.pan, inputs.ms, options or HFreqDiffOptions())
                if options is None:
                    return False
            if self.isCanceled():
                raise Cancelled()
            if req.method == HFREQDIFF and options is not None:
                return self._fuse_in_child(inputs, options, fuse_from)
            from ..engine.pipeline import fuse_files

            self.result = fuse_files(inputs.pan, inputs.ms, req.out, method=req.method, sensor=req.sensor,
                                     tile=req.tile, progress=self._progress(fuse_from, 1.0),
                                     is_cancelled=self.isCanceled,
                                     method_options=options.method_options() if options else None,
                                     extra_metadata={"layers": {"pan": req.pan, "ms": req.ms}},  # PADM_LAYERS
                                     overwrite=req.overwrite)
            self.notes = [n for n in (self.finetune_note,) if n] + list(self.result.notes)
            return True
        except Cancelled:
            self.was_cancelled = True
            return False
        except PansharpenError as exc:
            self.error = str(exc)
            return False
        except Exception as exc:  # a bug: one line for the user, the traceback in the message log
            self.error = f"Unexpected {type(exc).__name__}: {' '.join(str(exc).split())} (details in the log)"
            log_message(traceback.format_exc(), Qgis.Critical)
            return False
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _finetune(self, pan: str, ms: str, options: HFreqDiffOptions) -> Optional[HFreqDiffOptions]:
        """PADM fine-tuning in a child process; the options with the new model, None when it failed."""
        req = self.request
        self.stage.emit("PADM fine-tuning (child process)")
        res = child.finetune(pan, ms, Path(req.finetune_dir), req.finetune_minutes, sensor=req.sensor,
                             seed=options.seed, progress=self._progress(0.0, req.finetune_weight),
                             is_cancelled=self.isCanceled, log=self.logged.emit)
        if not self._child_ok(res, "PADM fine-tuning failed: "):
            return None
        self.model_dir = req.finetune_dir
        self.logged.emit(f"fine-tuned model: {req.finetune_dir}")
        self.finetune_note = finetune_verdict(res.result or {})
        if self.finetune_note:
            self.logged.emit(self.finetune_note)
        return dataclasses.replace(options, model=req.finetune_dir)

    def _fuse_in_child(self, inputs: PreparedInputs, options: HFreqDiffOptions, fuse_from: float) -> bool:
        """HFreqDiff in a child process (`fuse --progress json`)."""
        req = self.request
        self.stage.emit("HFreqDiff (child process)")
        res = child.fuse(inputs.pan, inputs.ms, req.out, options, sensor=req.sensor, tile=req.tile,
                         progress=self._progress(fuse_from, 1.0), is_cancelled=self.isCanceled,
                         log=self.logged.emit, overwrite=req.overwrite, layers=(req.pan, req.ms))
        if not self._child_ok(res, ""):
            return False
        self.result = child.fuse_result(res.result)
        self.notes = [n for n in (self.finetune_note,) if n] + list(self.result.notes)
        return True

    def _child_ok(self, res: child.ChildResult, error_prefix: str) -> bool:
        """Whether a child process succeeded; its cancel or its one-line error is kept otherwise."""
        if res.cancelled:
            self.was_cancelled = True
        elif not res.ok:
            self.error = error_prefix + res.error
        return res.ok

    # -- main thread ---------------------------------------------------------------------------
    def finished(self, ok: bool) -> None:  # noqa: ARG002 - the state is in the attributes
        _call_back(self.on_finished, self)


def _call_back(callback: Optional[Callable], task: QgsTask) -> None:
    """Run a finished() callback; an exception escaping a C++ virtual would abort QGIS, so it is logged."""
    if callback is None:
        return
    try:
        callback(task)
    except Exception:  # noqa: BLE001 - reported, never raised into C++
        log_message(f"{task.description()}: error after the run\n{traceback.format_exc()}", Qgis.Critical)


def finetune_verdict(result: dict) -> str:
    """What fine-tuning did for this scene, from the finetune command's result: the model kept and the
    held-out no-reference figures behind it."""
    guard = result.get("guard") or {}
    if not guard.get("kept"):
        return ""
    line = f"fine-tuning kept the {guard['kept']}: {guard.get('reason', '')}"
    shipped, best = guard.get("shipped") or {}, guard.get("best_check") or {}
    if shipped and best and best.get("HQNR") is not None:
        line += (f" (held-out D_lambda_K {shipped['D_lambda_K']:.4f} -> {best['D_lambda_K']:.4f}, "
                 f"D_s {shipped['D_s']:.4f} -> {best['D_s']:.4f})")
    return line
