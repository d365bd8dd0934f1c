"""The dock's model chooser: the bundled HFreqDiff model, fine-tuned ones, and files or folders the
user added (remembered in the settings)."""

from __future__ import annotations

from typing import Optional

from qgis.core import QgsSettings
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QMenu, QToolButton, QWidget

from . import models
from .widgets import SETTINGS

EXTRA_MODELS = SETTINGS + "extra_models"


class ModelPicker(QWidget):
    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setToolTip("The bundled HFreqDiff model, or a fine-tuned one (found in the models folder "
                              "of the QGIS profile, or added here).")
        self.button = QToolButton()
        self.button.setText("…")
        self.button.setPopupMode(QToolButton.InstantPopup)
        menu = QMenu(self.button)
        menu.addAction("Add model file (.onnx, .pt)…", self._add_file)
        menu.addAction("Add fine-tuned model folder…", self._add_folder)
        menu.addAction("Refresh", self.refresh)
        self.button.setMenu(menu)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.button)
        self.refresh()

    def current(self) -> Optional[str]:
        """The chosen model file or folder; None for the bundled model."""
        return self.combo.currentData()

    def refresh(self) -> None:
        current = self.combo.currentData()
        self.combo.clear()
        for entry in models.find_models(QgsSettings().value(EXTRA_MODELS, [], type=list)):
            self.combo.addItem(entry.label, entry.path)
            tip = entry.path or f"Bundled HFreqDiff: {models.bundled_model_name()}"
            self.combo.setItemData(self.combo.count() - 1, tip, Qt.ToolTipRole)
        self.combo.setCurrentIndex(max(0, self.combo.findData(current)))

    def remember(self, path: str) -> None:
        """Offer a model file or folder from now on, and choose it."""
        if not path:
            return
        extra = QgsSettings().value(EXTRA_MODELS, [], type=list)
        if path not in extra:
            QgsSettings().setValue(EXTRA_MODELS, extra + [path])
        self.refresh()
        self.combo.setCurrentIndex(max(0, self.combo.findData(path)))

    def _add_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "HFreqDiff model", "", "HFreqDiff models (*.onnx *.pt)")
        self.remember(path)

    def _add_folder(self) -> None:
        self.remember(QFileDialog.getExistingDirectory(self, "Fine-tuned model folder", str(models.models_folder())))
