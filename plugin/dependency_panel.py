"""The dock's dependency panel: which optional packages (onnxruntime, torch) are missing, and an
Install button that pip-installs them into the QGIS profile in the background."""

from __future__ import annotations

from typing import Callable, Optional

from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from ..engine.definitions import HFREQDIFF
from . import deps
from .dock_form import FINETUNE
from .run_panel import RunPanel
from .tasks import PipInstallTask


def needed_for(method_key: str) -> list[deps.Dependency]:
    """What the dock's method (hfreqdiff, finetune or a classical one) lacks to run."""
    if method_key == HFREQDIFF:
        return deps.missing("hfreqdiff")
    if method_key == FINETUNE:
        return deps.missing("hfreqdiff") + deps.missing("finetune")
    return []


class DependencyPanel(QWidget):
    WIDGETS = ("deps_label", "install_button")

    def __init__(self, method_key: Callable[[], str], messages: RunPanel, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self._method_key, self._messages = method_key, messages
        self.task: Optional[PipInstallTask] = None
        self.deps_label = QLabel()
        self.deps_label.setWordWrap(True)
        self.install_button = QPushButton("Install dependencies")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.deps_label)
        layout.addWidget(self.install_button)
        self.install_button.clicked.connect(lambda: self.install())

    def refresh(self) -> None:
        """Show what is missing (for the chosen method first), or nothing when all is there."""
        needed, everything = needed_for(self._method_key()), deps.all_missing()
        self.setVisible(bool(everything))
        if not everything:
            self.deps_label.setText("")
            return
        names = ", ".join(f"{d.module} ({d.needed_for})" for d in everything)
        self.deps_label.setText(("Needed for this method and missing: " if needed else "Optional, missing: ") + names)
        self.install_button.setText(f"Install {', '.join(d.module for d in (needed or everything))}")

    def install(self, modules: Optional[list[str]] = None) -> Optional[PipInstallTask]:
        """pip install ``modules`` (default: what the method needs, else all that is missing)."""
        if self.task is not None:
            return None
        modules = modules or [d.module for d in (needed_for(self._method_key()) or deps.all_missing())]
        if not modules:
            return None
        self._messages.say(f"installing {', '.join(modules)} into {deps.packages_folder()} "
                           "(log: pip-install.log beside it)")
        self.install_button.setEnabled(False)
        self.task = PipInstallTask(modules, self._installed)
        self.task.logged.connect(self._messages.say)
        QgsApplication.taskManager().addTask(self.task)
        return self.task

    def _installed(self, task: PipInstallTask) -> None:
        self.task = None
        self.install_button.setEnabled(True)
        if task.error:
            self._messages.report_error(task.error)
        else:
            self._messages.notify(f"Installed {', '.join(task.modules)}.", Qgis.Success)
            self._messages.say(f"installed {', '.join(task.modules)}")
        self.refresh()

    def shutdown(self) -> None:
        if self.task is not None:
            self.task.on_finished = None
            self.task.cancel()
            self.task = None
