"""Optional Python dependencies inside QGIS: what is missing, and a pip install into the QGIS profile.

QGIS runs its own Python, which often lacks onnxruntime (HFreqDiff inference) and torch (needed
only to fine-tune). The plugin never needs them to load. They are installed with pip into
``<QGIS profile>/padm_pansharpening/python<X.Y>`` — outside the plugin folder, which an upgrade
wipes, and per Python version, since compiled wheels only fit the version they were built for.
That folder is *appended* to sys.path, so QGIS's own packages (numpy above all, which GDAL's
bindings are built against) always take precedence over anything pip put there.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..engine.gpu import nvidia_gpu_present

TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


@dataclass(frozen=True)
class Dependency:
    module: str  # import name
    package: str  # pip name (CPU)
    gpu_package: str  # pip name where an NVIDIA GPU is present
    needed_for: str


DEPENDENCIES: dict[str, Dependency] = {
    "onnxruntime": Dependency("onnxruntime", "onnxruntime", "onnxruntime-gpu", "HFreqDiff"),
    "torch": Dependency("torch", "torch", "torch", "PADM fine-tuning"),
}
# what each way of working needs (classical methods need nothing beyond QGIS's numpy/GDAL)
FEATURES: dict[str, tuple[str, ...]] = {"hfreqdiff": ("onnxruntime",), "hfreqdiff-torch": ("torch",),
                                        "finetune": ("torch",)}


def profile_folder() -> Path:
    """This plugin's folder in the active QGIS profile (models, packages, logs)."""
    from qgis.core import QgsApplication

    return Path(QgsApplication.qgisSettingsDirPath()) / "padm_pansharpening"


def packages_folder() -> Path:
    """Where pip installs the optional packages for this Python version."""
    return profile_folder() / f"python{sys.version_info.major}.{sys.version_info.minor}"


def activate(folder: Optional[Path] = None) -> Optional[Path]:
    """Append the packages folder to sys.path (once) when it exists; returns it when active."""
    folder = Path(folder) if folder is not None else packages_folder()
    if not folder.is_dir():
        return None
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
    importlib.invalidate_caches()
    return folder


def is_available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing(feature: str = "hfreqdiff") -> list[Dependency]:
    """Dependencies a feature ('hfreqdiff', 'hfreqdiff-torch', 'finetune') lacks in this Python."""
    return [DEPENDENCIES[m] for m in FEATURES[feature] if not is_available(m)]


def all_missing() -> list[Dependency]:
    return [d for d in DEPENDENCIES.values() if not is_available(d.module)]


def missing_line(deps: list[Dependency]) -> str:
    """One line naming what is missing and how to get it ('' when nothing is)."""
    if not deps:
        return ""
    what = "; ".join(f"{d.module} (needed for {d.needed_for})" for d in deps)
    return (f"Missing in QGIS's Python: {what}. Install it from the PADM Pansharpening panel "
            f"(Install dependencies), or run: {' '.join(pip_command([d.module for d in deps]))}")


def python_executable() -> str:
    """The Python interpreter of the running QGIS, usable for child processes (pip, the CLI).

    Inside QGIS sys.executable is often the qgis binary itself; the interpreter then lies in
    sys.exec_prefix (python.exe on Windows, bin/python3.X elsewhere)."""
    exe = Path(sys.executable or "")
    if exe.name.lower().startswith("python") and exe.is_file():
        return str(exe)
    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    prefix = Path(sys.exec_prefix)
    for candidate in (prefix / "python.exe", prefix / "python3.exe", prefix / "bin" / f"python{ver}",
                      prefix / "bin" / "python3"):
        if candidate.is_file():
            return str(candidate)
    return shutil.which(f"python{ver}") or shutil.which("python3") or "python3"


def pip_packages(modules: list[str], gpu: Optional[bool] = None) -> list[str]:
    """pip requirement names for the modules (onnxruntime-gpu for onnxruntime on an NVIDIA machine);
    names outside DEPENDENCIES are passed through."""
    gpu = nvidia_gpu_present() if gpu is None else gpu
    return [(DEPENDENCIES[m].gpu_package if gpu else DEPENDENCIES[m].package) if m in DEPENDENCIES else m
            for m in modules]


def write_constraints(folder: Path) -> Path:
    """A pip constraints file keeping what pip pulls in (numpy) at QGIS's numpy major version:
    a numpy 2 wheel would be shadowed by QGIS's 1.x anyway, and a package built for 2 may need it."""
    lines = []
    try:
        import numpy

        major = int(numpy.__version__.split(".")[0])
        lines.append(f"numpy<{major + 1}")
    except ImportError:
        pass
    path = Path(folder) / "pip-constraints.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def pip_command(modules: list[str], target: Optional[Path] = None, gpu: Optional[bool] = None,
                extra_args: tuple[str, ...] = (), constraints: Optional[Path] = None) -> list[str]:
    """The pip command line that installs ``modules`` into ``target`` (default: packages_folder())."""
    target = Path(target) if target is not None else packages_folder()
    gpu = nvidia_gpu_present() if gpu is None else gpu
    cmd = [python_executable(), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
           "--upgrade", "--target", str(target)]
    if "torch" in modules and not gpu:  # the CPU build: a few hundred MB instead of several GB
        cmd += ["--index-url", TORCH_CPU_INDEX, "--extra-index-url", "https://pypi.org/simple"]
    if constraints is not None:
        cmd += ["--constraint", str(constraints)]
    return cmd + list(extra_args) + pip_packages(modules, gpu)


def child_env(extra_path: Optional[Path] = None) -> dict[str, str]:
    """Environment for a child process of this QGIS's Python: QGIS's own environment (a launcher's
    PYTHONHOME/PYTHONPATH suit the same interpreter), unbuffered, no bytecode written into the plugin
    folder, and the packages folder in PADM_PACKAGES (the child appends it to sys.path)."""
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    folder = extra_path if extra_path is not None else packages_folder()
    env["PADM_PACKAGES"] = str(folder)
    return env
