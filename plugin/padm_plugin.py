"""The QGIS plugin class: the Processing provider (GUI and qgis_process) and the dock panel.

Loading stays light and never opens a dialog: the optional-packages folder of the profile is put
on sys.path, and a missing onnxruntime is said in one line (message bar with an Install
button in the desktop, the message log under qgis_process).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from qgis.core import Qgis, QgsApplication

from . import deps
from .provider import PadmProvider

ICON = Path(__file__).resolve().parents[1] / "resources" / "icon.svg"
MENU = "&PADM Pansharpening"


class PadmPlugin:
    def __init__(self, iface) -> None:
        self.iface = iface  # None under qgis_process
        self.provider: Optional[PadmProvider] = None
        self.dock = None
        self.action = None
        deps.activate()

    def initProcessing(self) -> None:  # noqa: N802 - QGIS API
        """Register the provider; the only entry point qgis_process calls (with iface None)."""
        if self.provider is None:
            provider = PadmProvider()
            # False when another copy of the plugin registered 'padm' first (the registry logs it)
            if QgsApplication.processingRegistry().addProvider(provider):
                self.provider = provider

    def initGui(self) -> None:  # noqa: N802 - QGIS API
        self.initProcessing()
        if self.iface is None:
            return
        from qgis.PyQt.QtGui import QIcon
        from qgis.PyQt.QtWidgets import QAction

        self.action = QAction(QIcon(str(ICON)), "PADM Pansharpening", self.iface.mainWindow())
        self.action.setCheckable(True)
        self.action.setToolTip("Show the PADM Pansharpening panel")
        self.action.toggled.connect(self.show_dock)
        self.iface.addRasterToolBarIcon(self.action)
        self.iface.addPluginToRasterMenu(MENU, self.action)
        self._announce_missing()

    def _announce_missing(self) -> None:
        """A missing onnxruntime (HFreqDiff, the main method) in one line with its Install button.
        torch, needed only to fine-tune, is said by the dock when fine-tuning is chosen."""
        needed = deps.missing("hfreqdiff")
        if not needed:
            return
        from qgis.PyQt.QtWidgets import QPushButton

        bar = self.iface.messageBar()
        item = bar.createMessage("PADM Pansharpening", deps.missing_line(needed))
        button = QPushButton(deps.install_label(needed), item)
        modules = [d.module for d in needed]
        button.clicked.connect(lambda: (self.show_dock(True), self.dock.install_dependencies(modules)))
        item.layout().addWidget(button)
        bar.pushWidget(item, Qgis.Warning, 15)

    def show_dock(self, visible: bool = True) -> None:
        if self.dock is None:
            if not visible:
                return
            from qgis.PyQt.QtCore import Qt

            from .dock import PadmDock

            self.dock = PadmDock(self.iface, self.iface.mainWindow())
            self.iface.addDockWidget(Qt.RightDockWidgetArea, self.dock)
            self.dock.visibilityChanged.connect(self._dock_visibility)
            self.dock.setVisible(visible)
            self._open_wide_enough()
        self.dock.setVisible(visible)
        if self.action is not None and self.action.isChecked() != visible:
            self.action.setChecked(visible)

    def _open_wide_enough(self) -> None:
        """QGIS gives a new right-hand dock the width of that area (often under 300 px): widen it to
        where every field shows its text (MAX_OPEN_WIDTH at most)."""
        from qgis.PyQt.QtCore import Qt
        from qgis.PyQt.QtWidgets import QMainWindow

        from .dock import MAX_OPEN_WIDTH

        window = self.iface.mainWindow()
        if isinstance(window, QMainWindow) and self.dock.width() < self.dock.preferred_width():
            window.resizeDocks([self.dock], [min(self.dock.preferred_width(), MAX_OPEN_WIDTH)], Qt.Horizontal)

    def _dock_visibility(self, visible: bool) -> None:
        if self.action is not None and self.action.isChecked() != visible:
            self.action.blockSignals(True)
            self.action.setChecked(visible)
            self.action.blockSignals(False)

    def unload(self) -> None:
        if self.dock is not None:
            self.dock.shutdown()
            self.iface.removeDockWidget(self.dock)
            self.dock.deleteLater()
            self.dock = None
        if self.action is not None:
            self.iface.removeRasterToolBarIcon(self.action)
            self.iface.removePluginRasterMenu(MENU, self.action)
            self.action = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
