"""Processing algorithm "Pansharpen (HFreqDiff)": diffusion pansharpening with the bundled or a
fine-tuned model; optionally several samples and their per-pixel spread (uncertainty layer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputRasterLayer,
    QgsProcessingOutputString,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingUtils,
)

from ...engine.options import DEFAULT_QUALITY, DEVICE_NAMES, QUALITIES, HFreqDiffOptions
from ..wording import is_warning, qgis_wording
from .common import (
    PadmAlgorithm,
    add_pan_ms,
    add_param,
    add_sensor,
    progress_to,
    require,
    sensor_value,
    style_on_load,
)
from .pansharpen_classical import OVERWRITE, add_tile_float


class PansharpenHFreqDiff(PadmAlgorithm):
    def name(self) -> str:
        return "pansharpen"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return "Pansharpen (HFreqDiff)"

    def tags(self) -> list[str]:
        return ["pansharpening", "fusion", "diffusion", "deep learning", "hfreqdiff", "padm", "uncertainty"]

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return (
            "Pansharpens with HFreqDiff, a band-aware diffusion model of the high-frequency detail that the "
            "PAN adds to the upsampled MS (3 to 8 bands, any sensor). It runs with ONNX Runtime (GPU when "
            "available) on the bundled model, or on a model fine-tuned to the scene by 'PADM fine-tune'.\n\n"
            "The same seed gives the same result, whatever the tile size. With more than one sample the "
            "samples are averaged and their per-pixel standard deviation is written beside the output as "
            "<output>_uncertainty.tif (float32, in the input's digital numbers).\n\n"
            "Inputs as for the classical methods: same CRS, overlapping, MS pixel size an integer multiple "
            "of the PAN's. Needs the onnxruntime Python package (the plugin panel installs it)."
        )

    def initAlgorithm(self, config: Optional[dict] = None) -> None:  # noqa: N802 - QGIS API
        add_pan_ms(self)
        add_sensor(self)
        add_param(self, QgsProcessingParameterFile("MODEL", "Model (empty: bundled)", optional=True,
                                                   fileFilter="HFreqDiff models (*.onnx *.pt);;All files (*)"),
                  "An HFreqDiff model file (.onnx for ONNX Runtime, .pt for torch) or the folder of a fine-tuned "
                  "model (the output of 'PADM fine-tune'). Empty: the model bundled with the plugin.")
        add_param(self, QgsProcessingParameterEnum("QUALITY", "Quality", options=list(QUALITIES),
                                                   defaultValue=DEFAULT_QUALITY, usesStaticStrings=True),
                  "; ".join(f"{k}: {v}" for k, v in QUALITIES.items()) + ". The output's metadata records which.")
        add_param(self, QgsProcessingParameterNumber("STEPS", "DDIM steps (0: model default)",
                                                     type=QgsProcessingParameterNumber.Integer, defaultValue=0,
                                                     minValue=0, maxValue=1000),
                  "Number of deterministic DDIM sampling steps; 0 uses the model's own default (the number that "
                  "scored best when the model was made). More steps take proportionally longer.")
        add_param(self, QgsProcessingParameterNumber("SEED", "Seed", type=QgsProcessingParameterNumber.Integer,
                                                     defaultValue=0, minValue=0),
                  "Seed of the sampling noise: the same seed gives the same output.")
        add_param(self, QgsProcessingParameterNumber("SAMPLES", "Samples", type=QgsProcessingParameterNumber.Integer,
                                                     defaultValue=1, minValue=1, maxValue=64),
                  "Samples drawn with consecutive seeds and averaged. More than 1 also writes the uncertainty "
                  "layer (per-pixel spread of the samples) and takes that many times longer.")
        add_param(self, QgsProcessingParameterEnum("DEVICE", "Device", options=list(DEVICE_NAMES), defaultValue="auto",
                                                   usesStaticStrings=True),
                  "auto: the GPU when ONNX Runtime (onnxruntime-gpu) or torch can use one, else the CPU; cuda: "
                  "the GPU or an error; cpu: always the CPU. The device actually used is reported.", advanced=True)
        add_tile_float(self)
        add_param(self, QgsProcessingParameterRasterDestination("OUTPUT", "Pansharpened"),
                  "Output GeoTIFF on the PAN grid with the MS band count; the seed and model are recorded in its "
                  "metadata.")
        self.addOutput(QgsProcessingOutputRasterLayer("UNCERTAINTY", "Uncertainty (spread of the samples)"))
        self.addOutput(QgsProcessingOutputString("PROVIDER", "Runtime and device used"))

    def __init__(self) -> None:
        super().__init__()
        self._options = HFreqDiffOptions()

    def prepareAlgorithm(self, parameters: dict, context: QgsProcessingContext,  # noqa: N802 - QGIS API
                         feedback: QgsProcessingFeedback) -> bool:
        from ...engine.errors import PansharpenError

        self.read_pan_ms(parameters, context)
        try:
            self._options = HFreqDiffOptions.from_mapping({
                "model": self.parameterAsFile(parameters, "MODEL", context),
                "steps": self.parameterAsInt(parameters, "STEPS", context),
                "seed": self.parameterAsInt(parameters, "SEED", context),
                "samples": self.parameterAsInt(parameters, "SAMPLES", context),
                "device": self.enum_string(parameters, "DEVICE", context),
                "quality": self.enum_string(parameters, "QUALITY", context)})
        except PansharpenError as exc:
            raise QgsProcessingException(str(exc)) from exc
        require("hfreqdiff-torch" if self._options.uses_torch() else "hfreqdiff")
        return True

    def processAlgorithm(self, parameters: dict, context: QgsProcessingContext,  # noqa: N802 - QGIS API
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        from ...engine.errors import PansharpenError
        from .. import child

        sensor = sensor_value(self, parameters, context)
        out_path = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        try:  # in a child process, as the dock runs it: ONNX Runtime's memory never joins QGIS's (issue 16)
            run = child.fuse(self._pan_path, self._ms_path, out_path, self._options, sensor=sensor,
                             tile=self.parameterAsInt(parameters, "TILE", context), progress=progress_to(feedback),
                             is_cancelled=feedback.isCanceled, log=feedback.pushConsoleInfo, overwrite=OVERWRITE,
                             float_output=self.parameterAsBoolean(parameters, "FLOAT", context),
                             clip=self.parameterAsBoolean(parameters, "CLIP", context))
        except PansharpenError as exc:
            raise QgsProcessingException(str(exc)) from exc
        if run.cancelled:
            feedback.pushInfo("Cancelled: no output was written.")
            return {}
        if not run.ok:
            raise QgsProcessingException(run.error)
        result = child.fuse_result(run.result)
        for note in result.notes:
            (feedback.pushWarning if is_warning(note) else feedback.pushInfo)(qgis_wording(note))
        provider = str(getattr(result, "provider", "") or "")
        feedback.pushInfo(f"HFreqDiff ran on {provider or 'an unreported runtime'} in {result.seconds:.1f} s")
        style_on_load(context, out_path, sensor)
        outputs: dict[str, Any] = {"OUTPUT": out_path, "PROVIDER": provider}
        spread = getattr(result, "uncertainty_path", None)
        if spread:
            outputs["UNCERTAINTY"] = str(spread)
            if context.project() is not None and context.willLoadLayerOnCompletion(out_path):
                details = QgsProcessingContext.LayerDetails(Path(spread).stem, context.project(), "UNCERTAINTY",
                                                            QgsProcessingUtils.LayerHint.Raster)
                context.addLayerToLoadOnCompletion(str(spread), details)
                style_on_load(context, str(spread), sensor, uncertainty=True)
        return outputs
