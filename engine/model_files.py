"""Which HFreqDiff model file a run uses: an explicit file, the first model of a fine-tuned model
folder, or the bundled one (the .pt where only torch can use the machine's GPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from .definitions import MODELS_DIR, bundled_model
from .errors import PansharpenError
from .gpu import only_torch_sees_the_gpu


def resolve_model(model: Optional[str | Path], backend: str, device: str = "cpu", probe_torch: bool = True) -> Path:
    """The model file: an explicit file, the first suitable file of a folder, or the bundled one.
    With backend "auto" and a GPU that only torch can use, a .pt model is preferred (on the lent
    H200, 2.7 s/MP against 15.9 s/MP for ONNX Runtime on its 16 CPU cores; lab/reports/gpu.md).
    ``probe_torch=False``: decide that without importing torch (gpu.only_torch_sees_the_gpu)."""
    explicit_file = model is not None and not Path(model).is_dir()
    if backend == "auto" and device != "cpu" and not explicit_file and only_torch_sees_the_gpu(probe_torch):
        try:
            return resolve_model(model, "torch")
        except PansharpenError:
            pass
    suffixes = {"auto": (".onnx", ".pt"), "onnx": (".onnx",), "torch": (".pt",)}[backend]
    if model is None:
        candidates = [bundled_model(s) for s in suffixes]
    elif Path(model).is_dir():
        candidates = [f for s in suffixes for f in sorted(Path(model).glob(f"*{s}"))]
    else:
        candidates = [Path(model)]
    for c in candidates:
        if c.is_file():
            return c
    where = model if model is not None else MODELS_DIR
    raise PansharpenError(f"No HFreqDiff model found at {where}: give --model a .onnx/.pt file "
                          "(or a folder holding one), or use a classical method.")
