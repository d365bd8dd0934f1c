"""The dock's form: the input, method and output widgets, and the values they hold (method key,
sensor choice, HFreqDiff options). It knows nothing of running."""

from __future__ import annotations

from typing import Optional

from qgis.core import QgsMapLayerProxyModel, QgsSettings
from qgis.gui import QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QFormLayout, QGroupBox, QLineEdit, QVBoxLayout, QWidget

from ..engine import DEFAULT_TILE
from ..engine.definitions import CLASSICAL_METHODS, DEFAULT_FINETUNE_MINUTES, HFREQDIFF, sensor_names
from ..engine.options import DEFAULT_QUALITY, DEVICES, QUALITIES, HFreqDiffOptions

from . import styling
from .inputs import layer_file, sensor_guess
from .model_picker import ModelPicker
from .widgets import SETTINGS, combo, form_layout, note_label, spin

QUALITY_LABELS = {"fast": "Fast", "best": "Best (4x the time)"}

FINETUNE = "finetune"  # the dock's method key for "HFreqDiff + PADM fine-tuning"
# (label, key): HFreqDiff, with fine-tuning, then the classical methods (key = engine method name)
METHODS: list[tuple[str, str]] = [("HFreqDiff (diffusion)", HFREQDIFF), ("HFreqDiff + fine-tuning", FINETUNE)] + [
    (f"{label.split(':')[0]} (classical)", name) for name, label in CLASSICAL_METHODS.items()]


class DockForm(QWidget):
    # the widgets the dock offers as its own attributes (dock.pan_combo, ...)
    WIDGETS = ("pan_combo", "ms_combo", "band_order", "sensor_combo", "sensor_label", "method_combo",
               "model_combo", "model_button", "quality_combo", "steps", "seed", "samples", "budget", "tile", "device_combo",
               "device_label", "extent_combo", "display_combo", "output")

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.detected_sensor = "none"
        self.sensor_found = None  # engine.sensor_guess.SensorGuess of the MS under Auto-detect
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        boxes = (self._inputs_box(), self._method_box(), self._output_box())
        for box in boxes:
            layout.addWidget(box)
        self.forms: list[QFormLayout] = [box.layout() for box in boxes]
        settings = QgsSettings()
        self.set_method(settings.value(SETTINGS + "method", HFREQDIFF))
        self.tile.setValue(int(settings.value(SETTINGS + "tile", DEFAULT_TILE)))
        self.method_combo.currentIndexChanged.connect(self._method_changed)
        self.ms_combo.layerChanged.connect(self._ms_changed)
        self.sensor_combo.currentIndexChanged.connect(self._ms_changed)
        self._method_changed()
        self._ms_changed()

    # -- construction ---------------------------------------------------------------------------
    def _inputs_box(self) -> QGroupBox:
        box = QGroupBox("Inputs")
        form = form_layout(box)
        self.pan_combo, self.ms_combo = QgsMapLayerComboBox(), QgsMapLayerComboBox()
        for layers in (self.pan_combo, self.ms_combo):
            layers.setFilters(QgsMapLayerProxyModel.RasterLayer)
            layers.setAllowEmptyLayer(True)
            layers.setLayer(None)
        self.pan_combo.setToolTip("Single-band panchromatic raster (a file GDAL reads).")
        self.ms_combo.setToolTip("Multispectral raster in the PAN's CRS; its pixel size an integer multiple of the PAN's.")
        self.band_order = QLineEdit()
        self.band_order.setPlaceholderText("all, as stored (e.g. 5,3,2)")
        self.band_order.setToolTip("MS bands to use, in the order the sensor preset expects (1-based). "
                                   "Empty: all bands as stored.")
        self.sensor_combo = combo([("Auto-detect", "auto")] + [(name, name) for name in sensor_names()])
        self.sensor_label = note_label()
        form.addRow("PAN", self.pan_combo)
        form.addRow("MS", self.ms_combo)
        form.addRow("Band order", self.band_order)
        form.addRow("Sensor", self.sensor_combo)
        form.addRow("", self.sensor_label)
        return box

    def _method_box(self) -> QGroupBox:
        box = QGroupBox("Method")
        form = form_layout(box)
        self.method_combo = combo(METHODS)
        self.method_combo.setItemData(1, "PADM fine-tuning on this scene (learns its degradation), then HFreqDiff "
                                         "with the fine-tuned model", Qt.ToolTipRole)
        for index, name in enumerate(CLASSICAL_METHODS, start=2):
            self.method_combo.setItemData(index, CLASSICAL_METHODS[name], Qt.ToolTipRole)
        self.model_picker = ModelPicker()
        self.model_combo, self.model_button = self.model_picker.combo, self.model_picker.button
        self.steps = spin(0, 200, 0, "DDIM sampling steps; 'model default' uses the model's own setting.",
                          special="model default")
        self.seed = spin(0, 2**31 - 1, 0, "Noise seed: the same seed gives the same result.")
        self.samples = spin(1, 64, 1, "Samples drawn and averaged; more than 1 also adds an uncertainty layer "
                                      "(per-pixel spread of the samples).")
        self.budget = spin(1, 600, DEFAULT_FINETUNE_MINUTES, "Time budget of the PADM fine-tuning on this scene.", suffix=" min budget")
        self.tile = spin(64, 8192, DEFAULT_TILE, "Tile side in PAN pixels processed at a time (memory); the "
                                                 "result does not depend on it.", step=64)
        self.device_combo = combo((label, value) for value, label in DEVICES)
        self.device_label = note_label("ran on: –")
        self.quality_combo = combo((QUALITY_LABELS[name], name) for name in QUALITIES)
        self.quality_combo.setCurrentIndex(list(QUALITIES).index(DEFAULT_QUALITY))
        self.quality_combo.setToolTip("\n".join(f"{name.capitalize()}: {what}." for name, what in QUALITIES.items())
                                      + "\nThe output's metadata records which.")
        form.addRow("Method", self.method_combo)
        form.addRow("Model", self.model_picker)
        form.addRow("Quality", self.quality_combo)
        form.addRow("Steps", self.steps)
        form.addRow("Seed", self.seed)
        form.addRow("Samples", self.samples)
        form.addRow("Tile", self.tile)
        form.addRow("Fine-tuning", self.budget)
        form.addRow("Device", self.device_combo)
        form.addRow("", self.device_label)
        return box

    def _output_box(self) -> QGroupBox:
        box = QGroupBox("Output")
        form = form_layout(box)
        self.extent_combo = combo([("Whole layer", "layer"), ("Map canvas extent", "canvas")])
        self.display_combo = combo([("Natural colour (RGB)", styling.NATURAL),
                                    ("False colour (NIR, red, green)", styling.FALSE_COLOUR)])
        self.output = QgsFileWidget()
        self.output.setStorageMode(QgsFileWidget.SaveFile)
        self.output.setFilter("GeoTIFF (*.tif *.tiff)")
        self.output.lineEdit().setPlaceholderText("[automatic: beside the project]")
        self.output.setToolTip("Empty: <scene>_<method>.tif in the saved project's folder, else in the folder of "
                               "the last output you named, else in the QGIS profile (padm_pansharpening/outputs).")
        form.addRow("Extent", self.extent_combo)
        form.addRow("Display", self.display_combo)
        form.addRow("Output", self.output)
        return box

    # -- reflow -----------------------------------------------------------------------------------
    def wide_width(self) -> int:
        """The width at which every field, beside its label, has its preferred width."""
        widths = []
        for form in self.forms:
            policy = form.rowWrapPolicy()
            form.setRowWrapPolicy(QFormLayout.DontWrapRows)
            widths.append(form.parentWidget().sizeHint().width())  # the group box around the form
            form.setRowWrapPolicy(policy)
        return max(widths)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        """Narrower than wide_width(): labels above their fields, which then get the whole width."""
        policy = QFormLayout.DontWrapRows if event.size().width() >= self.wide_width() else QFormLayout.WrapAllRows
        for form in self.forms:
            if form.rowWrapPolicy() != policy:
                form.setRowWrapPolicy(policy)
        super().resizeEvent(event)

    # -- values ---------------------------------------------------------------------------------
    def method_key(self) -> str:
        """hfreqdiff, finetune or a classical engine method name."""
        return self.method_combo.currentData()

    def set_method(self, key: str) -> None:
        self.method_combo.setCurrentIndex(max(0, self.method_combo.findData(key)))

    def engine_method(self) -> str:
        """The engine method the run ends with (fine-tuning ends with HFreqDiff)."""
        return HFREQDIFF if self.method_key() == FINETUNE else self.method_key()

    def sensor_choice(self) -> Optional[str]:
        value = self.sensor_combo.currentData()
        return None if value == "auto" else value

    def chosen_model(self) -> Optional[str]:
        """The model of an HFreqDiff run (None: bundled); fine-tuning makes its own."""
        return self.model_picker.current() if self.method_key() == HFREQDIFF else None

    def hfreqdiff_options(self) -> Optional[HFreqDiffOptions]:
        """HFreqDiff's options from the widgets; None for a classical method."""
        if self.engine_method() != HFREQDIFF:
            return None
        return HFreqDiffOptions.from_mapping({
            "model": self.chosen_model(), "steps": self.steps.value(), "seed": self.seed.value(),
            "samples": self.samples.value(), "device": self.device_combo.currentData(),
            "quality": self.quality_combo.currentData()})

    def remember_choices(self) -> None:
        settings = QgsSettings()
        settings.setValue(SETTINGS + "method", self.method_key())
        settings.setValue(SETTINGS + "tile", self.tile.value())

    # -- reactions ------------------------------------------------------------------------------
    def _method_changed(self) -> None:
        key = self.method_key()
        for widget in (self.model_button, self.quality_combo, self.steps, self.seed, self.samples, self.device_combo):
            widget.setEnabled(key in (HFREQDIFF, FINETUNE))
        self.model_combo.setEnabled(key == HFREQDIFF)  # fine-tuning makes its own model
        self.budget.setEnabled(key == FINETUNE)

    def _ms_changed(self) -> None:
        layer = self.ms_combo.currentLayer()
        self.sensor_found = None
        if self.sensor_choice() is not None:
            self.sensor_label.setText(f"using the {self.sensor_choice()} preset")
            return
        if layer is None:
            self.sensor_label.setText("detected from the MS metadata when possible")
            return
        try:
            found = sensor_guess(layer_file(layer, "MS"))
        except Exception as exc:  # a layer the engine cannot read: said again, in one line, at Run
            self.detected_sensor = "none"
            self.sensor_label.setText(f"cannot detect: {' '.join(str(exc).split())[:120]}")
            return
        name = self.detected_sensor = found.sensor.name
        self.sensor_found = found  # ambiguous (several presets fit): Run asks for a choice
        self.sensor_label.setText(found.question() if found.ambiguous else f"detected: {name} ({found.why})"
                                  if name != "none" else f"not detected: {found.why}; choose the sensor if you know it")
        self.sensor_label.setToolTip(found.reason)
