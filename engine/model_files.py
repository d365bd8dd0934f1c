"""Which HFreqDiff model file a run uses, and which runtime runs it: an explicit file, the first
model of a fine-tuned model folder, or the bundled .onnx (run by torch where only torch can use the
machine's GPU: torch builds its network from the .onnx, engine.hfreqdiff.onnx_weights)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Optional

from .definitions import MODELS_DIR, bundled_models, model_files_in
from .errors import PansharpenError
from .gpu import only_torch_sees_the_gpu
from .sensors import get_sensor


def resolve_model(model: Optional[str | Path], backend: str, device: str = "cpu",
                  probe_torch: bool = True, quality: str = "best") -> tuple[Path, str]:
    """(model file, runtime "onnx" | "torch"): an explicit file, the first suitable file of a
    folder, or the bundled one. Torch runs a .pt, or an .onnx through the network built from its
    initialisers (that needs the onnx package). With backend "auto" and a GPU that only torch can
    use, torch is preferred, a folder's .pt first (on the lent H200, 2.7 s/MP against 15.9 s/MP for
    ONNX Runtime on its 16 CPU cores; lab/reports/gpu.md); it takes an .onnx only where the onnx
    package is installed, else ONNX Runtime runs it as before.
    ``probe_torch=False``: decide that without importing torch (gpu.only_torch_sees_the_gpu).
    ``quality``: which bundled model, where no model is given (definitions.bundled_model)."""
    explicit_file = model is not None and not Path(model).is_dir()
    if backend == "auto" and device != "cpu" and not explicit_file and only_torch_sees_the_gpu(probe_torch):
        found = _first_model(model, (".pt", ".onnx") if _onnx_installed() else (".pt",), quality)
        if found is not None:
            return found, "torch"
    found = _first_model(model, {"auto": (".onnx", ".pt"), "onnx": (".onnx",), "torch": (".pt", ".onnx")}[backend],
                         quality)
    if found is None:
        where = model if model is not None else MODELS_DIR
        raise PansharpenError(f"No HFreqDiff model found at {where}: give --model a .onnx/.pt file "
                              "(or a folder holding one), or use a classical method.")
    is_onnx = found.suffix.lower() == ".onnx"
    if backend == "onnx" and not is_onnx:
        raise PansharpenError(f"Backend 'onnx' cannot run {found}: give a .onnx model.")
    return found, (backend if backend != "auto" else "onnx" if is_onnx else "torch")


def _first_model(model: Optional[str | Path], suffixes: tuple[str, ...], quality: str = "best") -> Optional[Path]:
    """The explicit file, else the first file with one of the suffixes (in their order) of the
    folder or of the preset's bundled model; None where there is none."""
    if model is None:
        candidates = [p for s in suffixes for p in bundled_models(quality) if p.suffix == s]
    elif Path(model).is_dir():
        candidates = model_files_in(Path(model), quality, suffixes)
    else:
        candidates = [Path(model)]
    return next((c for c in candidates if c.is_file()), None)


def _onnx_installed() -> bool:
    """Whether the onnx package (what reads an .onnx model's weights for torch) is installed; imports nothing."""
    try:
        return importlib.util.find_spec("onnx") is not None
    except (ImportError, ValueError):
        return False


def scene_model_sensor(meta: dict) -> Optional[str]:
    """The sensor a PADM scene model was fine-tuned for (its metadata's training.scene.sensor), else None."""
    try:
        training = json.loads(meta.get("training") or "{}")
    except (TypeError, ValueError):
        return None
    scene = training.get("scene") if isinstance(training, dict) else None
    sensor = scene.get("sensor") if isinstance(scene, dict) else None
    return str(sensor) if sensor else None


def sensor_for_model(meta: dict, sensor: Optional[str], model_path: Optional[Path]) -> tuple[Optional[str], list[str]]:
    """The sensor a run must use with this model: a scene model carries its own (the band descriptors
    and MTF it was fine-tuned with); a contradicting choice is refused. Other models: ``sensor`` as given."""
    carried = scene_model_sensor(meta)
    if not carried:
        return sensor, []
    if sensor and get_sensor(sensor).name != get_sensor(carried).name:
        raise PansharpenError(f"Sensor {get_sensor(sensor).name} contradicts the scene model {model_path}, fine-tuned "
                              f"for {carried}: leave the sensor unset (the model carries it) or use another model.")
    return carried, [f"sensor {carried}, carried by the scene model {model_path}"]
