"""What the PADM Processing algorithms share: input files, sensor choices, progress and errors,
the styling of loaded outputs."""

from __future__ import annotations

from typing import Callable, Optional

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterRasterLayer,
    QgsRasterLayer,
)

from ...engine.definitions import sensor_names
from .. import deps

SENSOR_CHOICES: tuple[str, ...] = ("auto", *sensor_names())
SENSOR_HELP = ("Sensor whose MTF (Nyquist gains) and band layout the method assumes. 'auto' reads it from the "
               "file metadata where possible and otherwise uses generic gains (0.3 for MS, 0.15 for PAN).")
PAN_HELP = "Single-band high-resolution panchromatic raster, stored in a file GDAL can read (GeoTIFF, JPEG 2000, ...)."
MS_HELP = ("Multispectral raster in the same CRS as the PAN, with a pixel size an integer multiple of the PAN "
           "pixel size.")
HELP_URL = "https://github.com/padm-pansharpening/padm_pansharpening"


class PadmAlgorithm(QgsProcessingAlgorithm):
    """Base of the PADM algorithms: toolbox group, help link, new instances, and the PAN/MS file
    paths (read in prepareAlgorithm, on the main thread, and kept for processing and styling)."""

    def __init__(self) -> None:
        super().__init__()
        self._pan_path = ""
        self._ms_path = ""

    def group(self) -> str:
        return "Pansharpening"

    def groupId(self) -> str:  # noqa: N802 - QGIS API
        return "pansharpening"

    def helpUrl(self) -> str:  # noqa: N802 - QGIS API
        return HELP_URL

    def createInstance(self) -> "PadmAlgorithm":  # noqa: N802 - QGIS API
        return type(self)()

    def checkParameterValues(self, parameters: dict, context: QgsProcessingContext):  # noqa: N802 - QGIS API
        """As QGIS checks them, choices given by number (SENSOR=6, as the help lists them) included."""
        return super().checkParameterValues(self.enum_names(parameters), context)

    def enum_names(self, parameters: dict) -> dict:
        """The parameters with each choice given by number replaced by its name (the enums hold names)."""
        named = dict(parameters)
        for param in self.parameterDefinitions():
            if isinstance(param, QgsProcessingParameterEnum) and param.usesStaticStrings():
                index = _choice_index(named.get(param.name()), param.options())
                if index is not None:
                    named[param.name()] = param.options()[index]
        return named

    def enum_string(self, parameters: dict, name: str, context: QgsProcessingContext) -> str:
        """The chosen option's name, whether the choice was given by name or by number."""
        return self.parameterAsEnumString(self.enum_names(parameters), name, context)

    def read_pan_ms(self, parameters: dict, context: QgsProcessingContext) -> None:
        self._pan_path = raster_file(self.parameterAsRasterLayer(parameters, "PAN", context), "PAN")
        self._ms_path = raster_file(self.parameterAsRasterLayer(parameters, "MS", context), "MS")


def _choice_index(value, options: list[str]) -> Optional[int]:
    """The option number a value gives (6, '6'), None for a name or anything else."""
    if isinstance(value, bool) or value in options:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return value if isinstance(value, int) and 0 <= value < len(options) else None


def add_param(alg: QgsProcessingAlgorithm, param: QgsProcessingParameterDefinition, help_text: str,
              advanced: bool = False) -> None:
    param.setHelp(help_text)
    if advanced:
        param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    alg.addParameter(param)


def add_pan_ms(alg: QgsProcessingAlgorithm) -> None:
    add_param(alg, QgsProcessingParameterRasterLayer("PAN", "Panchromatic (PAN) raster"), PAN_HELP)
    add_param(alg, QgsProcessingParameterRasterLayer("MS", "Multispectral (MS) raster"), MS_HELP)


def add_sensor(alg: QgsProcessingAlgorithm) -> None:
    add_param(alg, QgsProcessingParameterEnum("SENSOR", "Sensor", options=list(SENSOR_CHOICES), defaultValue="auto",
                                              usesStaticStrings=True), SENSOR_HELP)


def sensor_value(alg: "PadmAlgorithm", parameters: dict, context: QgsProcessingContext) -> Optional[str]:
    value = alg.enum_string(parameters, "SENSOR", context)
    return None if value in ("", "auto") else value


def raster_file(layer: Optional[QgsRasterLayer], role: str) -> str:
    """The file behind a raster layer (the engine reads files, never layers or data providers)."""
    from ...engine.errors import PansharpenError
    from ..inputs import layer_file

    try:
        return layer_file(layer, role)
    except PansharpenError as exc:
        raise QgsProcessingException(str(exc)) from None


def require(feature: str) -> None:
    """A missing optional package as one line (QgsProcessingException)."""
    deps.activate()
    missing = deps.missing(feature)
    if missing:
        raise QgsProcessingException(deps.missing_line(missing))


def progress_to(feedback: QgsProcessingFeedback, lo: float = 0.0, hi: float = 1.0) -> Callable[[float, str], None]:
    """The engine's progress(fraction, text) reported to a Processing feedback (text when it changes)."""
    last = [""]

    def progress(fraction: float, text: str) -> None:
        feedback.setProgress(100.0 * (lo + (hi - lo) * min(max(fraction, 0.0), 1.0)))
        if text and text != last[0]:
            last[0] = text
            feedback.setProgressText(text)

    return progress


class FusedLayerStyler(QgsProcessingLayerPostProcessorInterface):
    """Gives a fused output loaded into the project the dock's renderer (RGB or NIR false colour)."""

    _alive: list["FusedLayerStyler"] = []  # Processing holds a C++ pointer: keep the Python side alive

    def __init__(self, sensor: Optional[str], uncertainty: bool = False) -> None:
        super().__init__()
        self.sensor, self.uncertainty = sensor, uncertainty
        FusedLayerStyler._alive = (FusedLayerStyler._alive + [self])[-32:]

    def postProcessLayer(self, layer, context, feedback) -> None:  # noqa: N802 - QGIS API
        from .. import styling

        if not isinstance(layer, QgsRasterLayer) or not layer.isValid():
            return
        if self.uncertainty:
            styling.style_uncertainty(layer, styling.display_bands(styling.get_sensor(self.sensor or "none"),
                                                                   layer.bandCount())[0])
        else:
            styling.style_fused(layer, self.sensor)


def style_on_load(context: QgsProcessingContext, path: str, sensor: Optional[str], uncertainty: bool = False) -> None:
    """Attach the styler to an output Processing will load into the project."""
    if context.willLoadLayerOnCompletion(path):
        context.layerToLoadOnCompletionDetails(path).setPostProcessor(FusedLayerStyler(sensor, uncertainty))
