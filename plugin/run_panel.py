"""The dock's run panel: Run and Cancel, the progress bar with the stage and time left, the log,
and the messages of the dock (one line in the message bar, the QGIS message log and the log)."""

from __future__ import annotations

import time
from typing import Callable, Optional

from qgis.core import Qgis
from qgis.gui import QgsMessageBar
from qgis.PyQt.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ..engine.progress import Eta
from . import estimate
from .tasks import log_message

TITLE = "PADM Pansharpening"


class RunPanel(QWidget):
    WIDGETS = ("run_button", "cancel_button", "progress", "stage_label", "log")

    def __init__(self, message_bar: Callable[[], QgsMessageBar], parent: Optional[QWidget] = None):
        super().__init__(parent)
        self._message_bar = message_bar
        self.run_button = QPushButton("Run")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.stage_label = QLabel("Ready.")
        self.stage_label.setWordWrap(True)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setMinimumHeight(90)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.stage_label)
        layout.addWidget(self.log, 1)
        self._started = time.monotonic()
        self._estimate_s = 0.0
        self._stage_text = ""
        self._eta = Eta()

    # -- messages -------------------------------------------------------------------------------
    def message_bar(self) -> QgsMessageBar:
        return self._message_bar()

    def say(self, line: str) -> None:
        self.log.appendPlainText(line)

    def notify(self, text: str, level=Qgis.Info) -> None:
        """A passing message in the message bar."""
        self.message_bar().pushMessage(TITLE, text, level=level, duration=5)

    def report_error(self, line: str) -> None:
        """One line in the message bar, the message log and the dock's log."""
        self.message_bar().pushMessage(TITLE, line, level=Qgis.Critical, duration=0)
        log_message(line, Qgis.Critical)
        self.say(f"error: {line}")
        self.stage_label.setText(f"Failed: {line}")

    # -- a run's life ---------------------------------------------------------------------------
    def started(self, estimate_s: float) -> None:
        self._started, self._estimate_s, self._stage_text = time.monotonic(), estimate_s, "starting"
        self._eta = Eta()
        self.progress.setValue(0)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.stage_label.setText(f"Starting… (estimated {estimate.human(estimate_s)})")

    def show_stage(self, text: str, percent: float) -> None:
        self._stage_text = text
        self.show_progress(percent)

    def show_progress(self, percent: float) -> None:
        """The bar, the stage and the time left: from the measured rate of progress (engine.progress.Eta),
        the estimate counted down until the progress has moved."""
        self.progress.setValue(int(percent))
        left = self._eta.update(percent / 100.0)
        if left is None:
            left = max(self._estimate_s - (time.monotonic() - self._started), 0.0)
        self.stage_label.setText(f"{self._stage_text} — {percent:.0f} %, about {estimate.human(left)} left")

    def ended(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def cancelled(self) -> None:
        self.progress.setValue(0)
        self.stage_label.setText("Cancelled: no output was written.")
        self.say("cancelled: no output was written")
        self.notify("Cancelled: no output was written.")

    def failed(self, line: str) -> None:
        self.progress.setValue(0)
        self.report_error(line)

    def done(self, seconds: float, name: str, path: str) -> None:
        self.progress.setValue(100)
        self.stage_label.setText(f"Done in {seconds:.1f} s: {name}")
        self.notify(f"Wrote {path}", Qgis.Success)
