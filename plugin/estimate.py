"""How long a run will take, for the warning before long runs and the first ETA.

HFreqDiff: the work of its tiles (engine.hfreqdiff.cost: network band-megapixels over all passes,
steps and samples, plus conditioning) times the 2-core CPU's measured rates, times a factor for
this machine that each finished run updates. Classical methods: seconds per PAN megapixel
(GSA/BDSD-PC/MTF-GLP-HPM on the 580x575 WV3 scene: 1.8-2.9 s/MP), also updated by each run.
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
                     finetune_minutes: float = 0.0, work=None) -> float:
    """``work``: the run's engine.hfreqdiff.cost.Work (HFreqDiff); without it, per megapixel."""
    if method == "hfreqdiff" and work is not None:
        seconds = work.seconds() * _factor(provider)
    else:
        seconds = megapixels * rate(method, provider) * (max(1, steps) * max(1, samples) if method == "hfreqdiff" else 1)
    return seconds + 60.0 * finetune_minutes


def _factor_key(provider: str) -> str:
    """Keyed by the rates the factor scales: a factor learned against other rates (an older engine)
    is not reused (it had kept a 1.8x overestimate after the rates were refitted)."""
    from ..engine.hfreqdiff.rates import CPU_SECONDS_PER_CONDITION_UNIT, CPU_SECONDS_PER_NETWORK_UNIT

    device = "cuda" if "cuda" in provider.lower() else "cpu"
    return _KEY + f"hfreqdiff_factor_{device}_{CPU_SECONDS_PER_NETWORK_UNIT:g}_{CPU_SECONDS_PER_CONDITION_UNIT:g}"


def _factor(provider: str) -> float:
    """This machine's speed against the measured 2-core CPU (1: the same; GPU: 1/GPU_SPEEDUP until measured)."""
    try:
        stored = float(QgsSettings().value(_factor_key(provider), None))
        if stored > 0:
            return stored
    except (TypeError, ValueError):
        pass
    return 1.0 / GPU_SPEEDUP if "cuda" in provider.lower() else 1.0


def record(method: str, provider: str, megapixels: float, seconds: float, steps: int = 1, samples: int = 1,
           work=None) -> None:
    """Store the measured rate of a finished run (a running mean, new runs weighted 1/2)."""
    if megapixels <= 0 or seconds <= 0:
        return
    if method == "hfreqdiff" and work is not None and work.seconds() > 0:
        key, measured = _factor_key(provider), seconds / work.seconds()
    else:
        units = megapixels * (max(1, steps) * max(1, samples) if method == "hfreqdiff" else 1)
        key, measured = _rate_key(method, provider), seconds / units
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
