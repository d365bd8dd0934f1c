"""Processing algorithm "Pansharpen (classical)": PAN + MS rasters -> pansharpened GeoTIFF.

Layers are resolved to file paths in ``prepareAlgorithm`` (main thread); the engine, which may run
in a worker thread, sees only paths and plain callables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProviderRegistry,
    QgsRasterLayer,
)

from ...engine.sensors import SENSORS

# Engine method names, also the values the enums take (static strings: METHOD=gsa, SENSOR=WV3, as in the CLI).
METHODS: dict[str, str] = {
    "exp": "EXP: MS interpolated with the 23-tap filter, no PAN detail (a baseline)",
    "brovey": "Brovey: band ratio with a regression-weighted intensity",
    "gsa": "GSA: adaptive Gram-Schmidt component substitution",
    "mtf-glp-hpm": "MTF-GLP-HPM: MTF-matched Laplacian pyramid with high-pass modulation",
    "bdsd-pc": "BDSD-PC: band-dependent spatial detail, physically constrained",
}
DEFAULT_METHOD = "gsa"  # as the CLI
SENSOR_CHOICES: tuple[str, ...] = ("auto",) + tuple(s.name for s in SENSORS.values())
DEFAULT_TILE = 512


class PansharpenClassical(QgsProcessingAlgorithm):
    PAN = "PAN"
    MS = "MS"
    METHOD = "METHOD"
    SENSOR = "SENSOR"
    TILE = "TILE"
    FLOAT = "FLOAT"
    OUTPUT = "OUTPUT"

    def __init__(self) -> None:
        super().__init__()
        self._pan_path = ""
        self._ms_path = ""

    def name(self) -> str:
        return "pansharpen_classical"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return "Pansharpen (classical)"

    def group(self) -> str:
        return "Pansharpening"

    def groupId(self) -> str:  # noqa: N802 - QGIS API
        return "pansharpening"

    def tags(self) -> list[str]:
        return ["pansharpening", "fusion", "panchromatic", "multispectral", "brovey", "gsa", "mtf-glp", "bdsd"]

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return (
            "Fuses a high-resolution panchromatic band (PAN) with lower-resolution multispectral "
            "bands (MS) into a multispectral GeoTIFF on the PAN grid, with a classical method "
            "from the reference pansharpening toolbox.\n\n"
            "Both rasters must share a CRS and overlap; the MS pixel size must be an integer "
            "multiple of the PAN pixel size (the ratio, e.g. 4 for WorldView, 2 for Landsat). The "
            "MS grid is aligned to the PAN grid through the geotransforms, and the output covers "
            "the area where both inputs have data.\n\n"
            "The scene is processed in tiles, so rasters of any size fit in memory; the result "
            "does not depend on the tile size. The output keeps the MS data type unless "
            "'Float32 output' is checked."
        )

    def helpUrl(self) -> str:  # noqa: N802 - QGIS API
        return "https://github.com/padm-pansharpening/padm_pansharpening"

    def createInstance(self) -> "PansharpenClassical":  # noqa: N802 - QGIS API
        return PansharpenClassical()

    def initAlgorithm(self, config: Optional[dict] = None) -> None:  # noqa: N802 - QGIS API
        def add(param: QgsProcessingParameterDefinition, help_text: str, advanced: bool = False) -> None:
            param.setHelp(help_text)
            if advanced:
                param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(param)

        add(QgsProcessingParameterRasterLayer(self.PAN, "Panchromatic (PAN) raster"),
            "Single-band high-resolution panchromatic raster, stored in a file GDAL can read "
            "(GeoTIFF, JPEG 2000, ...).")
        add(QgsProcessingParameterRasterLayer(self.MS, "Multispectral (MS) raster"),
            "Multispectral raster (3 to 8 bands typically) in the same CRS as the PAN, with a "
            "pixel size an integer multiple of the PAN pixel size.")
        add(QgsProcessingParameterEnum(self.METHOD, "Method", options=list(METHODS),
                                       defaultValue=DEFAULT_METHOD, usesStaticStrings=True),
            "Fusion method:\n" + "\n".join(f"- {label}" for label in METHODS.values()))
        add(QgsProcessingParameterEnum(self.SENSOR, "Sensor", options=list(SENSOR_CHOICES),
                                       defaultValue="auto", usesStaticStrings=True),
            "Sensor whose MTF (Nyquist gains) the methods assume. 'auto' reads it from the file "
            "metadata where possible and otherwise uses generic gains (0.3 for MS, 0.15 for PAN).")
        add(QgsProcessingParameterNumber(self.TILE, "Tile size (PAN pixels)",
                                         type=QgsProcessingParameterNumber.Integer,
                                         defaultValue=DEFAULT_TILE, minValue=64, maxValue=16384),
            "Side of the square tiles, in PAN pixels, processed one at a time; smaller tiles use "
            "less memory. The result does not depend on it.", advanced=True)
        add(QgsProcessingParameterBoolean(self.FLOAT, "Float32 output", defaultValue=False),
            "Write Float32 values instead of the MS data type (no clipping or rounding to the "
            "input's integer range).", advanced=True)
        add(QgsProcessingParameterRasterDestination(self.OUTPUT, "Pansharpened"),
            "Output GeoTIFF on the PAN grid with the MS band count.")

    def prepareAlgorithm(self, parameters: dict, context: QgsProcessingContext,  # noqa: N802 - QGIS API
                         feedback: QgsProcessingFeedback) -> bool:
        self._pan_path = _raster_file(self.parameterAsRasterLayer(parameters, self.PAN, context), "PAN")
        self._ms_path = _raster_file(self.parameterAsRasterLayer(parameters, self.MS, context), "MS")
        return True

    def processAlgorithm(self, parameters: dict, context: QgsProcessingContext,  # noqa: N802 - QGIS API
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        from ...engine import pipeline  # imported on use: keeps plugin loading light
        from ...engine.errors import Cancelled, PansharpenError

        method = self.parameterAsEnumString(parameters, self.METHOD, context)
        sensor = self.parameterAsEnumString(parameters, self.SENSOR, context)
        out_path = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        last_text = [""]

        def progress(fraction: float, text: str) -> None:
            feedback.setProgress(100.0 * fraction)
            if text and text != last_text[0]:
                last_text[0] = text
                feedback.setProgressText(text)

        try:
            result = pipeline.fuse_files(
                self._pan_path, self._ms_path, out_path,
                method=method,
                sensor=None if sensor == "auto" else sensor,
                tile=self.parameterAsInt(parameters, self.TILE, context),
                float_output=self.parameterAsBoolean(parameters, self.FLOAT, context),
                progress=progress,
                is_cancelled=feedback.isCanceled,
            )
        except Cancelled:
            feedback.pushInfo("Cancelled: no output was written.")
            return {}
        except PansharpenError as exc:
            raise QgsProcessingException(str(exc)) from exc
        for note in result.notes:
            feedback.pushInfo(note)
        return {self.OUTPUT: out_path}


def _raster_file(layer: Optional[QgsRasterLayer], role: str) -> str:
    """The file behind a raster layer: the engine reads files, never layers or data providers."""
    if layer is None:
        raise QgsProcessingException(f"No {role} raster given: choose a raster layer or file.")
    parts = QgsProviderRegistry.instance().decodeUri(layer.providerType(), layer.source())
    path = parts.get("path") or ""
    if layer.providerType() != "gdal" or not Path(path).is_file() or parts.get("layerName"):
        raise QgsProcessingException(
            f"{role} layer '{layer.name()}' is not a raster file ({layer.source()}): "
            "save it as a GeoTIFF and use that file.")
    return path
