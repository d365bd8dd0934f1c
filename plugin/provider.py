"""The "PADM Pansharpening" Processing provider (id ``padm``)."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms.evaluate import EvaluatePansharpening
from .algorithms.finetune import PadmFinetune
from .algorithms.pansharpen_classical import PansharpenClassical
from .algorithms.pansharpen_hfreqdiff import PansharpenHFreqDiff

ICON_PATH = Path(__file__).resolve().parents[1] / "resources" / "icon.svg"


class PadmProvider(QgsProcessingProvider):
    def id(self) -> str:
        return "padm"

    def name(self) -> str:
        return "PADM Pansharpening"

    def longName(self) -> str:  # noqa: N802 - QGIS API
        return "PADM Pansharpening (classical methods and diffusion pansharpening)"

    def icon(self) -> QIcon:
        return QIcon(str(ICON_PATH))

    def svgIconPath(self) -> str:  # noqa: N802 - QGIS API
        return str(ICON_PATH)

    def loadAlgorithms(self) -> None:  # noqa: N802 - QGIS API
        for alg in (PansharpenHFreqDiff(), PadmFinetune(), PansharpenClassical(), EvaluatePansharpening()):
            self.addAlgorithm(alg)

    # The engine writes GeoTIFF only: Processing then names temporary outputs *.tif and refuses
    # other extensions for raster destinations of this provider.
    def supportedOutputRasterLayerExtensions(self) -> list[str]:  # noqa: N802 - QGIS API
        return ["tif"]

    def defaultRasterFileExtension(self) -> str:  # noqa: N802 - QGIS API
        return "tif"
