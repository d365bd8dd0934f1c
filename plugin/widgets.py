"""Small Qt helpers the dock's parts share, and where the dock keeps its settings."""

from __future__ import annotations

from typing import Iterable

from qgis.PyQt.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

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


def row(first: QWidget, label: str, second: QWidget) -> QHBoxLayout:
    """Two fields on one form row: ``first``, then ``label`` and ``second``."""
    layout = QHBoxLayout()
    layout.addWidget(first, 1)
    layout.addWidget(QLabel(label))
    layout.addWidget(second, 1)
    return layout
