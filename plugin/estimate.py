"""How long a run will take, for the warning before long runs and the first ETA.

Costs are seconds per megapixel of PAN (per DDIM step and sample for HFreqDiff). The defaults
were measured on a 2-core x86 CPU (HFreqDiff with ONNX Runtime on 252x252 PAN crops of the WV3
scene, including the tile halo: 122 s/MP per step and sample; GSA/BDSD-PC/MTF-GLP-HPM on the
580x575 WV3 scene: 1.8-2.9 s/MP). After each run the dock records the measured rate for that
runtime, so later estimates follow the user's machine.
"""

from __future__ import annotations

from typing import Optional

from qgis.core import QgsSettings

LONG_RUN_S = 120.0  # ask before starting runs estimated longer than this
DEFAULT_RATE = {"hfreqdiff": 122.0, "classical": 3.0}  # s/MP (per step and sample for hfreqdiff)
GPU_SPEEDUP = 10.0  # assumed for a CUDA provider until a run on it was measured
_KEY = "padm_pansharpening/rate/"


def _rate_key(method: str, provider: str) -> str:
    """One stored rate per method family and device kind (provider: e.g. onnxruntime:CUDAExecutionProvider)."""
    device = "cuda" if "cuda" in provider.lower() else "cpu"
    return _KEY + (f"hfreqdiff_{device}" if method == "hfreqdiff" else "classical")


def rate(method: str, provider: str = "") -> float:
    stored = QgsSettings().value(_rate_key(method, provider), None)
    try:
        if stored is not None and float(stored) > 0:
            return float(stored)
    except (TypeError, ValueError):
        pass
    base = DEFAULT_RATE["hfreqdiff" if method == "hfreqdiff" else "classical"]
    return base / GPU_SPEEDUP if method == "hfreqdiff" and "cuda" in provider.lower() else base


def estimate_seconds(megapixels: float, method: str, steps: int = 1, samples: int = 1, provider: str = "",
                     finetune_minutes: float = 0.0) -> float:
    work = megapixels * rate(method, provider) * (max(1, steps) * max(1, samples) if method == "hfreqdiff" else 1)
    return work + 60.0 * finetune_minutes


def record(method: str, provider: str, megapixels: float, seconds: float, steps: int = 1, samples: int = 1) -> None:
    """Store the measured rate of a finished run (a running mean, new runs weighted 1/2)."""
    if megapixels <= 0 or seconds <= 0:
        return
    units = megapixels * (max(1, steps) * max(1, samples) if method == "hfreqdiff" else 1)
    measured = seconds / units
    key = _rate_key(method, provider)
    old: Optional[float]
    try:
        old = float(QgsSettings().value(key, None))
    except (TypeError, ValueError):
        old = None
    QgsSettings().setValue(key, measured if old is None else 0.5 * (old + measured))


def human(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
