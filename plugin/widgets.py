"""Small Qt helpers the dock's parts share, and where the dock keeps its settings."""

from __future__ import annotations

from typing import Iterable

from qgis.PyQt.QtWidgets import QComboBox, QFormLayout, QLabel, QSizePolicy, QSpinBox, QWidget

SETTINGS = "padm_pansharpening/dock/"  # QgsSettings prefix of the dock's remembered choices


def combo(items: Iterable[tuple[str, str]]) -> QComboBox:
    """A combo box of (label, data) items."""
    box = QComboBox()
    for label, key in items:
        box.addItem(label, key)
    return box


def spin(lo: int, hi: int, value: int, tip: str, special: str = "", suffix: str = "", step: int = 1) -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setValue(value)
    box.setSingleStep(step)
    box.setToolTip(tip)
    if special:
        box.setSpecialValueText(special)
    if suffix:
        box.setSuffix(suffix)
    return box


def form_layout(parent: QWidget) -> QFormLayout:
    """A form whose fields grow with the dock (DockForm puts them below their labels when narrow)."""
    form = QFormLayout(parent)
    form.setContentsMargins(6, 6, 6, 6)
    form.setRowWrapPolicy(QFormLayout.DontWrapRows)
    form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
    return form


class NoteLabel(QLabel):
    """A wrapped line of information under a field: it takes the width it is given (never widens
    the dock) and may break long words after ':', '/' or '_' ('onnxruntime:CPUExecutionProvider')."""

    _BREAK = "\u200b"  # zero-width space: a line break opportunity, invisible

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt API
        self._text = text
        shown = "".join(c + self._BREAK if c in ":/_" else c for c in text)
        super().setText(shown)

    def text(self) -> str:
        return self._text


def note_label(text: str = "") -> QLabel:
    return NoteLabel(text)
