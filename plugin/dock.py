"""The PADM Pansharpening dock: pick PAN and MS layers, a method and its options, run in the
background, watch progress, get the fused layer on the map.

The dock puts together its parts, each with one job: the form (dock_form: inputs, method, output),
the dependency panel (dependency_panel: what is missing, Install), the run panel (run_panel:
Run/Cancel, progress, log, messages) and the run controller (run_controller: the task and its
result). The form's values become a RunRequest in the main thread (run_request); the task sees only
plain values, and its result comes back in finished(), also in the main thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from qgis.gui import QgsDockWidget, QgsMessageBar
from qgis.PyQt.QtWidgets import QComboBox, QMessageBox, QScrollArea, QVBoxLayout, QWidget

from . import estimate
from .dependency_panel import DependencyPanel
from .dock_form import DockForm
from .installer import PipInstallTask
from .run_controller import RunController
from .run_panel import RunPanel
from .run_request import build_request, estimate_seconds, remember_output
from .tasks import PansharpenTask, RunRequest


MIN_COMBO_CHARS = 8  # a combo box never narrower than this many characters
MIN_WIDTH = 300  # the narrowest dock that shows every field and button whole (tests/qgis/test_dock.py)
MAX_OPEN_WIDTH = 480  # the widest the dock opens at


class PadmDock(QgsDockWidget):
    def __init__(self, iface=None, parent: Optional[QWidget] = None):
        super().__init__("PADM Pansharpening", parent)
        self.setObjectName("PadmPansharpeningDock")
        self.iface = iface
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.own_bar = None
        if iface is None:  # standalone (screenshot, tests without iface): a bar of its own
            self.own_bar = QgsMessageBar(body)
            layout.addWidget(self.own_bar)
        self.form = DockForm()
        self.run_panel = RunPanel(self.message_bar)
        self.deps_panel = DependencyPanel(self.form.method_key, self.run_panel)
        self.controller = RunController(self.form, self.run_panel)
        layout.addWidget(self.form)
        layout.addWidget(self.deps_panel)
        layout.addWidget(self.run_panel, 1)
        for part in (self.form, self.deps_panel, self.run_panel):  # dock.pan_combo, dock.run_button, ...
            for name in part.WIDGETS:
                setattr(self, name, getattr(part, name))
        for box in body.findChildren(QComboBox):  # preferred: the whole text; narrower when the dock is
            box.setSizeAdjustPolicy(QComboBox.AdjustToContents)
            box.setMinimumWidth(box.fontMetrics().averageCharWidth() * MIN_COMBO_CHARS + box.iconSize().width())
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(body)
        self.setWidget(self.scroll)
        self.form.method_combo.currentIndexChanged.connect(self.refresh_dependencies)
        self.run_panel.run_button.clicked.connect(self.run)
        self.run_panel.cancel_button.clicked.connect(self.cancel)
        self.refresh_dependencies()

    def preferred_width(self) -> int:
        """The width at which every field shows its whole text (the dock opens at it, up to
        MAX_OPEN_WIDTH); below it the form puts fields under their labels, down to MIN_WIDTH."""
        margins = self.scroll.widget().layout().contentsMargins()
        content = max(self.form.wide_width(), self.deps_panel.sizeHint().width(), self.run_panel.sizeHint().width())
        bar = self.scroll.verticalScrollBar().sizeHint().width()
        return content + margins.left() + margins.right() + bar + 2 * self.scroll.frameWidth() + 2

    # -- state of the parts ---------------------------------------------------------------------
    @property
    def task(self) -> Optional[PansharpenTask]:
        return self.controller.task

    @property
    def install_task(self) -> Optional[PipInstallTask]:
        return self.deps_panel.task

    @property
    def added_layers(self) -> list:
        return self.controller.added_layers

    @property
    def detected_sensor(self) -> str:
        return self.form.detected_sensor

    def method_key(self) -> str:
        return self.form.method_key()

    def set_method(self, key: str) -> None:
        self.form.set_method(key)

    def sensor_choice(self) -> Optional[str]:
        return self.form.sensor_choice()

    def refresh_models(self) -> None:
        self.form.model_picker.refresh()

    def refresh_dependencies(self) -> None:
        self.deps_panel.refresh()

    def install_dependencies(self, modules: Optional[list[str]] = None) -> Optional[PipInstallTask]:
        return self.deps_panel.install(modules)

    # -- messages -------------------------------------------------------------------------------
    def message_bar(self) -> QgsMessageBar:
        return self.iface.messageBar() if self.iface is not None else self.own_bar

    def say(self, line: str) -> None:
        self.run_panel.say(line)

    def report_error(self, line: str) -> None:
        self.run_panel.report_error(line)

    def confirm_long_run(self, seconds: float) -> bool:
        """Asked before runs estimated above estimate.LONG_RUN_S."""
        answer = QMessageBox.question(
            self, "PADM Pansharpening",
            f"This run is estimated to take about {estimate.human(seconds)} on this machine. Start it?\n\n"
            "It runs in the background; QGIS stays usable and Cancel stops it without leaving files.",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
        return answer == QMessageBox.Yes

    def confirm_overwrite(self, path: str) -> bool:
        """Asked before a run would replace an existing output file (the engine refuses otherwise)."""
        answer = QMessageBox.question(self, "PADM Pansharpening", f"{path} already exists. Replace it?",
                                      QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes

    # -- running --------------------------------------------------------------------------------
    def build_request(self) -> RunRequest:
        """A RunRequest from the widgets (main thread); PansharpenError with one line when incomplete."""
        return build_request(self.form, self.iface.mapCanvas() if self.iface is not None else None)

    def run(self) -> Optional[PansharpenTask]:
        """Start a run from the widgets; returns the task (None when refused or asked not to)."""
        from ..engine.errors import PansharpenError

        if self.task is not None:
            self.report_error("A run is in progress: wait for it or cancel it.")
            return None
        self.run_panel.progress.setValue(0)  # nothing left over from the previous run
        try:
            request = self.build_request()
        except PansharpenError as exc:
            self.report_error(str(exc))
            return None
        if Path(request.out).exists():
            if not self.confirm_overwrite(request.out):
                self.say(f"not started: {request.out} exists (choose another output file)")
                return None
            request.overwrite = True
        seconds = estimate_seconds(request, self.form.pan_combo.currentLayer(), self.form.ms_combo.currentLayer())
        if seconds > estimate.LONG_RUN_S and not self.confirm_long_run(seconds):
            self.say(f"not started (estimated {estimate.human(seconds)})")
            return None
        self.form.remember_choices()
        if self.form.output.filePath().strip():
            remember_output(request.out)
        return self.controller.start(request, seconds)

    def cancel(self) -> None:
        self.controller.cancel()

    def shutdown(self) -> None:
        """Plugin unload: cancel what runs; its end no longer calls into this (deleted) dock."""
        self.controller.shutdown()
        self.deps_panel.shutdown()
