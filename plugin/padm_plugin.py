"""The QGIS plugin class: registers the Processing provider in the GUI and under qgis_process."""

from __future__ import annotations

from typing import Optional

from qgis.core import QgsApplication

from .provider import PadmProvider


class PadmPlugin:
    def __init__(self, iface) -> None:
        self.iface = iface  # None under qgis_process
        self.provider: Optional[PadmProvider] = None

    def initProcessing(self) -> None:  # noqa: N802 - QGIS API
        """Register the provider; the only entry point qgis_process calls (with iface None)."""
        if self.provider is None:
            provider = PadmProvider()
            # False when another copy of the plugin registered 'padm' first (the registry logs it)
            if QgsApplication.processingRegistry().addProvider(provider):
                self.provider = provider

    def initGui(self) -> None:  # noqa: N802 - QGIS API
        self.initProcessing()

    def unload(self) -> None:
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
