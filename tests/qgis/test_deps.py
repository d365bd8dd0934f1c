"""Optional dependencies inside QGIS: the plugin loads without them, says what is missing in one line,
and installs with pip into a folder of the QGIS profile that it puts on sys.path."""

from __future__ import annotations

import base64
import gc
import hashlib
import os
import re
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtCore import QCoreApplication

from padm_pansharpening.plugin import deps
from padm_pansharpening.plugin.installer import PipInstallTask

REPO = Path(__file__).resolve().parents[2]


def wait_for(task, timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while task.status() not in (task.Complete, task.Terminated):
        assert time.monotonic() < end, "pip task timed out"
        QCoreApplication.processEvents()
        time.sleep(0.05)
    for _ in range(20):  # let finished() run
        QCoreApplication.processEvents()


def make_wheel(folder: Path, name: str, version: str = "1.0", requires: tuple[str, ...] = ()) -> Path:
    """A minimal pure-Python wheel (PEP 427), built by hand so the test needs no network."""
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {f"{name}/__init__.py": b"VALUE = 42\n",
             f"{name}-{version}.dist-info/METADATA": metadata.encode(),
             f"{name}-{version}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{name}-{version}.dist-info/RECORD,,")
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
        zf.writestr(f"{name}-{version}.dist-info/RECORD", "\n".join(record) + "\n")
    return wheel


def test_packages_folder_is_in_the_profile_not_the_plugin():
    folder = deps.packages_folder()
    profile = Path(QgsApplication.qgisSettingsDirPath()).resolve()
    assert folder.resolve().is_relative_to(profile)
    assert not folder.resolve().is_relative_to(REPO / "plugin") and "plugins" not in folder.parts
    assert folder.name == f"python{sys.version_info.major}.{sys.version_info.minor}"


def test_pip_command_picks_the_gpu_build_where_a_gpu_is(tmp_path):
    cpu = deps.pip_command(["onnxruntime"], tmp_path, gpu=False)
    gpu = deps.pip_command(["onnxruntime"], tmp_path, gpu=True)
    assert cpu[1:4] == ["-m", "pip", "install"] and cpu[-1] == "onnxruntime>=1.18,<1.24"
    assert gpu[-1] == "onnxruntime-gpu>=1.18,<1.24"
    assert cpu[cpu.index("--target") + 1] == str(tmp_path)
    torch_cpu = deps.pip_command(["torch"], tmp_path, gpu=False)
    assert deps.TORCH_CPU_INDEX in torch_cpu and torch_cpu[-1] == "torch==2.13.0"  # CPU wheel, not the CUDA one
    assert deps.TORCH_CPU_INDEX not in deps.pip_command(["torch"], tmp_path, gpu=True)
    constraints = deps.write_constraints(tmp_path)
    import numpy

    assert constraints.read_text().split() == [f"numpy<{int(numpy.__version__.split('.')[0]) + 1}"]


def test_missing_line_is_one_line_with_the_fix(monkeypatch):
    monkeypatch.setattr(deps, "is_available", lambda m: False)
    line = deps.missing_line(deps.all_missing())
    assert "\n" not in line and "onnxruntime (needed for HFreqDiff)" in line and "torch" in line
    assert "Install onnxruntime and torch" in line and "pip install" in line and str(deps.packages_folder()) in line
    assert "Install onnxruntime in" in deps.missing_line(deps.missing("hfreqdiff"))  # as the button reads
    assert deps.missing("finetune")[0].module == "torch" and deps.missing_line([]) == ""


def test_install_task_puts_packages_where_the_plugin_finds_them(tmp_path):
    """Pinned requirement resolved, then only what QGIS's Python lacks installed: the probe and its
    own dependency, not a second numpy; the dock sees a few short stages, pip's output goes to the log file."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "padm_probe_pkg", requires=("numpy>=1.0", "padm_probe_dep"))
    make_wheel(wheels, "padm_probe_dep", "2.0")
    make_wheel(wheels, "numpy", "99.0")  # what pip --target would otherwise put beside QGIS's numpy
    target = tmp_path / "profile" / "padm_pansharpening" / "python3.x"
    lines: list[str] = []
    stages: list[str] = []
    done: list[PipInstallTask] = []
    task = PipInstallTask(["padm_probe_pkg"], done.append, target=target,
                          extra_args=("--no-index", "--find-links", str(wheels)))
    task.logged.connect(lines.append)
    task.stage.connect(stages.append)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            QgsApplication.taskManager().addTask(task)
            wait_for(task)
            gc.collect()
        assert done == [task] and task.error == "", task.error + "\n".join(lines)
        assert str(target) in sys.path  # activated in finished(), in the main thread
        import padm_probe_pkg

        assert padm_probe_pkg.VALUE == 42 and Path(padm_probe_pkg.__file__).parent.parent == target
        assert task.installed == ["padm_probe_pkg==1.0", "padm_probe_dep==2.0"] and task.skipped == ["numpy"]
        assert not list(target.glob("numpy*")) and (target / "padm_probe_dep").is_dir()
        assert "--target" in task.command and "--no-deps" in task.command
        assert task.command[0] == deps.python_executable()
        assert lines == []  # nothing of pip's output in the dock's log
        assert stages[0] == "resolving padm_probe_pkg" and "downloading padm_probe_pkg (1/2)" in stages
        assert len(stages) <= 5 and all(len(s) < 60 for s in stages)
        assert "padm_probe_pkg" in task.log_path.read_text()  # the whole output is in the log file
        assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
    finally:
        if str(target) in sys.path:
            sys.path.remove(str(target))
        sys.modules.pop("padm_probe_pkg", None)


def test_pins_are_those_of_requirements_txt():
    pinned = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            pinned[re.split(r"[<>=!~\[ ]", line, maxsplit=1)[0]] = line
    for dep in deps.DEPENDENCIES.values():
        assert dep.requirement == pinned[dep.package], dep
        assert dep.gpu_requirement.replace("onnxruntime-gpu", "onnxruntime") == pinned[dep.package]


def test_interpreter_is_qgis_own_not_the_first_python_on_path(tmp_path, monkeypatch):
    """Issue 16 item 5: a decoy `python3` first on PATH (a pyenv shim running another Python) and
    in sys.executable is not used for pip; the interpreter of this very Python is."""
    decoy_dir = tmp_path / "shims"
    decoy_dir.mkdir()
    decoy = decoy_dir / "python3"
    # another prefix, as a pyenv shim's Python has: -I and a foreign sys.prefix
    decoy.write_text("#!/bin/sh\nexec /usr/bin/python3 -I -c 'import sys; print(\"/opt/pyenv/versions/3.11\"); "
                     "print(sys.version)'\n")
    decoy.chmod(0o755)
    (decoy_dir / f"python{sys.version_info.major}.{sys.version_info.minor}").symlink_to(decoy)
    monkeypatch.setenv("PATH", f"{decoy_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(sys, "executable", str(decoy))
    deps._resolve_python.cache_clear()
    try:
        candidates = deps.interpreter_candidates(sys.executable, os.environ["PATH"])
        assert str(decoy) in candidates  # it is looked at...
        chosen = deps.python_executable()
        assert Path(chosen).parent != decoy_dir  # ...and refused
        probe = subprocess.run([chosen, "-c", "import sys; print(sys.prefix); print(sys.version)"],
                               capture_output=True, text=True, check=True).stdout.splitlines()
        assert os.path.realpath(probe[0]) == os.path.realpath(sys.prefix) and probe[1] == sys.version.splitlines()[0]
        assert deps.pip_command(["onnxruntime"], tmp_path, gpu=False)[0] == chosen
    finally:
        deps._resolve_python.cache_clear()


def test_failed_install_is_one_line_with_the_log(tmp_path):
    done: list[PipInstallTask] = []
    task = PipInstallTask(["padm_no_such_pkg"], done.append, target=tmp_path / "pkgs",
                          extra_args=("--no-index", "--find-links", str(tmp_path)))
    QgsApplication.taskManager().addTask(task)
    wait_for(task)
    assert done == [task] and task.returncode not in (0, None)
    assert "\n" not in task.error and "pip failed" in task.error and str(task.log_path) in task.error
    assert str(tmp_path / "pkgs") not in sys.path


def test_plugin_loads_without_onnxruntime_and_offers_the_install(qgis_iface, monkeypatch):
    import padm_pansharpening
    from padm_pansharpening.plugin import dock as dock_module

    real = deps.is_available
    monkeypatch.setattr(deps, "is_available", lambda m: False if m in ("onnxruntime", "torch") else real(m))
    pushed = []
    bar = qgis_iface.messageBar()
    monkeypatch.setattr(bar, "pushWidget", lambda item, level=0, duration=0: pushed.append(item))
    asked: list[bool] = []
    monkeypatch.setattr(dock_module.PadmDock, "install_dependencies", lambda self, modules=None: asked.append(True))
    plugin = padm_pansharpening.classFactory(qgis_iface)
    plugin.initGui()
    try:
        assert QgsApplication.processingRegistry().providerById("padm") is not None
        (item,) = pushed
        assert "\n" not in item.text() and "onnxruntime" in item.text()
        assert "torch" not in item.text()  # needed only to fine-tune: said when fine-tuning is chosen
        from qgis.PyQt.QtWidgets import QPushButton

        (button,) = item.findChildren(QPushButton)
        assert button.text() == "Install onnxruntime" and "Click Install onnxruntime" in item.text()
        assert plugin.dock is None  # nothing opened at load
        button.click()
        assert asked == [True] and plugin.dock is not None and plugin.dock.isVisibleTo(plugin.dock.parentWidget())
        assert plugin.dock.install_button.isVisibleTo(plugin.dock)
    finally:
        plugin.unload()
    assert plugin.dock is None and plugin.action is None


def test_dock_says_what_the_method_needs_and_clears_it_once_installed(qgis_iface, qgis_new_project, scenes,  # noqa: ARG001
                                                                       tmp_path, monkeypatch):
    """Issue 16 items 6-7: torch is named only for fine-tuning; the message bar, the dock's error and
    the button say the same 'Install onnxruntime'; a refused run leaves no old 100 % on the bar; after
    the install the 'Missing…' message bar item and the dock's 'Failed: Missing…' are gone."""
    import padm_pansharpening
    from padm_pansharpening.plugin import dependency_panel
    from qgis.core import QgsProject, QgsRasterLayer

    absent = {"onnxruntime", "torch"}
    real = deps.is_available
    monkeypatch.setattr(deps, "is_available", lambda m: False if m in absent else real(m))
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "padm_probe_pkg")
    target = tmp_path / "pkgs"

    def probe_install(modules, on_finished):  # the real task, offline: a local wheel stands for onnxruntime
        assert modules == ["onnxruntime"]
        return PipInstallTask(["padm_probe_pkg"], lambda t: (absent.discard("onnxruntime"), on_finished(t)),
                              target=target, extra_args=("--no-index", "--find-links", str(wheels)))

    monkeypatch.setattr(dependency_panel, "PipInstallTask", probe_install)
    bar = qgis_iface.messageBar()
    bar.clear_messages()
    plugin = padm_pansharpening.classFactory(qgis_iface)
    plugin.initGui()
    try:
        (startup,) = [i for i in bar.items() if "Missing in QGIS's Python" in i.text()]
        assert "torch" not in startup.text()
        plugin.show_dock(True)
        dock = plugin.dock
        dock.set_method("hfreqdiff")
        assert "onnxruntime" in dock.deps_label.text() and "torch" not in dock.deps_label.text()
        assert dock.install_button.text() == "Install onnxruntime"
        dock.set_method("finetune")
        assert "torch" in dock.deps_label.text() and dock.install_button.text() == "Install onnxruntime and torch"
        dock.set_method("gsa")
        assert not dock.deps_panel.isVisibleTo(dock)  # a classical method needs nothing
        dock.set_method("hfreqdiff")

        pan, ms = scenes["wv3"]
        layers = [QgsRasterLayer(pan, "pan", "gdal"), QgsRasterLayer(ms, "ms", "gdal")]
        QgsProject.instance().addMapLayers(layers)
        dock.pan_combo.setLayer(layers[0])
        dock.ms_combo.setLayer(layers[1])
        dock.progress.setValue(100)  # left over from an earlier run
        assert dock.run() is None
        (error,) = bar.get_messages(Qgis.Critical)
        assert "Click Install onnxruntime" in error and dock.install_button.text() == "Install onnxruntime"
        assert dock.progress.value() == 0 and dock.stage_label.text().startswith("Failed: Missing")

        task = dock.install_dependencies()
        wait_for(task)
        assert task.error == "" and dock.install_task is None
        assert not [i for i in bar.items() if "Missing in QGIS's Python" in i.text()]
        assert dock.stage_label.text() == "Ready." and dock.progress.value() == 0
        assert not dock.deps_panel.isVisibleTo(dock)  # nothing missing for HFreqDiff any more
        assert "installed padm_probe_pkg==1.0" in dock.log.toPlainText()
    finally:
        plugin.unload()
        if str(target) in sys.path:
            sys.path.remove(str(target))
        sys.modules.pop("padm_probe_pkg", None)
