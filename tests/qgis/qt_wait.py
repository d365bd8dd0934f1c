"""Waiting for a background QgsTask in a headless test: Qt events keep being processed meanwhile."""

import time

from qgis.PyQt.QtCore import QCoreApplication


def wait_until(condition, timeout: float = 600.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for the background task")
        QCoreApplication.processEvents()
        time.sleep(0.02)
