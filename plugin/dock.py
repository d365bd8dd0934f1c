"""The PADM Pansharpening dock: pick PAN and MS layers, a method and its options, run in the
background, watch progress, get the fused layer on the map.

The dock gathers plain values in the main thread (files behind the layers, the canvas extent in
the PAN's CRS) into a RunRequest and hands it to a PansharpenTask; results come back in the
task's finished() callback, also in the main thread, where the layers are added and styled.
"""

from __future__ import annotations

import tempfile
import time
import traceback
import uuid
from pathlib import Path
from typing import Optional

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateTransform,
    QgsMapLayerProxyModel,
    QgsProject,
    QgsRasterLayer,
    QgsSettings,
)
from qgis.gui import QgsDockWidget, QgsFileWidget, QgsMapLayerComboBox, QgsMessageBar
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..engine import DEFAULT_TILE
from . import deps, estimate, models, styling
from .inputs import detect_sensor, layer_file, parse_band_order
from .tasks import PansharpenTask, PipInstallTask, RunRequest, log_message

FINETUNE = "finetune"  # the dock's method key for "HFreqDiff + PADM fine-tuning"
METHODS: list[tuple[str, str]] = [
    ("HFreqDiff (diffusion)", "hfreqdiff"),
    ("HFreqDiff + PADM fine-tuning", FINETUNE),
    ("GSA (classical)", "gsa"),
    ("MTF-GLP-HPM (classical)", "mtf-glp-hpm"),
    ("BDSD-PC (classical)", "bdsd-pc"),
    ("Brovey (classical)", "brovey"),
    ("EXP, no PAN detail (baseline)", "exp"),
]
DEVICES: list[tuple[str, str]] = [("Auto (GPU when available)", "auto"), ("GPU (CUDA)", "cuda"), ("CPU", "cpu")]
SETTINGS = "padm_pansharpening/dock/"


class PadmDock(QgsDockWidget):
    def __init__(self, iface=None, parent: Optional[QWidget] = None):
        super().__init__("PADM Pansharpening", parent)
        self.setObjectName("PadmPansharpeningDock")
        self.iface = iface
        self.task: Optional[PansharpenTask] = None
        self.install_task: Optional[PipInstallTask] = None
        self.added_layers: list[QgsRasterLayer] = []
        self.detected_sensor = "none"
        self._estimate_s = 0.0
        self._build()
        self._connect()
        self.refresh_models()
        self.refresh_dependencies()
        self._method_changed()
        self._ms_changed()

    # -- construction ---------------------------------------------------------------------------
    def _build(self) -> None:
        body = QWidget()
        outer = QVBoxLayout(body)
        self.own_bar = None
        if self.iface is None:  # standalone (screenshot, tests without iface): a bar of its own
            self.own_bar = QgsMessageBar(body)
            outer.addWidget(self.own_bar)

        inputs = QGroupBox("Inputs")
        form = QFormLayout(inputs)
        self.pan_combo = QgsMapLayerComboBox()
        self.ms_combo = QgsMapLayerComboBox()
        for combo in (self.pan_combo, self.ms_combo):
            combo.setFilters(QgsMapLayerProxyModel.RasterLayer)
            combo.setAllowEmptyLayer(True)
            combo.setLayer(None)
        self.pan_combo.setToolTip("Single-band panchromatic raster (a file GDAL reads).")
        self.ms_combo.setToolTip("Multispectral raster in the PAN's CRS; its pixel size an integer multiple of the PAN's.")
        self.band_order = QLineEdit()
        self.band_order.setPlaceholderText("file order (e.g. 3,2,1,4 to reorder or pick bands)")
        self.band_order.setToolTip("MS bands to use, in the order the sensor preset expects (1-based). "
                                   "Empty: all bands as stored.")
        from ..engine.sensors import SENSORS

        self.sensor_combo = _combo([("Auto-detect", "auto")] + [(s.name, s.name) for s in SENSORS.values()])
        self.sensor_label = QLabel()
        self.sensor_label.setWordWrap(True)
        form.addRow("PAN", self.pan_combo)
        form.addRow("MS", self.ms_combo)
        form.addRow("MS band order", self.band_order)
        form.addRow("Sensor", self.sensor_combo)
        form.addRow("", self.sensor_label)
        outer.addWidget(inputs)

        method_box = QGroupBox("Method")
        form = QFormLayout(method_box)
        self.method_combo = _combo(METHODS)
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("The bundled HFreqDiff model, or a fine-tuned one (found in the models folder "
                                    "of the QGIS profile, or added here).")
        self.model_button = QToolButton()
        self.model_button.setText("…")
        self.model_button.setPopupMode(QToolButton.InstantPopup)
        menu = QMenu(self.model_button)
        menu.addAction("Add model file (.onnx, .pt)…", self._add_model_file)
        menu.addAction("Add fine-tuned model folder…", self._add_model_folder)
        menu.addAction("Refresh", self.refresh_models)
        self.model_button.setMenu(menu)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_combo, 1)
        model_row.addWidget(self.model_button)
        self.steps = _spin(0, 200, 0, "DDIM sampling steps; 'model default' uses the model's own setting.",
                           special="model default")
        self.seed = _spin(0, 2**31 - 1, 0, "Noise seed: the same seed gives the same result.")
        self.samples = _spin(1, 64, 1, "Samples drawn and averaged; more than 1 also adds an uncertainty layer "
                                       "(per-pixel spread of the samples).")
        self.budget = _spin(1, 600, 10, "Time budget of the PADM fine-tuning on this scene.", suffix=" min budget")
        self.tile = _spin(64, 8192, DEFAULT_TILE, "Tile side in PAN pixels processed at a time (memory); the "
                                                  "result does not depend on it.", step=64)
        self.device_combo = _combo(DEVICES)
        self.device_label = QLabel("ran on: –")
        form.addRow("Method", self.method_combo)
        form.addRow("Model", model_row)
        form.addRow("Steps", _row(self.steps, "Seed", self.seed))
        form.addRow("Samples", _row(self.samples, "Tile", self.tile))
        form.addRow("Fine-tuning", self.budget)
        form.addRow("Device", self.device_combo)
        form.addRow("", self.device_label)
        outer.addWidget(method_box)

        output = QGroupBox("Output")
        form = QFormLayout(output)
        self.extent_combo = _combo([("Whole layer", "layer"), ("Map canvas extent", "canvas")])
        self.display_combo = _combo([("Natural colour (RGB)", styling.NATURAL),
                                     ("False colour (NIR, red, green)", styling.FALSE_COLOUR)])
        self.output = QgsFileWidget()
        self.output.setStorageMode(QgsFileWidget.SaveFile)
        self.output.setFilter("GeoTIFF (*.tif *.tiff)")
        self.output.lineEdit().setPlaceholderText("[temporary file]")
        form.addRow("Extent", self.extent_combo)
        form.addRow("Display", self.display_combo)
        form.addRow("Output GeoTIFF", self.output)
        outer.addWidget(output)

        self.deps_label = QLabel()
        self.deps_label.setWordWrap(True)
        self.install_button = QPushButton("Install dependencies")
        outer.addWidget(self.deps_label)
        outer.addWidget(self.install_button)

        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        outer.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.stage_label = QLabel("Ready.")
        self.stage_label.setWordWrap(True)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setMinimumHeight(90)
        outer.addWidget(self.progress)
        outer.addWidget(self.stage_label)
        outer.addWidget(self.log, 1)

        for combo in body.findChildren(QComboBox):  # long item texts must not widen the dock
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(14)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        self.setWidget(scroll)
        settings = QgsSettings()
        self.method_combo.setCurrentIndex(max(0, self.method_combo.findData(settings.value(SETTINGS + "method", "hfreqdiff"))))
        self.tile.setValue(int(settings.value(SETTINGS + "tile", DEFAULT_TILE)))

    def _connect(self) -> None:
        self.method_combo.currentIndexChanged.connect(self._method_changed)
        self.ms_combo.layerChanged.connect(self._ms_changed)
        self.sensor_combo.currentIndexChanged.connect(self._ms_changed)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.install_button.clicked.connect(self.install_dependencies)

    # -- state ----------------------------------------------------------------------------------
    def method_key(self) -> str:
        return self.method_combo.currentData()

    def set_method(self, key: str) -> None:
        self.method_combo.setCurrentIndex(self.method_combo.findData(key))

    def _method_changed(self) -> None:
        key = self.method_key()
        diffusion = key in ("hfreqdiff", FINETUNE)
        for widget in (self.model_combo, self.model_button, self.steps, self.seed, self.samples, self.device_combo):
            widget.setEnabled(diffusion)
        self.model_combo.setEnabled(key == "hfreqdiff")  # fine-tuning makes its own model
        self.budget.setEnabled(key == FINETUNE)
        self.refresh_dependencies()

    def _ms_changed(self) -> None:
        layer = self.ms_combo.currentLayer()
        if self.sensor_combo.currentData() != "auto":
            self.sensor_label.setText(f"using the {self.sensor_combo.currentData()} preset")
            return
        if layer is None:
            self.sensor_label.setText("detected from the MS metadata when possible")
            return
        try:
            name, _ = detect_sensor(layer_file(layer, "MS"))
        except Exception as exc:  # a layer the engine cannot read: said again, in one line, at Run
            self.detected_sensor = "none"
            self.sensor_label.setText(f"cannot detect: {' '.join(str(exc).split())[:120]}")
            return
        self.detected_sensor = name
        self.sensor_label.setText(f"detected: {name} (from the file metadata)" if name != "none" else
                                  "not detected: generic MTF gains (choose the sensor if you know it)")

    def sensor_choice(self) -> Optional[str]:
        value = self.sensor_combo.currentData()
        return None if value == "auto" else value

    def refresh_models(self) -> None:
        current = self.model_combo.currentData()
        extra = QgsSettings().value(SETTINGS + "extra_models", [], type=list)
        self.model_combo.clear()
        for entry in models.find_models(extra):
            self.model_combo.addItem(entry.label, entry.path)
            self.model_combo.setItemData(self.model_combo.count() - 1, entry.path or "bundled", Qt.ToolTipRole)
        index = self.model_combo.findData(current)
        self.model_combo.setCurrentIndex(max(0, index))

    def _remember_model(self, path: str) -> None:
        if not path:
            return
        extra = QgsSettings().value(SETTINGS + "extra_models", [], type=list)
        if path not in extra:
            QgsSettings().setValue(SETTINGS + "extra_models", extra + [path])
        self.refresh_models()
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(path)))

    def _add_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "HFreqDiff model", "", "HFreqDiff models (*.onnx *.pt)")
        self._remember_model(path)

    def _add_model_folder(self) -> None:
        self._remember_model(QFileDialog.getExistingDirectory(self, "Fine-tuned model folder", str(models.models_folder())))

    def refresh_dependencies(self) -> None:
        feature = "finetune" if self.method_key() == FINETUNE else "hfreqdiff"
        needed = deps.missing(feature) if self.method_key() in ("hfreqdiff", FINETUNE) else []
        if self.method_key() == FINETUNE:
            needed = deps.missing("hfreqdiff") + needed
        everything = deps.all_missing()
        if not everything:
            self.deps_label.setText("")
            self.deps_label.hide()
            self.install_button.hide()
            return
        names = ", ".join(f"{d.module} ({d.needed_for})" for d in everything)
        self.deps_label.setText(("Needed for this method and missing: " if needed else "Optional, missing: ") + names)
        self.deps_label.show()
        self.install_button.show()
        self.install_button.setText(f"Install {', '.join(d.module for d in (needed or everything))}")

    # -- messages -------------------------------------------------------------------------------
    def message_bar(self) -> QgsMessageBar:
        return self.iface.messageBar() if self.iface is not None else self.own_bar

    def say(self, line: str) -> None:
        self.log.appendPlainText(line)

    def report_error(self, line: str) -> None:
        """One line in the message bar, the message log and the dock's log."""
        self.message_bar().pushMessage("PADM Pansharpening", line, level=Qgis.Critical, duration=0)
        log_message(line, Qgis.Critical)
        self.say(f"error: {line}")
        self.stage_label.setText(f"Failed: {line}")

    def confirm_long_run(self, seconds: float) -> bool:
        """Asked before runs estimated above estimate.LONG_RUN_S."""
        answer = QMessageBox.question(
            self, "PADM Pansharpening",
            f"This run is estimated to take about {estimate.human(seconds)} on this machine. Start it?\n\n"
            "It runs in the background; QGIS stays usable and Cancel stops it without leaving files.",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
        return answer == QMessageBox.Yes

    # -- running --------------------------------------------------------------------------------
    def build_request(self) -> RunRequest:
        """A RunRequest from the widgets (main thread); PansharpenError with one line when incomplete."""
        from ..engine.errors import PansharpenError

        pan_layer, ms_layer = self.pan_combo.currentLayer(), self.ms_combo.currentLayer()
        pan, ms = layer_file(pan_layer, "PAN"), layer_file(ms_layer, "MS")
        order = parse_band_order(self.band_order.text(), ms_layer.bandCount())
        key = self.method_key()
        method = "hfreqdiff" if key == FINETUNE else key
        missing = deps.missing("hfreqdiff") if method == "hfreqdiff" else []
        if key == FINETUNE:
            missing += deps.missing("finetune")
        model = self.model_combo.currentData() if key == "hfreqdiff" else None
        if model and Path(model).suffix == ".pt":
            missing = deps.missing("hfreqdiff-torch")
        if missing:
            raise PansharpenError(deps.missing_line(missing))
        options: dict = {}
        if method == "hfreqdiff":
            options = {"seed": self.seed.value(), "samples": self.samples.value(), "device": self.device_combo.currentData()}
            if self.steps.value() > 0:
                options["steps"] = self.steps.value()
            if model:
                options["model"] = model
        extent = None
        if self.extent_combo.currentData() == "canvas":
            extent = self._canvas_extent_in(pan_layer)
        out = self.output.filePath().strip() or _temporary_output(pan, key)
        request = RunRequest(pan=pan, ms=ms, out=out, method=method, sensor=self.sensor_choice(),
                             tile=self.tile.value(), options=options, band_order=order, extent=extent)
        if key == FINETUNE:
            request.finetune_dir = str(models.new_model_folder(pan))
            request.finetune_minutes = float(self.budget.value())
        if Path(out).suffix.lower() not in (".tif", ".tiff"):
            raise PansharpenError(f"Output {out} is not a GeoTIFF name: end it with .tif.")
        return request

    def _canvas_extent_in(self, pan_layer):
        from ..engine.errors import PansharpenError

        canvas = self.iface.mapCanvas() if self.iface is not None else None
        if canvas is None:
            raise PansharpenError("No map canvas to take the extent from: process the whole layer.")
        transform = QgsCoordinateTransform(canvas.mapSettings().destinationCrs(), pan_layer.crs(), QgsProject.instance())
        rect = transform.transformBoundingBox(canvas.extent()).intersect(pan_layer.extent())
        if rect.isEmpty():
            raise PansharpenError("The map canvas does not show any part of the PAN layer: zoom onto it or "
                                  "process the whole layer.")
        return rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum()

    def _estimate(self, request: RunRequest) -> float:
        pan_layer = self.pan_combo.currentLayer()
        if request.extent is not None:
            px, py = pan_layer.rasterUnitsPerPixelX(), pan_layer.rasterUnitsPerPixelY()
            mp = (request.extent[2] - request.extent[0]) / px * (request.extent[3] - request.extent[1]) / py / 1e6
        else:
            mp = pan_layer.width() * pan_layer.height() / 1e6
        provider = "cuda" if request.options.get("device") in ("auto", "cuda") and _onnx_has_cuda() else "cpu"
        return estimate.estimate_seconds(mp, request.method, request.options.get("steps", 1),
                                         request.options.get("samples", 1), provider,
                                         request.finetune_minutes if request.finetune_dir else 0.0)

    def run(self) -> Optional[PansharpenTask]:
        """Start a run from the widgets; returns the task (None when refused or asked not to)."""
        from ..engine.errors import PansharpenError

        if self.task is not None:
            self.report_error("A run is in progress: wait for it or cancel it.")
            return None
        try:
            request = self.build_request()
        except PansharpenError as exc:
            self.report_error(str(exc))
            return None
        seconds = self._estimate(request)
        if request.finetune_dir:
            fuse_s = max(seconds - 60.0 * request.finetune_minutes, 1.0)
            request.finetune_weight = 60.0 * request.finetune_minutes / (60.0 * request.finetune_minutes + fuse_s)
        if seconds > estimate.LONG_RUN_S and not self.confirm_long_run(seconds):
            self.say(f"not started (estimated {estimate.human(seconds)})")
            return None
        QgsSettings().setValue(SETTINGS + "method", self.method_key())
        QgsSettings().setValue(SETTINGS + "tile", self.tile.value())
        self._estimate_s = seconds
        self.task = PansharpenTask(request, self._finished)
        self.task.stage.connect(self._stage)
        self.task.logged.connect(self.say)
        self.task.progressChanged.connect(self._progress)
        self._started = time.monotonic()
        self._stage_text = "starting"
        self.progress.setValue(0)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.say(f"run: {self.method_combo.currentText()} -> {request.out} (estimated {estimate.human(seconds)})")
        self.stage_label.setText(f"Starting… (estimated {estimate.human(seconds)})")
        QgsApplication.taskManager().addTask(self.task)
        return self.task

    def cancel(self) -> None:
        if self.task is not None:
            self.say("cancelling…")
            self.stage_label.setText("Cancelling…")
            self.task.cancel()

    def _stage(self, text: str) -> None:
        self._stage_text = text
        self._progress(self.task.progress() if self.task is not None else 0.0)

    def _progress(self, percent: float) -> None:
        self.progress.setValue(int(percent))
        elapsed = time.monotonic() - self._started
        fraction = percent / 100.0
        if fraction > 0.02:
            left = elapsed * (1 - fraction) / fraction
        else:
            left = max(self._estimate_s - elapsed, 0.0)
        self.stage_label.setText(f"{self._stage_text} — {percent:.0f} %, about {estimate.human(left)} left")

    def _finished(self, task: PansharpenTask) -> None:
        self.task = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if task.model_dir:
            self.refresh_models()
        if task.was_cancelled:
            self.progress.setValue(0)
            self.stage_label.setText("Cancelled: no output was written.")
            self.say("cancelled: no output was written")
            self.message_bar().pushMessage("PADM Pansharpening", "Cancelled: no output was written.",
                                           level=Qgis.Info, duration=5)
            return
        if task.result is None:
            self.progress.setValue(0)
            self.report_error(task.error or "The run failed without a message (see the message log).")
            return
        try:
            self._show_result(task)
        except Exception as exc:  # noqa: BLE001 - a display problem: the file is written, say so in one line
            log_message(traceback.format_exc(), Qgis.Critical)
            self.report_error(f"Wrote {task.result.out_path} but could not show it: {type(exc).__name__}: "
                              f"{' '.join(str(exc).split())}")

    def _show_result(self, task: PansharpenTask) -> None:
        res, req = task.result, task.request
        provider = getattr(res, "provider", "") or ("numpy" if req.method != "hfreqdiff" else "")
        for note in task.notes:
            self.say(f"note: {note}")
        seconds = res.seconds
        self.say(f"wrote {res.out_path} ({res.width}x{res.height}x{res.bands}, {res.method}, "
                 f"{provider or 'runtime not reported'}, {seconds:.1f} s)")
        if req.method == "hfreqdiff":
            self.device_label.setText(f"ran on: {provider or 'not reported'}")
            estimate.record("hfreqdiff", provider, res.width * res.height / 1e6, seconds,
                            req.options.get("steps", 1), req.options.get("samples", 1))
        else:
            estimate.record(req.method, "", res.width * res.height / 1e6, seconds)
        sensor = req.sensor or self.detected_sensor
        fused = QgsRasterLayer(str(res.out_path), Path(res.out_path).stem, "gdal")
        if not fused.isValid():
            self.report_error(f"QGIS cannot open the output {res.out_path}.")
            return
        rgb = styling.style_fused(fused, sensor, self.display_combo.currentData())
        layers = [fused]
        spread_path = getattr(res, "uncertainty_path", None)
        if spread_path and Path(spread_path).is_file():
            spread = QgsRasterLayer(str(spread_path), Path(spread_path).stem, "gdal")
            if spread.isValid():
                styling.style_uncertainty(spread, rgb[0])
                layers.insert(0, spread)
        for layer in layers:
            QgsProject.instance().addMapLayer(layer)
        self.added_layers = layers
        self.progress.setValue(100)
        self.stage_label.setText(f"Done in {seconds:.1f} s: {Path(res.out_path).name}")
        self.message_bar().pushMessage("PADM Pansharpening", f"Wrote {res.out_path}", level=Qgis.Success, duration=5)

    # -- dependencies ---------------------------------------------------------------------------
    def install_dependencies(self, modules: Optional[list[str]] = None) -> Optional[PipInstallTask]:
        if self.install_task is not None:
            return None
        if not modules:
            wanted = deps.missing("hfreqdiff") + (deps.missing("finetune") if self.method_key() == FINETUNE else [])
            modules = [d.module for d in (wanted or deps.all_missing())]
        if not modules:
            return None
        self.say(f"installing {', '.join(modules)} into {deps.packages_folder()} (log: pip-install.log beside it)")
        self.install_button.setEnabled(False)
        self.install_task = PipInstallTask(modules, self._installed)
        self.install_task.logged.connect(self.say)
        QgsApplication.taskManager().addTask(self.install_task)
        return self.install_task

    def _installed(self, task: PipInstallTask) -> None:
        self.install_task = None
        self.install_button.setEnabled(True)
        if task.error:
            self.report_error(task.error)
        else:
            self.message_bar().pushMessage("PADM Pansharpening", f"Installed {', '.join(task.modules)}.",
                                           level=Qgis.Success, duration=5)
            self.say(f"installed {', '.join(task.modules)}")
        self.refresh_dependencies()

    def shutdown(self) -> None:
        """Plugin unload: cancel what runs; its end no longer calls into this (deleted) dock."""
        for task in (self.task, self.install_task):
            if task is not None:
                task.on_finished = None
                task.cancel()
        self.task = self.install_task = None


def _row(first: QWidget, label: str, second: QWidget) -> QHBoxLayout:
    """Two fields on one form row: ``first``, then ``label`` and ``second``."""
    row = QHBoxLayout()
    row.addWidget(first, 1)
    row.addWidget(QLabel(label))
    row.addWidget(second, 1)
    return row


def _combo(items) -> QComboBox:
    """A combo box of (label, data) items."""
    combo = QComboBox()
    for label, key in items:
        combo.addItem(label, key)
    return combo


def _spin(lo: int, hi: int, value: int, tip: str, special: str = "", suffix: str = "", step: int = 1) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(lo, hi)
    spin.setValue(value)
    spin.setSingleStep(step)
    spin.setToolTip(tip)
    if special:
        spin.setSpecialValueText(special)
    if suffix:
        spin.setSuffix(suffix)
    return spin


def _temporary_output(pan: str, method: str) -> str:
    folder = Path(tempfile.gettempdir()) / "padm_pansharpening"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / f"{Path(pan).stem}_{method}_{time.strftime('%Y%m%d-%H%M%S')}_{uuid.uuid4().hex[:6]}.tif")


_CUDA: dict[str, bool] = {}


def _onnx_has_cuda() -> bool:
    if "ort" not in _CUDA:
        try:
            import onnxruntime

            _CUDA["ort"] = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
        except ImportError:
            _CUDA["ort"] = False
    return _CUDA["ort"]
