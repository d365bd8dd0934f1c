"""The machine: one description of it for every report the engine writes (bench, training,
speed, fine-tuning cards), and the inference threads this process may use. Needs neither GDAL
nor torch."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Optional


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_summary(gpu: Optional[str] = None) -> str:
    """'CPU model, N cores, OS release'; with ``gpu`` (the device that did the work) named first."""
    host = f"{cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"
    return f"{gpu} GPU ({host} host)" if gpu else host


THREADS_ENV = "PADM_THREADS"  # inference threads of this process (a batch worker shares the cores)


def inference_threads(requested: Optional[int] = None) -> Optional[int]:
    """Threads for ONNX Runtime / torch inference: ``requested`` if given, else $PADM_THREADS, else
    None (the runtime's own default: one per core)."""
    if requested:
        return int(requested)
    value = os.environ.get(THREADS_ENV, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None
