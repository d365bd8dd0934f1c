"""The engine CLI as a child process with JSON-lines progress: how the dock and the Processing
algorithms run PADM fine-tuning and HFreqDiff inference (ONNX Runtime or torch).

A child process keeps torch, ONNX Runtime's memory arena (gigabytes at the peak of a 512 px tile of
8 bands) and GPU memory out of QGIS — all returned when the child ends — and makes Cancel a clean
terminate, within one poll (0.2 s).
The child is this QGIS's own Python running ``padm_pansharpening.engine.cli`` from the plugin
folder (loaded by location, so the folder's name does not matter), with the optional-packages
folder appended to its sys.path. Its stdout carries JSON lines — ``{"progress": f, "text": t, ...}``
while working and ``{"result": {...}}`` at the end (engine.progress.JsonLines); a user error ends it
with status 2 and one ``error: ...`` line on stderr.

Fine-tuned models and fused outputs are made inside a hidden staging folder beside the destination
and moved into place only when the child succeeded, so a cancel, a crash or an error leaves nothing
behind. The plugin and the engine ship together: the plugin passes the options the CLI has.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Sequence

from ..engine.definitions import HFREQDIFF, PACKAGE_ROOT
from . import deps

if TYPE_CHECKING:
    from ..engine.options import HFreqDiffOptions
    from ..engine.pipeline import FuseResult

TERMINATE_GRACE_S = 5.0

BOOTSTRAP = """\
import importlib.util, os, sys
root = sys.argv[1]
extra = os.environ.get("PADM_PACKAGES")
if extra and os.path.isdir(extra) and extra not in sys.path:
    sys.path.append(extra)
spec = importlib.util.spec_from_file_location(
    "padm_pansharpening", os.path.join(root, "__init__.py"), submodule_search_locations=[root])
module = importlib.util.module_from_spec(spec)
sys.modules["padm_pansharpening"] = module
spec.loader.exec_module(module)
from padm_pansharpening.engine.cli import main
sys.exit(main(sys.argv[2:]))
"""

ProgressFn = Callable[[float, str], None]


@dataclass
class ChildResult:
    returncode: Optional[int]
    result: Optional[dict] = None  # the final {"result": ...} object
    error: str = ""  # one line: the CLI's "error: ..." message, or what went wrong
    cancelled: bool = False
    stderr_tail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.cancelled and not self.error


def cli_command(args: Sequence[str], python: Optional[str] = None) -> list[str]:
    """The command line that runs ``python -m padm_pansharpening ARGS`` from this plugin folder."""
    return [python or deps.python_executable(), "-c", BOOTSTRAP, str(PACKAGE_ROOT), *map(str, args)]


def _terminate(proc: subprocess.Popen) -> None:
    """SIGTERM to the child's process group (workers included), SIGKILL after a grace period."""
    if proc.poll() is not None:
        return
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
        proc.wait(TERMINATE_GRACE_S)
    except subprocess.TimeoutExpired:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        proc.wait()
    except ProcessLookupError:
        proc.wait()


def run_cli(args: Sequence[str], progress: Optional[ProgressFn] = None,
            is_cancelled: Optional[Callable[[], bool]] = None, log: Optional[Callable[[str], None]] = None,
            python: Optional[str] = None, env: Optional[dict] = None, poll_s: float = 0.2) -> ChildResult:
    """Run the CLI with ``args`` (which should include ``--progress json``) until it ends or is cancelled."""
    report = progress or (lambda f, t: None)
    cancelled = is_cancelled or (lambda: False)
    say = log or (lambda line: None)
    lines: "queue.Queue[tuple[str, Optional[str]]]" = queue.Queue()
    proc = subprocess.Popen(cli_command(args, python), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace",
                            env=env if env is not None else deps.child_env(), cwd=str(Path.home()),
                            start_new_session=(os.name == "posix"))

    def pump(stream, name: str) -> None:
        for line in stream:
            lines.put((name, line.rstrip("\n")))
        lines.put((name, None))

    readers = [threading.Thread(target=pump, args=(s, n), daemon=True)
               for s, n in ((proc.stdout, "out"), (proc.stderr, "err"))]
    for t in readers:
        t.start()
    out = ChildResult(returncode=None)
    open_streams = 2
    try:
        while open_streams:
            if cancelled():
                out.cancelled = True
                _terminate(proc)
                break
            try:
                name, line = lines.get(timeout=poll_s)
            except queue.Empty:
                continue
            if line is None:
                open_streams -= 1
            elif name == "out":
                _handle_stdout(line, out, report, say)
            else:
                out.stderr_tail = (out.stderr_tail + [line])[-20:]
                if line.startswith("error: "):
                    out.error = line[len("error: "):].strip()
                say(line)
    finally:
        if proc.poll() is None:
            _terminate(proc)
        out.returncode = proc.wait()
        for t in readers:
            t.join(timeout=1.0)
    if not out.cancelled and out.returncode != 0 and not out.error:
        last = next((ln.strip() for ln in reversed(out.stderr_tail) if ln.strip()), "no message")
        out.error = f"the engine's child process failed (exit status {out.returncode}): {last}"
    return out


def _handle_stdout(line: str, out: ChildResult, report: ProgressFn, say: Callable[[str], None]) -> None:
    try:
        obj = json.loads(line)
    except ValueError:
        say(line)
        return
    if not isinstance(obj, dict):
        say(line)
    elif "result" in obj:
        out.result = obj["result"] if isinstance(obj["result"], dict) else {"value": obj["result"]}
    elif "progress" in obj:
        text = str(obj.get("text") or obj.get("stage") or "")
        report(min(max(float(obj["progress"]), 0.0), 1.0), text)
    else:
        say(line)


# --- staging: outputs appear only when complete ---------------------------------------------

def _staging_folder(dest: Path) -> Path:
    """A new private hidden folder beside ``dest``: the child writes there (with whatever temporary
    files it makes), so removing it leaves nothing behind."""
    folder = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    folder.mkdir()
    return folder


# --- HFreqDiff inference ------------------------------------------------------------------------

def fuse(pan: str, ms: str, out: str | Path, options: "HFreqDiffOptions", sensor: Optional[str] = None,
         tile: Optional[int] = None, progress: Optional[ProgressFn] = None,
         is_cancelled: Optional[Callable[[], bool]] = None, log: Optional[Callable[[str], None]] = None,
         python: Optional[str] = None, overwrite: bool = False,
         layers: Optional[tuple[str, str]] = None, float_output: bool = False, clip: bool = False) -> ChildResult:
    """HFreqDiff into ``out`` through ``fuse --progress json`` (the runtime stays out of QGIS);
    ``layers``: the files the PAN and MS layers show, recorded in the output (PADM_LAYERS). The output,
    and the uncertainty layer beside it when samples > 1, appear only when the child succeeded;
    the result's "output" and "uncertainty" then name their final paths. An existing output is
    refused unless ``overwrite``."""
    from ..engine.pipeline import uncertainty_path_for
    from ..engine.raster.writer import check_raster_output

    out = check_raster_output(out, [pan, ms], overwrite)  # the child sees only the staging name
    if options.samples > 1:
        check_raster_output(uncertainty_path_for(out), [pan, ms], overwrite)
    if options.model:  # the child runs in the home folder
        options = dataclasses.replace(options, model=str(Path(options.model).absolute()))
    staging = _staging_folder(out)
    args = ["fuse", "--pan", str(Path(pan).absolute()), "--ms", str(Path(ms).absolute()),
            "--out", str(staging / out.name), "--method", HFREQDIFF, "--progress", "json", *options.cli_args()]
    if sensor:
        args += ["--sensor", sensor]
    if tile:
        args += ["--tile", str(tile)]
    if layers:
        args += ["--layers", *map(str, layers)]
    args += ["--float"] * float_output + ["--clip"] * clip
    try:
        result = run_cli(args, progress, is_cancelled, log, python)
        if result.ok:
            _move_outputs(result, staging, out.parent)
        return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_outputs(result: ChildResult, staging: Path, folder: Path) -> None:
    """Move the child's output files from ``staging`` into ``folder``, the uncertainty layer first."""
    info = result.result or {}
    if not info.get("output") or not Path(info["output"]).is_file():
        result.error = f"the fuse command reported success but wrote no output in {staging}"
        return
    for key in ("uncertainty", "output"):
        if info.get(key):
            moved = folder / Path(info[key]).name
            os.replace(info[key], moved)
            info[key] = str(moved)


def fuse_result(info: dict) -> "FuseResult":
    """The engine's FuseResult from the child's final {"result": ...} object."""
    from ..engine.pipeline import FuseResult

    spread = info.get("uncertainty")
    return FuseResult(Path(info["output"]), int(info["width"]), int(info["height"]), int(info["bands"]),
                      float(info["seconds"]), list(info.get("notes") or []), str(info.get("method", HFREQDIFF)),
                      str(info.get("provider", "")), Path(spread) if spread else None)


# --- fine-tuning ---------------------------------------------------------------------------

def check_model_destination(out_dir: Path) -> Path:
    """The model folder must be new (or an empty folder) inside an existing, writable folder."""
    from ..engine.errors import PansharpenError

    out_dir = Path(out_dir).expanduser().absolute()
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise PansharpenError(f"Model folder {out_dir} already exists and is not empty: choose a new folder name.")
    parent = out_dir.parent
    if not parent.is_dir():
        parent.mkdir(parents=True, exist_ok=True)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PansharpenError(f"Folder {parent} is not writable: choose another place for the model.")
    return out_dir


def finetune(pan: str, ms: str, out_dir: Path, budget_minutes: float, sensor: Optional[str] = None,
             seed: Optional[int] = None, progress: Optional[ProgressFn] = None,
             is_cancelled: Optional[Callable[[], bool]] = None, log: Optional[Callable[[str], None]] = None,
             python: Optional[str] = None) -> ChildResult:
    """PADM fine-tuning of the scene model into ``out_dir`` through ``finetune --progress json``.

    The folder appears only when the child succeeded; otherwise nothing is left behind."""
    out_dir = check_model_destination(out_dir)
    staging_root = _staging_folder(out_dir)
    staging = staging_root / "model"
    args = ["finetune", "--pan", str(Path(pan).absolute()), "--ms", str(Path(ms).absolute()), "--out", str(staging),
            "--progress", "json", "--budget-minutes", f"{budget_minutes:g}"]
    if sensor:
        args += ["--sensor", sensor]
    if seed is not None:
        args += ["--seed", str(seed)]
    started = time.monotonic()
    try:
        result = run_cli(args, progress, is_cancelled, log, python)
        if result.ok and not staging.is_dir():
            result.error = f"the finetune command reported success but wrote no model folder {staging}"
        if result.ok:
            if out_dir.exists():
                out_dir.rmdir()  # the empty folder a caller (e.g. Processing) may have made
            os.replace(staging, out_dir)
            if result.result is not None:
                result.result.setdefault("seconds", round(time.monotonic() - started, 1))
        return result
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)
