"""A dock run from start to end: the PansharpenTask on QGIS's task manager, its progress on the
run panel, Cancel, and at the end the fused layer (and the uncertainty layer) styled in the project."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Optional

from qgis.core import Qgis, QgsApplication, QgsProject, QgsRasterLayer

from ..engine.definitions import HFREQDIFF
from . import estimate, styling
from .dock_form import DockForm
from .run_panel import RunPanel
from .tasks import PansharpenTask, RunRequest, log_message
from .wording import is_warning, qgis_wording


class RunController:
    def __init__(self, form: DockForm, panel: RunPanel):
        self.form, self.panel = form, panel
        self.task: Optional[PansharpenTask] = None
        self.added_layers: list[QgsRasterLayer] = []

    def start(self, request: RunRequest, seconds: float) -> PansharpenTask:
        """Queue the run; ``seconds`` is its estimate (the ETA before progress says more)."""
        if request.finetune_dir:  # the progress bar's share of the fine-tuning
            tune_s = 60.0 * request.finetune_minutes
            request.finetune_weight = tune_s / (tune_s + max(seconds - tune_s, 1.0))
        self.task = PansharpenTask(request, self._finished)
        self.task.stage.connect(self._stage)
        self.task.logged.connect(self.panel.say)
        self.task.progressChanged.connect(self.panel.show_progress)
        self.panel.started(seconds)
        self.panel.say(f"run: {self.form.method_combo.currentText()} -> {request.out} "
                       f"(estimated {estimate.human(seconds)})")
        QgsApplication.taskManager().addTask(self.task)
        return self.task

    def cancel(self) -> None:
        if self.task is not None:
            self.panel.say("cancelling…")
            self.panel.stage_label.setText("Cancelling…")
            self.task.cancel()

    def shutdown(self) -> None:
        """Cancel the run; its end no longer calls into the (deleted) dock."""
        if self.task is not None:
            self.task.on_finished = None
            self.task.cancel()
            self.task = None

    def _stage(self, text: str) -> None:
        self.panel.show_stage(text, self.task.progress() if self.task is not None else 0.0)

    def _finished(self, task: PansharpenTask) -> None:
        self.task = None
        self.panel.ended()
        if task.model_dir:
            self.form.model_picker.refresh()
        if task.was_cancelled:
            self.panel.cancelled()
        elif task.result is None:
            self.panel.failed(task.error or "The run failed without a message (see the message log).")
        else:
            try:
                self._show_result(task)
            except Exception as exc:  # noqa: BLE001 - a display problem: the file is written, say so in one line
                log_message(traceback.format_exc(), Qgis.Critical)
                self.panel.report_error(f"Wrote {task.result.out_path} but could not show it: "
                                        f"{type(exc).__name__}: {' '.join(str(exc).split())}")

    def _show_result(self, task: PansharpenTask) -> None:
        res, req = task.result, task.request
        provider = res.provider or ("numpy" if req.method != HFREQDIFF else "")
        for note in task.notes:
            self.panel.say(qgis_wording(note) if is_warning(note) else f"note: {qgis_wording(note)}")
        self.panel.say(f"wrote {res.out_path} ({res.width}x{res.height}x{res.bands}, {res.method}, "
                       f"{provider or 'runtime not reported'}, {res.seconds:.1f} s)")
        megapixels = res.width * res.height / 1e6
        if req.method == HFREQDIFF and req.options is not None:
            self.form.device_label.setText(f"ran on: {provider or 'not reported'}")
            estimate.record(HFREQDIFF, provider, megapixels, res.seconds, req.options.steps or 1, req.options.samples,
                            work=req.work)
        else:
            estimate.record(req.method, "", megapixels, res.seconds)
        tuned = "fine-tuned" if req.finetune_dir else ""
        fused = QgsRasterLayer(str(res.out_path), styling.layer_name(req.pan, req.method, tuned), "gdal")
        if not fused.isValid():
            self.panel.report_error(f"QGIS cannot open the output {res.out_path}.")
            return
        rgb = styling.style_fused(fused, req.sensor or self.form.detected_sensor, self.form.display_combo.currentData(),
                                  band_order=req.band_order, source_bands=styling.band_count(req.ms))
        layers = [fused]
        spread_path = res.uncertainty_path
        if spread_path and Path(spread_path).is_file():
            spread = QgsRasterLayer(str(spread_path), styling.layer_name(req.pan, req.method, "uncertainty"), "gdal")
            if spread.isValid():
                styling.style_uncertainty(spread, rgb[0])
                layers.insert(0, spread)
        for layer in layers:
            QgsProject.instance().addMapLayer(layer)
        self.added_layers = layers
        self.panel.done(res.seconds, Path(res.out_path).name, str(res.out_path))
