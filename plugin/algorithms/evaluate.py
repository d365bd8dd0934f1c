"""Processing algorithm "Evaluate pansharpening": the reference toolbox's quality metrics of any
fused raster — full resolution (no reference: D_lambda_K, D_s, HQNR, QNR) and, given a ground
truth, reduced resolution (Q2n, Q, SAM, ERGAS, SCC, PSNR, SSIM). Report to a file and the log."""

from __future__ import annotations

from typing import Any, Optional

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterLayer,
)

from ..wording import qgis_wording
from .common import (
    PadmAlgorithm,
    add_pan_ms,
    add_param,
    add_sensor,
    progress_to,
    raster_file,
    sensor_value,
)


class EvaluatePansharpening(PadmAlgorithm):
    def __init__(self) -> None:
        super().__init__()
        self._paths: dict[str, Optional[str]] = {}

    def name(self) -> str:
        return "evaluate"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return "Evaluate pansharpening (quality metrics)"

    def group(self) -> str:
        return "Quality"

    def groupId(self) -> str:  # noqa: N802 - QGIS API
        return "quality"

    def tags(self) -> list[str]:
        return ["pansharpening", "quality", "metrics", "hqnr", "qnr", "q2n", "q8", "sam", "ergas", "wald"]

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return (
            "Scores a pansharpened raster (from this plugin or any other tool) with the metrics of the "
            "reference pansharpening toolbox (Vivone et al.), computed in digital numbers.\n\n"
            "Always: full-resolution quality without reference — D_lambda_K (spectral distortion), D_s "
            "(spatial distortion), HQNR and QNR (1 is best). With a ground-truth raster on the fused grid "
            "(e.g. a reduced-resolution experiment): Q2n, Q, SAM (degrees), ERGAS, SCC, PSNR, SSIM.\n\n"
            "The report is written as JSON (.json) or a Markdown table (.md, .txt) and printed in the log; "
            "each metric is also an output of the algorithm, for the modeller."
        )

    def initAlgorithm(self, config: Optional[dict] = None) -> None:  # noqa: N802 - QGIS API
        from ...engine.evaluation import FR_KEYS, RR_KEYS

        add_pan_ms(self)
        add_param(self, QgsProcessingParameterRasterLayer("FUSED", "Pansharpened raster"),
                  "The fused raster to score, on the PAN's pixel grid, with the MS band count.")
        add_param(self, QgsProcessingParameterRasterLayer("REFERENCE", "Ground truth (optional)", optional=True),
                  "High-resolution multispectral ground truth on the same grid as the fused raster; adds the "
                  "reduced-resolution (reference-based) metrics.")
        add_sensor(self)
        add_param(self, QgsProcessingParameterFileDestination(
            "REPORT", "Metrics report", fileFilter="JSON (*.json);;Markdown (*.md);;Text (*.txt)"),
            "File that receives the metrics: JSON for .json, a Markdown table otherwise.")
        for key in FR_KEYS + RR_KEYS:
            self.addOutput(QgsProcessingOutputNumber(key, key))

    def prepareAlgorithm(self, parameters: dict, context: QgsProcessingContext,  # noqa: N802 - QGIS API
                         feedback: QgsProcessingFeedback) -> bool:
        self._paths = {role: raster_file(self.parameterAsRasterLayer(parameters, role, context), role)
                       for role in ("PAN", "MS", "FUSED")}
        reference = self.parameterAsRasterLayer(parameters, "REFERENCE", context)
        self._paths["REFERENCE"] = raster_file(reference, "REFERENCE") if reference is not None else None
        return True

    def processAlgorithm(self, parameters: dict, context: QgsProcessingContext,  # noqa: N802 - QGIS API
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        from ...engine.errors import PansharpenError
        from ...engine.evaluation import FR_KEYS, RR_KEYS, evaluate_files

        p = self._paths
        try:
            evaluation = evaluate_files(p["PAN"], p["MS"], p["FUSED"], p["REFERENCE"],
                                        sensor_value(self, parameters, context), progress=progress_to(feedback))
        except PansharpenError as exc:
            raise QgsProcessingException(str(exc)) from exc
        for line in [qgis_wording(n) for n in evaluation.notes] + evaluation.tables():
            feedback.pushInfo(line)
        report = evaluation.write_report(self.parameterAsFileOutput(parameters, "REPORT", context))
        outputs: dict[str, Any] = {"REPORT": str(report)}
        for group in evaluation.results.values():
            outputs.update({k: float(v) for k, v in group.items() if k in FR_KEYS + RR_KEYS})
        return outputs
