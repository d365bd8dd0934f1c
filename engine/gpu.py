"""Which GPU runtime this machine offers, found once for the engine, the CLI and the plugin.

Nothing here loads a CUDA library unless a GPU is present: the checks go from cheap (driver files)
to expensive (importing torch)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


def nvidia_gpu_present() -> bool:
    """An NVIDIA GPU and driver on this machine (no CUDA library loaded)."""
    gpus = Path("/proc/driver/nvidia/gpus")
    if (gpus.is_dir() and any(gpus.iterdir())) or Path("/dev/nvidia0").exists():
        return True
    return _nvidia_smi_lists_a_gpu()


@lru_cache(maxsize=1)
def _nvidia_smi_lists_a_gpu() -> bool:
    """nvidia-smi -L lists a GPU (Windows and containers without /proc/driver/nvidia)."""
    import shutil
    import subprocess

    exe = shutil.which("nvidia-smi")
    if exe is None:
        return False
    try:
        run = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return run.returncode == 0 and "GPU" in run.stdout


def onnxruntime_has_cuda() -> bool:
    """ONNX Runtime is installed with its CUDA provider (onnxruntime-gpu)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()


def torch_has_cuda() -> bool:
    """torch is installed and sees a GPU (imports torch only where a GPU is present)."""
    if not nvidia_gpu_present():
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def torch_installed() -> bool:
    """torch can be imported (found without importing it)."""
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def only_torch_sees_the_gpu(probe_torch: bool = True) -> bool:
    """A GPU that torch can use but ONNX Runtime cannot (no onnxruntime-gpu). ``probe_torch=False``
    imports nothing and takes an installed torch to see the GPU (for a GUI deciding where to run)."""
    if not nvidia_gpu_present() or onnxruntime_has_cuda():
        return False
    return torch_has_cuda() if probe_torch else torch_installed()
