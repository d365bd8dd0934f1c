"""The dock's dependency panel: which optional package the chosen method lacks (onnxruntime for
HFreqDiff, torch for PADM fine-tuning), and an Install button that pip-installs it into the QGIS
profile in the background. Nothing is said about a package the chosen method does not need."""

from __future__ import annotations

from typing import Callable, Optional

from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from ..engine.definitions import HFREQDIFF
from . import deps
from .dock_form import FINETUNE
from .installer import PipInstallTask
from .run_panel import RunPanel

MISSING_PREFIX = "Missing in QGIS's Python"  # how deps.missing_line starts: such messages go once installed


def needed_for(method_key: str) -> list[deps.Dependency]:
    """What the dock's method (hfreqdiff, finetune or a classical one) lacks to run."""
    if method_key == HFREQDIFF:
        return deps.missing("hfreqdiff")
    if method_key == FINETUNE:
        return deps.missing("hfreqdiff") + deps.missing("finetune")
    return []


def clear_missing_messages(bar) -> None:
    """Remove the message bar's 'Missing in QGIS's Python…' items (start-up warning, refused runs)."""
    for item in list(bar.items()) if bar is not None and hasattr(bar, "items") else []:
        if MISSING_PREFIX in (item.text() or ""):
            bar.popWidget(item)


class DependencyPanel(QWidget):
    WIDGETS = ("deps_label", "install_button")

    def __init__(self, method_key: Callable[[], str], messages: RunPanel, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self._method_key, self._messages = method_key, messages
        self.task: Optional[PipInstallTask] = None
        self.deps_label = QLabel()
        self.deps_label.setWordWrap(True)
        self.install_button = QPushButton("Install")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.deps_label)
        layout.addWidget(self.install_button)
        self.install_button.clicked.connect(lambda: self.install())

    def refresh(self) -> None:
        """Show what the chosen method lacks, or nothing (hidden) when it lacks nothing."""
        needed = needed_for(self._method_key())
        self.setVisible(bool(needed) or self.task is not None)
        if self.task is not None:
            return
        self.deps_label.setText("Needed for this method, missing in QGIS's Python: " +
                                ", ".join(d.module for d in needed) if needed else "")
        self.install_button.setText(deps.install_label(needed) if needed else "Install")

    def install(self, modules: Optional[list[str]] = None) -> Optional[PipInstallTask]:
        """pip install ``modules`` (default: what the chosen method lacks)."""
        if self.task is not None:
            return None
        modules = modules or [d.module for d in needed_for(self._method_key())]
        if not modules:
            return None
        self.setVisible(True)
        self._messages.say(f"installing {', '.join(modules)} into {deps.packages_folder()} "
                           "(pip's output: pip-install.log beside it)")
        self.install_button.setEnabled(False)
        self.task = PipInstallTask(modules, self._installed)
        self.task.logged.connect(self._messages.say)
        self.task.stage.connect(self._stage)
        self.task.progressChanged.connect(lambda p: self._messages.progress.setValue(int(p)))
        self._messages.progress.setValue(0)
        QgsApplication.taskManager().addTask(self.task)
        return self.task

    def _stage(self, text: str) -> None:
        self.deps_label.setText(f"Installing: {text}…")
        self._messages.stage_label.setText(f"Installing: {text}…")

    def _installed(self, task: PipInstallTask) -> None:
        self.task = None
        self.install_button.setEnabled(True)
        self._messages.progress.setValue(0)
        if task.error:
            self._messages.report_error(task.error)
        else:
            what = ", ".join(task.installed) or ", ".join(task.modules)
            kept = f"; kept QGIS's {', '.join(task.skipped)}" if task.skipped else ""
            self._messages.say(f"installed {what} into {task.target}{kept}")
            clear_missing_messages(self._messages.message_bar())
            self._messages.stage_label.setText("Ready.")
            self._messages.notify(f"Installed {', '.join(task.modules)}.", Qgis.Success)
        self.refresh()

    def shutdown(self) -> None:
        if self.task is not None:
            self.task.on_finished = None
            self.task.cancel()
            self.task = None
