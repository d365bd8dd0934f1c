"""Processing algorithm "PADM fine-tune": learn the scene's degradation (PADM) and fine-tune
HFreqDiff on it, in a child process of the engine CLI (``finetune --progress json``). The output
is a model folder that 'Pansharpen (HFreqDiff)' takes as its MODEL."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
)

from ...engine.definitions import DEFAULT_FINETUNE_MINUTES, model_files_in
from .. import child
from .common import (
    PadmAlgorithm,
    add_pan_ms,
    add_param,
    add_sensor,
    progress_to,
    require,
    sensor_value,
)


class PadmFinetune(PadmAlgorithm):
    def name(self) -> str:
        return "finetune"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return "PADM fine-tune (scene model)"

    def tags(self) -> list[str]:
        return ["pansharpening", "padm", "fine-tune", "degradation", "hfreqdiff", "deep learning", "training"]

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return (
            "Adapts HFreqDiff to one scene with PADM (progressive alignment degradation learning): it learns "
            "how this scene's MS and PAN were really degraded (blur, sub-pixel shifts, spectral response), "
            "then fine-tunes the diffusion model on training pairs made with that degradation. The result is "
            "a model folder for 'Pansharpen (HFreqDiff)' (its Model parameter).\n\n"
            "Runs in a separate Python process (needs torch); Cancel stops it and leaves no folder. The time "
            "budget bounds the run; a GPU makes it faster but is not required."
        )

    def initAlgorithm(self, config: Optional[dict] = None) -> None:  # noqa: N802 - QGIS API
        add_pan_ms(self)
        add_sensor(self)
        add_param(self, QgsProcessingParameterNumber("BUDGET", "Time budget (minutes)",
                                                     type=QgsProcessingParameterNumber.Double,
                                                     defaultValue=float(DEFAULT_FINETUNE_MINUTES),
                                                     minValue=0.1, maxValue=1440.0),
                  "Upper bound of the fine-tuning time, in minutes; more time usually fits the scene better.")
        add_param(self, QgsProcessingParameterNumber("SEED", "Seed", type=QgsProcessingParameterNumber.Integer,
                                                     defaultValue=0, minValue=0),
                  "Seed of the network initialisation and of the training crops (same seed, same model).",
                  advanced=True)
        add_param(self, QgsProcessingParameterFolderDestination("OUTPUT", "Fine-tuned model folder"),
                  "New (or empty) folder that receives the fine-tuned model; it appears only when the run "
                  "succeeded.")
        self.addOutput(QgsProcessingOutputFile("MODEL_FILE", "Model file inside the folder"))

    def prepareAlgorithm(self, parameters: dict, context: QgsProcessingContext,  # noqa: N802 - QGIS API
                         feedback: QgsProcessingFeedback) -> bool:
        self.read_pan_ms(parameters, context)
        require("finetune")
        return True

    def processAlgorithm(self, parameters: dict, context: QgsProcessingContext,  # noqa: N802 - QGIS API
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        from ...engine.errors import PansharpenError

        out_dir = Path(self.parameterAsString(parameters, "OUTPUT", context))
        try:
            result = child.finetune(self._pan_path, self._ms_path, out_dir,
                                    self.parameterAsDouble(parameters, "BUDGET", context),
                                    sensor=sensor_value(self, parameters, context),
                                    seed=self.parameterAsInt(parameters, "SEED", context),
                                    progress=progress_to(feedback), is_cancelled=feedback.isCanceled,
                                    log=feedback.pushConsoleInfo)
        except PansharpenError as exc:
            raise QgsProcessingException(str(exc)) from exc
        if result.cancelled:
            feedback.pushInfo("Cancelled: no model folder was written.")
            return {}
        if not result.ok:
            raise QgsProcessingException(f"PADM fine-tuning failed: {result.error}")
        for key, value in (result.result or {}).items():
            feedback.pushInfo(f"{key}: {value}")
        model_files = model_files_in(out_dir)
        return {"OUTPUT": str(out_dir), "MODEL_FILE": str(model_files[0]) if model_files else ""}
