"""Processing algorithm "Pansharpen (classical)": PAN + MS rasters -> pansharpened GeoTIFF.

Layers are resolved to file paths in ``prepareAlgorithm`` (main thread); the engine, which may run
in a worker thread, sees only paths and plain callables.
"""

from __future__ import annotations

from typing import Any, Optional

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
)

from ...engine import DEFAULT_TILE
from ...engine.definitions import CLASSICAL_METHODS, DEFAULT_CLASSICAL
from ..wording import is_warning, qgis_wording
from .common import (
    PadmAlgorithm,
    add_pan_ms,
    add_param,
    add_sensor,
    progress_to,
    sensor_value,
    style_on_load,
)

TILE_HELP = ("Side of the square tiles, in PAN pixels, processed one at a time; smaller tiles use less memory. "
             "The result does not depend on it.")
FLOAT_HELP = ("Write Float32 values instead of the MS data type (no rounding; integer outputs are clipped to the "
              "MS's valid range per band, with the count of clipped pixels in the log and the metadata).")
CLIP_HELP = ("With Float32 output: clip the values to the MS's valid range per band too. Unchecked, values outside "
             "it (negatives included) are kept; the log and the metadata say how many.")
# The output is a Cloud-Optimised GeoTIFF (overviews, tiles) and replaces an existing file: in Processing the
# user picked the file in a save dialog that already asked (QGIS's convention for outputs).
OVERWRITE = True


def add_tile_float(alg: QgsProcessingAlgorithm) -> None:
    add_param(alg, QgsProcessingParameterNumber("TILE", "Tile size (PAN pixels)", type=QgsProcessingParameterNumber.Integer,
                                                defaultValue=DEFAULT_TILE, minValue=64, maxValue=16384),
              TILE_HELP, advanced=True)
    add_param(alg, QgsProcessingParameterBoolean("FLOAT", "Float32 output", defaultValue=False), FLOAT_HELP,
              advanced=True)
    add_param(alg, QgsProcessingParameterBoolean("CLIP", "Clip Float32 output to the MS range", defaultValue=False),
              CLIP_HELP, advanced=True)


class PansharpenClassical(PadmAlgorithm):
    PAN = "PAN"
    MS = "MS"
    METHOD = "METHOD"
    SENSOR = "SENSOR"
    TILE = "TILE"
    FLOAT = "FLOAT"
    OUTPUT = "OUTPUT"

    def name(self) -> str:
        return "pansharpen_classical"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return "Pansharpen (classical)"

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

    def initAlgorithm(self, config: Optional[dict] = None) -> None:  # noqa: N802 - QGIS API
        add_pan_ms(self)
        # engine method names are the enum's values (static strings: METHOD=gsa, as in the CLI)
        add_param(self, QgsProcessingParameterEnum(self.METHOD, "Method", options=list(CLASSICAL_METHODS),
                                                   defaultValue=DEFAULT_CLASSICAL, usesStaticStrings=True),
                  "Fusion method:\n" + "\n".join(f"- {label}" for label in CLASSICAL_METHODS.values()))
        add_sensor(self)
        add_tile_float(self)
        add_param(self, QgsProcessingParameterRasterDestination(self.OUTPUT, "Pansharpened"),
                  "Output GeoTIFF on the PAN grid with the MS band count.")

    def prepareAlgorithm(self, parameters: dict, context: QgsProcessingContext,  # noqa: N802 - QGIS API
                         feedback: QgsProcessingFeedback) -> bool:
        self.read_pan_ms(parameters, context)
        return True

    def processAlgorithm(self, parameters: dict, context: QgsProcessingContext,  # noqa: N802 - QGIS API
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        from ...engine import pipeline  # imported on use: keeps plugin loading light
        from ...engine.errors import Cancelled, PansharpenError

        sensor = sensor_value(self, parameters, context)
        out_path = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        try:
            result = pipeline.fuse_files(
                self._pan_path, self._ms_path, out_path,
                method=self.enum_string(parameters, self.METHOD, context),
                sensor=sensor,
                tile=self.parameterAsInt(parameters, self.TILE, context),
                float_output=self.parameterAsBoolean(parameters, self.FLOAT, context),
                progress=progress_to(feedback),
                is_cancelled=feedback.isCanceled,
                clip=self.parameterAsBoolean(parameters, "CLIP", context),
                overwrite=OVERWRITE,
            )
        except Cancelled:
            feedback.pushInfo("Cancelled: no output was written.")
            return {}
        except PansharpenError as exc:
            raise QgsProcessingException(str(exc)) from exc
        for note in result.notes:
            (feedback.pushWarning if is_warning(note) else feedback.pushInfo)(qgis_wording(note))
        style_on_load(context, out_path, sensor)
        return {self.OUTPUT: out_path}
