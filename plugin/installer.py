"""Installing the optional packages (onnxruntime, torch) into the QGIS profile, as a QgsTask.

pip runs under QGIS's own interpreter (deps.python_executable) in two steps:
1. resolve: ``pip install --dry-run --report`` lists what the pinned requirements pull in;
2. install: only what this Python lacks, at the resolved versions, with ``--no-deps``.
``pip install --target`` alone ignores the packages QGIS already has and would put a second numpy
(and protobuf, sympy...) into the packages folder, where QGIS's own copies shadow them anyway. A pip
too old for --report (before 22.2) installs in one step, numpy held at QGIS's major version.

pip's output goes to pip-install.log beside the packages folder; the dock sees a compact stage
('downloading onnxruntime (2/6)') and the progress.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Optional

from qgis.core import QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from ..engine.gpu import nvidia_gpu_present
from . import deps
from .tasks import _call_back

_NO_REPORT = re.compile(r"no such option: --(report|dry-run)")


class PipInstallTask(QgsTask):
    """pip install of the optional packages into the profile's packages folder, logged to a file."""

    logged = pyqtSignal(str)  # a few lines for the dock's log (the command, the outcome)
    stage = pyqtSignal(str)  # compact progress: 'resolving', 'downloading onnxruntime (2/6)', ...

    def __init__(self, modules: list[str], on_finished: Optional[Callable[["PipInstallTask"], None]] = None,
                 target: Optional[Path] = None, extra_args: tuple[str, ...] = (), gpu: Optional[bool] = None):
        super().__init__(f"PADM Pansharpening: installing {', '.join(modules)}", QgsTask.CanCancel)
        self.modules = modules
        self.on_finished = on_finished
        self.target = Path(target) if target is not None else deps.packages_folder()
        self.extra_args = extra_args
        self.gpu = gpu
        self.command: list[str] = []  # the last pip command run
        self.log_path = self.target.parent / "pip-install.log"
        self.error = ""
        self.returncode: Optional[int] = None
        self.installed: list[str] = []  # name==version put into the packages folder
        self.skipped: list[str] = []  # what QGIS's Python already has (numpy, ...)

    # -- worker thread ------------------------------------------------------------------------
    def run(self) -> bool:
        try:
            self.target.mkdir(parents=True, exist_ok=True)
            gpu = nvidia_gpu_present() if self.gpu is None else self.gpu
            base = deps.pip_command(self.modules, self.target, gpu=gpu, extra_args=self.extra_args)
            with open(self.log_path, "a", encoding="utf-8") as log:
                plan = self._resolve(base, log)
                if plan is None:  # failed, cancelled, or a pip without --report
                    return self._one_step(base, log) if not self.error and not self.isCanceled() else False
                todo = [(name, version) for name, version in plan if not deps.installed_elsewhere(name, self.target)]
                self.skipped = [name for name, _ in plan if (name, _) not in todo]
                if not todo:
                    return True
                options = base[:base.index("--target") + 2] + deps.index_args(self.modules, gpu) + list(self.extra_args)
                self.installed = [f"{name}=={version}" for name, version in todo]
                return self._pip(options + ["--no-deps", *self.installed], log, len(todo), 0.1, 1.0)
        except OSError as exc:
            self.error = f"Cannot run pip ({exc}): install {' '.join(self.modules)} for QGIS's Python by hand."
            return False

    def _resolve(self, base: list[str], log) -> Optional[list[tuple[str, str]]]:
        """(name, version) of everything the requirements need, requested first; None when pip
        cannot report (self.error stays empty then) or failed (self.error set)."""
        self.stage.emit(f"resolving {', '.join(self.modules)}")
        with tempfile.TemporaryDirectory(prefix="padm_pip_") as tmp:
            report = Path(tmp) / "report.json"
            at = base.index("--target") + 2
            ok = self._pip(base[:at] + ["--dry-run", "--report", str(report)] + base[at:], log, 0, 0.0, 0.1,
                           quiet_error=_NO_REPORT)
            if not ok or not report.is_file():
                return None
            items = json.loads(report.read_text(encoding="utf-8")).get("install", [])
        items.sort(key=lambda item: not item.get("requested"))
        return [(item["metadata"]["name"], item["metadata"]["version"]) for item in items]

    def _one_step(self, base: list[str], log) -> bool:
        """Old pips: one install, its dependencies held at QGIS's numpy major version."""
        self.error = ""
        constraints = deps.write_constraints(self.target.parent)
        at = base.index("--target") + 2
        return self._pip(base[:at] + ["--constraint", str(constraints)] + base[at:], log, 0, 0.1, 1.0)

    def _pip(self, command: list[str], log, count: int, lo: float, hi: float,
             quiet_error: Optional[re.Pattern] = None) -> bool:
        """Run one pip command, its output to the log file, the stage and progress compact."""
        self.command = command
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        tail: list[str] = []
        done = 0
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=deps.child_env(self.target), stdin=subprocess.DEVNULL) as proc:
            for line in proc.stdout:
                log.write(line)
                line = line.strip()
                if line:
                    tail = (tail + [line])[-5:]
                done += self._show(line, count, done, lo, hi)
                if self.isCanceled():
                    proc.terminate()
                    break
            self.returncode = proc.wait()
        if self.isCanceled():
            self.error = "installation cancelled"
            return False
        if self.returncode != 0:
            if quiet_error is not None and any(quiet_error.search(ln) for ln in tail):
                return False  # the caller falls back
            last = next((ln for ln in reversed(tail) if ln.startswith("ERROR")), tail[-1] if tail else "no output")
            self.error = f"pip failed (exit status {self.returncode}): {last} — full log in {self.log_path}"
            return False
        return True

    def _show(self, line: str, count: int, done: int, lo: float, hi: float) -> int:
        """Stage and progress from one line of pip's output; 1 when it starts a package."""
        match = re.match(r"(Collecting|Processing|Installing collected packages:)\s*(\S*)", line)
        if not match:
            return 0
        what, arg = match.groups()
        if what in ("Collecting", "Processing"):  # a package from an index, or a local file
            if count:
                token = Path(arg).name
                name = token.split("-")[0] if token.endswith((".whl", ".tar.gz", ".zip")) else token
                self.stage.emit(f"downloading {re.split(r'[<>=!~ ]', name)[0]} ({done + 1}/{count})")
                self.setProgress(100.0 * (lo + (hi - lo) * 0.9 * done / count))
            return 1
        if what.startswith("Installing"):
            self.stage.emit("installing")
            self.setProgress(100.0 * (lo + (hi - lo) * 0.9))
        return 0

    # -- main thread ---------------------------------------------------------------------------
    def finished(self, ok: bool) -> None:
        if ok:
            deps.activate(self.target)  # sys.path changes in the main thread
        _call_back(self.on_finished, self)
