"""Optional dependencies inside QGIS: the plugin loads without them, says what is missing in one line,
and installs with pip into a folder of the QGIS profile that it puts on sys.path."""

from __future__ import annotations

import base64
import hashlib
import sys
import time
import zipfile
from pathlib import Path

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QCoreApplication

from padm_pansharpening.plugin import deps
from padm_pansharpening.plugin.tasks import PipInstallTask

REPO = Path(__file__).resolve().parents[2]


def wait_for(task, timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while task.status() not in (task.Complete, task.Terminated):
        assert time.monotonic() < end, "pip task timed out"
        QCoreApplication.processEvents()
        time.sleep(0.05)
    for _ in range(20):  # let finished() run
        QCoreApplication.processEvents()


def make_wheel(folder: Path, name: str, version: str = "1.0") -> Path:
    """A minimal pure-Python wheel (PEP 427), built by hand so the test needs no network."""
    files = {f"{name}/__init__.py": b"VALUE = 42\n",
             f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
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
    assert cpu[1:4] == ["-m", "pip", "install"] and cpu[-1] == "onnxruntime" and gpu[-1] == "onnxruntime-gpu"
    assert cpu[cpu.index("--target") + 1] == str(tmp_path)
    torch_cpu = deps.pip_command(["torch"], tmp_path, gpu=False)
    assert deps.TORCH_CPU_INDEX in torch_cpu and torch_cpu[-1] == "torch"  # CPU wheel, not the CUDA one
    assert deps.TORCH_CPU_INDEX not in deps.pip_command(["torch"], tmp_path, gpu=True)
    constraints = deps.write_constraints(tmp_path)
    import numpy

    assert constraints.read_text().split() == [f"numpy<{int(numpy.__version__.split('.')[0]) + 1}"]


def test_missing_line_is_one_line_with_the_fix(monkeypatch):
    monkeypatch.setattr(deps, "is_available", lambda m: False)
    line = deps.missing_line(deps.all_missing())
    assert "\n" not in line and "onnxruntime (needed for HFreqDiff)" in line and "torch" in line
    assert "Install dependencies" in line and "pip install" in line and str(deps.packages_folder()) in line
    assert deps.missing("finetune")[0].module == "torch" and deps.missing_line([]) == ""


def test_install_task_puts_packages_where_the_plugin_finds_them(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "padm_probe_pkg")
    target = tmp_path / "profile" / "padm_pansharpening" / "python3.x"
    lines: list[str] = []
    done: list[PipInstallTask] = []
    task = PipInstallTask(["padm_probe_pkg"], done.append, target=target,
                          extra_args=("--no-index", "--find-links", str(wheels)))
    task.logged.connect(lines.append)
    try:
        QgsApplication.taskManager().addTask(task)
        wait_for(task)
        assert done == [task] and task.error == "", task.error + "\n".join(lines)
        assert str(target) in sys.path  # activated in finished(), in the main thread
        import padm_probe_pkg

        assert padm_probe_pkg.VALUE == 42 and Path(padm_probe_pkg.__file__).parent.parent == target
        assert "--target" in task.command and lines[0].startswith("$ ")
        assert "padm_probe_pkg" in task.log_path.read_text()
    finally:
        if str(target) in sys.path:
            sys.path.remove(str(target))
        sys.modules.pop("padm_probe_pkg", None)


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
        assert "\n" not in item.text() and "onnxruntime" in item.text() and "torch" in item.text()
        from qgis.PyQt.QtWidgets import QPushButton

        (button,) = item.findChildren(QPushButton)
        assert plugin.dock is None  # nothing opened at load
        button.click()
        assert asked == [True] and plugin.dock is not None and plugin.dock.isVisibleTo(plugin.dock.parentWidget())
        assert plugin.dock.install_button.isVisibleTo(plugin.dock)
    finally:
        plugin.unload()
    assert plugin.dock is None and plugin.action is None
