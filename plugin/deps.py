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
import functools
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..engine.gpu import nvidia_gpu_present

TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


@dataclass(frozen=True)
class Dependency:
    module: str  # import name
    requirement: str  # pip requirement (CPU build), pinned as requirements.txt pins it
    gpu_requirement: str  # the requirement where an NVIDIA GPU is present
    needed_for: str

    @property
    def package(self) -> str:
        """The pip distribution name (CPU build)."""
        return re.split(r"[<>=!~ \[]", self.requirement, maxsplit=1)[0]


# The versions requirements.txt pins (tests/qgis/test_deps.py checks that they agree)
DEPENDENCIES: dict[str, Dependency] = {
    "onnxruntime": Dependency("onnxruntime", "onnxruntime>=1.18,<1.24", "onnxruntime-gpu>=1.18,<1.24", "HFreqDiff"),
    "torch": Dependency("torch", "torch==2.13.0", "torch==2.13.0", "PADM fine-tuning"),
    # reads the shipped .onnx weights into torch and writes a scene model's .onnx (18 MB wheel)
    "onnx": Dependency("onnx", "onnx>=1.16,<1.20", "onnx>=1.16,<1.20", "PADM fine-tuning"),
}
# what each way of working needs (classical methods need nothing beyond QGIS's numpy/GDAL)
FEATURES: dict[str, tuple[str, ...]] = {"hfreqdiff": ("onnxruntime",), "hfreqdiff-torch": ("torch",),
                                        "finetune": ("torch", "onnx")}


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


def install_label(deps: list[Dependency]) -> str:
    """The dock's install button text, also named by the messages: 'Install onnxruntime'."""
    return "Install " + " and ".join(d.module for d in deps)


def missing_line(deps: list[Dependency]) -> str:
    """One line naming what is missing and how to get it ('' when nothing is)."""
    if not deps:
        return ""
    what = "; ".join(f"{d.module} (needed for {d.needed_for})" for d in deps)
    return (f"Missing in QGIS's Python: {what}. Click {install_label(deps)} in the PADM Pansharpening panel, "
            f"or run: {command_line(pip_command([d.module for d in deps]))}")


def python_executable() -> str:
    """The Python interpreter of the running QGIS, for child processes (pip, the engine CLI).

    sys.executable is not trusted: inside QGIS it is the qgis binary, or whatever `python3` came
    first on PATH when QGIS started (a pyenv shim, a conda Python...). Each candidate is asked for
    its sys.prefix and version; the first that is this very Python wins. Candidates: the
    interpreters in sys.prefix / sys.exec_prefix, sys.executable, then those on PATH."""
    return _resolve_python(os.environ.get("PATH", ""), sys.executable)


@functools.lru_cache(maxsize=8)
def _resolve_python(path_env: str, executable: str) -> str:
    candidates = interpreter_candidates(executable, path_env)
    for candidate in candidates:
        if _is_this_python(candidate):
            return candidate
    # none answered like this Python: the one in our prefix is still the best guess
    return candidates[0] if candidates else "python3"


def interpreter_candidates(executable: str, path_env: str) -> list[str]:
    """Python executables that may be this interpreter, most likely first (existing files only)."""
    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    names = (f"python{ver}", "python3", "python")
    found: list[Path] = []
    for prefix in dict.fromkeys((sys.prefix, sys.exec_prefix)):
        root = Path(prefix)
        found += [root / "python.exe", root / "python3.exe"] + [root / "bin" / n for n in names]
    exe = Path(executable or "")
    if exe.name.lower().startswith("python"):  # never the qgis binary itself: it would open QGIS
        found.append(exe)
    for name in names:
        hit = shutil.which(name, path=path_env)
        if hit:
            found.append(Path(hit))
    out: list[str] = []
    for path in found:
        if path.is_file() and os.access(path, os.X_OK) and str(path) not in out:
            out.append(str(path))
    return out


def _is_this_python(candidate: str) -> bool:
    """Whether ``candidate`` runs with this Python's prefix and exact version (and so its packages)."""
    probe = "import sys; print(sys.prefix); print(sys.version)"
    try:
        done = subprocess.run([candidate, "-c", probe], capture_output=True, text=True, timeout=20,
                              stdin=subprocess.DEVNULL, env=child_env())
    except (OSError, subprocess.SubprocessError):
        return False
    lines = done.stdout.splitlines()
    return (done.returncode == 0 and len(lines) >= 2 and os.path.realpath(lines[0]) == os.path.realpath(sys.prefix)
            and "\n".join(lines[1:]) == sys.version)


def pip_requirements(modules: list[str], gpu: Optional[bool] = None) -> list[str]:
    """pinned pip requirements for the modules (onnxruntime-gpu for onnxruntime on an NVIDIA machine);
    names outside DEPENDENCIES are passed through."""
    gpu = nvidia_gpu_present() if gpu is None else gpu
    return [(DEPENDENCIES[m].gpu_requirement if gpu else DEPENDENCIES[m].requirement) if m in DEPENDENCIES else m
            for m in modules]


def index_args(modules: list[str], gpu: bool) -> list[str]:
    """pip's index options: the CPU build of torch comes from PyTorch's own index."""
    if "torch" in modules and not gpu:  # a few hundred MB instead of several GB
        return ["--index-url", TORCH_CPU_INDEX, "--extra-index-url", "https://pypi.org/simple"]
    return []


def pip_command(modules: list[str], target: Optional[Path] = None, gpu: Optional[bool] = None,
                extra_args: tuple[str, ...] = ()) -> list[str]:
    """The pip command line that installs ``modules`` (pinned) into ``target`` (default:
    packages_folder()), run by QGIS's own Python."""
    target = Path(target) if target is not None else packages_folder()
    gpu = nvidia_gpu_present() if gpu is None else gpu
    cmd = [python_executable(), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
           "--progress-bar", "off", "--upgrade", "--target", str(target)]
    return cmd + index_args(modules, gpu) + list(extra_args) + pip_requirements(modules, gpu)


def write_constraints(folder: Path) -> Path:
    """A pip constraints file keeping what pip pulls in (numpy) at QGIS's numpy major version (the
    one-step install of a pip too old to report what it would install)."""
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


def command_line(command: list[str]) -> str:
    """A command as one line a user can paste into a shell (quoted: '>' and '<' are in the pins)."""
    return subprocess.list2cmdline(command) if os.name == "nt" else shlex.join(command)


def installed_elsewhere(name: str, target: Path) -> bool:
    """Whether distribution ``name`` is installed in this Python outside ``target`` (QGIS's numpy...):
    such a package shadows anything pip would put in the packages folder, which is appended to sys.path."""
    from importlib import metadata

    wanted = re.sub(r"[-_.]+", "-", name).lower()
    paths = [p for p in sys.path if p and Path(p).resolve() != Path(target).resolve()]
    for dist in metadata.distributions(path=paths):
        if re.sub(r"[-_.]+", "-", dist.metadata.get("Name") or "").lower() == wanted:
            return True
    return False


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
