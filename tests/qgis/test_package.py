"""The plugin zip: contents and repository rules, then installed into a fresh QGIS profile and
loaded headless (qgis.utils, as QGIS loads plugins; qgis_process.bin) to run an algorithm."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load_tool(name: str):
    """A build tool from tools/ (outside the package: it does not ship), loaded by its path."""
    spec = importlib.util.spec_from_file_location(f"padm_tools_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


packaging = _load_tool("packaging")
PACKAGE, PackageError, build_package = packaging.PACKAGE, packaging.PackageError, packaging.build_package
check_zip, parse_metadata = packaging.check_zip, packaging.parse_metadata
SHARED_READER_MARKERS = ("shared_data_dir", "../shared", "PADM_SHARED_DATA")

# Runs in a child process so that the installed copy, not this checkout, is what gets imported.
LOAD_AND_RUN = r"""
import json, sys
from qgis.core import QgsApplication
app = QgsApplication([], False)
app.initQgis()
import qgis.utils
plugins = QgsApplication.qgisSettingsDirPath() + "python/plugins"
qgis.utils.plugin_paths = [plugins]
sys.path.insert(0, plugins)
sys.path.append(QgsApplication.pkgDataPath() + "/python/plugins")
qgis.utils.updateAvailablePlugins()
from processing.core.Processing import Processing
Processing.initialize()
name = "padm_pansharpening"
report = {"available": qgis.utils.available_plugins, "plugins_dir": plugins,
          "version": qgis.utils.pluginMetadata(name, "version"),
          "hasProcessingProvider": qgis.utils.pluginMetadata(name, "hasProcessingProvider"),
          "loaded": qgis.utils.loadPlugin(name)}
report["module_file"] = sys.modules[name].__file__
report["started"] = qgis.utils.startProcessingPlugin(name)
registry = QgsApplication.processingRegistry()
report["algorithms"] = [a.id() for a in registry.providerById("padm").algorithms()]
import processing
pan, ms, out = sys.argv[1:4]
result = processing.run("padm:pansharpen_classical", {"PAN": pan, "MS": ms, "METHOD": "brovey", "OUTPUT": out})
report["output"] = str(result["OUTPUT"])
report["unloaded"] = qgis.utils.unloadPlugin(name) and registry.providerById("padm") is None
# the desktop path: initGui (iface is None here; the plugin must not need it to register its provider)
report["gui_started"] = qgis.utils.loadPlugin(name) and qgis.utils.startPlugin(name) and registry.providerById("padm") is not None
report["gui_unloaded"] = qgis.utils.unloadPlugin(name) and registry.providerById("padm") is None
print("REPORT " + json.dumps(report))
app.exitQgis()
"""


@pytest.fixture(scope="module")
def plugin_zip(tmp_path_factory) -> Path:
    return build_package(REPO, tmp_path_factory.mktemp("dist"))


def test_zip_contents(plugin_zip: Path):
    from padm_pansharpening.engine import __version__

    assert plugin_zip.name == f"{PACKAGE}-{__version__}.zip"
    with zipfile.ZipFile(plugin_zip) as zf:
        names = zf.namelist()
        meta = parse_metadata(zf.read(f"{PACKAGE}/metadata.txt").decode())
    inner = {n.split("/", 1)[1] for n in names}
    assert all(n.startswith(f"{PACKAGE}/") for n in names)
    assert {"__init__.py", "metadata.txt", "LICENSE", "plugin/provider.py", "plugin/dock.py", "engine/errors.py",
            "resources/icon.svg", "models/hfreqdiff.onnx"} <= inner  # the bundled model ships
    assert plugin_zip.stat().st_size < 25 * 2**20
    assert not [n for n in inner if n.startswith(("tests/", ".git", ".venv", "dist/", "build/"))
                or "__pycache__" in n or n.endswith(".pyc")
                or n in ("resources/screenshot.png", "resources/before_after_landsat8.png")]  # README pictures
    assert meta["version"] == __version__
    commit = meta["commit"]  # the checkout's commit, or "uncommitted" in a repository without one
    if commit != "uncommitted":
        verify = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet",
                                 commit.removesuffix("-dirty") + "^{commit}"], capture_output=True)
        assert verify.returncode == 0, f"stamped commit {commit} is not a commit of this repository"
    assert meta["hasProcessingProvider"] == "yes" and meta["qgisMinimumVersion"] == "3.22"


def test_zip_ships_the_runtime_only(plugin_zip: Path):
    """Only engine/, plugin/, resources/, the bundled model and its card: no lab, build tools, docs,
    tests, training configs or candidate models, and no module that reads the team's ../shared data."""
    from padm_pansharpening.engine.definitions import bundled_models

    with zipfile.ZipFile(plugin_zip) as zf:
        inner = {n.split("/", 1)[1]: n for n in zf.namelist()}
        sources = {rel: zf.read(name).decode("utf-8") for rel, name in inner.items() if rel.endswith(".py")}
    tops = {rel.split("/", 1)[0] for rel in inner if "/" in rel}
    assert tops == {"engine", "plugin", "resources", "models"}, tops  # no lab/, tools/, docs/, tests/
    assert {rel for rel in inner if "/" not in rel} <= {"__init__.py", "__main__.py", "metadata.txt", "LICENSE"}
    models = {rel for rel in inner if rel.startswith("models/")}
    cards = {rel for rel in models if rel.endswith(".md") and rel.count("/") == 1}
    assert models == {f"models/{p.name}" for p in bundled_models()} | cards, models
    weights = [rel for rel in inner if rel.endswith((".onnx", ".pt", ".pth", ".ckpt", ".safetensors"))]
    assert weights == ["models/hfreqdiff.onnx"], weights  # one weights file (issue 16)
    assert not [rel for rel in inner if rel.endswith(".json")]  # no training configs or reports
    assert not [rel for rel in inner if "candidates" in rel or rel.startswith(("plugin/packaging", "plugin/screenshot"))]
    lab_modules = ("engine/bench.py", "engine/datasets.py", "engine/padm/bench_padm.py", "engine/padm/synthetic.py",
                   "engine/hfreqdiff/train.py", "engine/hfreqdiff/compare.py", "engine/hfreqdiff/speed.py",
                   "engine/hfreqdiff/full_resolution.py")
    assert not [m for m in lab_modules if m in inner]
    readers = {rel: marker for rel, text in sources.items() for marker in SHARED_READER_MARKERS if marker in text}
    assert not readers, f"shipped modules that read ../shared: {readers}"
    assert not [rel for rel, text in sources.items() if re.search(r"^\s*(from|import) lab\b", text, re.M)]


def test_allow_list_keeps_out_what_is_not_runtime():
    """The packaging rule itself, on made-up paths: a stray file anywhere stays out of the zip."""
    models = ["hfreqdiff.onnx"]
    shipped = ["__init__.py", "metadata.txt", "engine/x.py", "engine/cli/fuse.py", "plugin/dock.py",
               "resources/icon.png", "models/hfreqdiff.onnx", "models/HFREQDIFF_MODEL_CARD.md"]
    kept_out = ["README.md", "build.py", "lab/bench.py", "tools/packaging.py", "docs/gpu.md", "tests/test_x.py",
                "models/hfreqdiff.pt",
                "models/hfreqdiff_train.json", "models/candidates/a.pt", "models/candidates/README.md",
                "models/other.onnx", "engine/__pycache__/x.pyc", "engine/notes.txt", "engine/.hidden.py",
                "resources/screenshot.png", "resources/before_after_landsat8.png", "plugin/x.py.orig"]
    assert [r for r in shipped if not packaging.is_shipped(r, models)] == []
    assert [r for r in kept_out if packaging.is_shipped(r, models)] == []
    assert packaging.bundled_model_names(REPO) == models


def test_repository_rules_are_enforced(plugin_zip: Path, tmp_path: Path):
    from padm_pansharpening.engine import __version__

    def rezip(name: str, drop: str = "", add: tuple[str, bytes] = ("", b"")) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(plugin_zip) as src, zipfile.ZipFile(path, "w") as dst:
            for item in src.infolist():
                if item.filename != drop:
                    dst.writestr(item, src.read(item))
            if add[0]:
                dst.writestr(add[0], add[1])
        return path

    check_zip(plugin_zip, __version__)
    with pytest.raises(PackageError, match="LICENSE"):
        check_zip(rezip("nolicense.zip", drop=f"{PACKAGE}/LICENSE"), __version__)
    with pytest.raises(PackageError, match="one top-level folder"):
        check_zip(rezip("twotops.zip", add=("other/x.py", b"")), __version__)
    with pytest.raises(PackageError, match="compiled"):
        check_zip(rezip("pyc.zip", add=(f"{PACKAGE}/engine/__pycache__/x.cpython-311.pyc", b"")), __version__)
    with pytest.raises(PackageError, match="allow-list"):
        check_zip(rezip("lab.zip", add=(f"{PACKAGE}/lab/bench.py", b"")), __version__)
    with pytest.raises(PackageError, match="exactly one, models/hfreqdiff.onnx"):  # a second weights file
        check_zip(rezip("pt.zip", add=(f"{PACKAGE}/models/hfreqdiff.pt", b"")), __version__)
    with pytest.raises(PackageError, match="exactly one, models/hfreqdiff.onnx"):  # none
        check_zip(rezip("nomodel.zip", drop=f"{PACKAGE}/models/hfreqdiff.onnx"), __version__)
    with pytest.raises(PackageError, match="not stamped"):
        check_zip(plugin_zip, "9.9.9")
    big = rezip("big.zip", add=(f"{PACKAGE}/models/huge.bin", os.urandom(26 * 2**20)))
    with pytest.raises(PackageError, match="25 MB"):
        check_zip(big, __version__)


def test_build_script_runs_from_command_line(tmp_path: Path):
    run = subprocess.run([sys.executable, str(REPO / "tools" / "packaging.py"), "--out-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"wrote {tmp_path}") and len(run.stdout.strip().splitlines()) == 1


@pytest.fixture
def installed_profile(plugin_zip: Path, tmp_path: Path) -> Path:
    """A fresh QGIS profile folder with the zip extracted into its python/plugins, as the plugin manager does."""
    profile = tmp_path / "qgis_config"
    plugins = profile / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    with zipfile.ZipFile(plugin_zip) as zf:
        zf.extractall(plugins)
    return profile


def test_installed_zip_loads_through_qgis_utils_and_runs(installed_profile, headless_env, shared_data, tmp_path,
                                                          check_fused):
    from padm_pansharpening.engine import __version__

    pan = str(shared_data / "landsat_oli_istanbul_geotiff" / "pan.tif")
    ms = str(shared_data / "landsat_oli_istanbul_geotiff" / "ms.tif")
    out = tmp_path / "fused_from_zip.tif"
    run = subprocess.run([sys.executable, "-I", "-c", LOAD_AND_RUN, pan, ms, str(out)],
                         env=headless_env(installed_profile),
                         capture_output=True, text=True, timeout=300)
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("REPORT ")]
    assert run.returncode == 0 and lines, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(lines[0][len("REPORT "):])
    plugin_dir = Path(report["plugins_dir"]) / PACKAGE
    assert plugin_dir.resolve() == (installed_profile / "profiles/default/python/plugins" / PACKAGE).resolve()
    assert PACKAGE in report["available"]
    assert report["version"] == __version__ and report["hasProcessingProvider"] == "yes"
    assert report["loaded"] and report["started"] and report["unloaded"]
    assert report["gui_started"] and report["gui_unloaded"]
    assert Path(report["module_file"]).resolve() == (plugin_dir / "__init__.py").resolve()  # the installed copy
    assert sorted(report["algorithms"]) == ["padm:evaluate", "padm:finetune", "padm:pansharpen",
                                            "padm:pansharpen_classical"]
    assert Path(report["output"]) == out
    check_fused(str(out), pan, ms)


def test_installed_zip_runs_under_qgis_process(installed_profile, qgis_process, shared_data, tmp_path, check_fused):
    pan = str(shared_data / "wv3_hpf_geotiff" / "pan.tif")
    ms = str(shared_data / "wv3_hpf_geotiff" / "mul.tif")
    out = tmp_path / "fused_qp_zip.tif"
    enable = qgis_process(installed_profile, "plugins", "enable", PACKAGE)
    assert enable.returncode == 0, enable.stderr
    run = qgis_process(installed_profile, "run", "padm:pansharpen_classical", "--", f"PAN={pan}", f"MS={ms}",
                       "METHOD=bdsd-pc", "SENSOR=WV3", f"OUTPUT={out}")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    check_fused(str(out), pan, ms)


def test_installed_zip_hfreqdiff_under_qgis_process_needs_only_the_profile_packages(
        installed_profile, qgis_process, scenes, tmp_path, check_fused):
    """QGIS's own Python (the system's here) has no onnxruntime: the algorithm says so in one line.
    Once onnxruntime is in the profile's packages folder — where the panel's installer puts it —
    the plugin finds it at load and HFreqDiff runs."""
    import onnxruntime

    pan, ms = scenes["wv3"]
    out = tmp_path / "hfd_qp.tif"
    assert qgis_process(installed_profile, "plugins", "enable", PACKAGE).returncode == 0
    args = ("run", "padm:pansharpen", "--", f"PAN={pan}", f"MS={ms}", "STEPS=1", f"OUTPUT={out}")
    probe = subprocess.run(["/usr/bin/python3", "-c", "import onnxruntime"], capture_output=True)
    if probe.returncode != 0:  # the situation of a fresh QGIS
        missing = qgis_process(installed_profile, *args)
        assert missing.returncode != 0 and not out.exists()
        lines = [ln for ln in (missing.stdout + missing.stderr).splitlines() if "onnxruntime" in ln]
        assert lines and "Missing in QGIS's Python: onnxruntime" in lines[0] and "pip" in lines[0], lines
        assert "Traceback" not in missing.stdout + missing.stderr
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    packages = installed_profile / "profiles" / "default" / PACKAGE / version
    packages.mkdir(parents=True)
    (packages / "onnxruntime").symlink_to(Path(onnxruntime.__file__).parent, target_is_directory=True)
    run = qgis_process(installed_profile, *args)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    check_fused(str(out), pan, ms)


def test_installed_zip_finetune_without_torch_says_so_in_one_line(installed_profile, qgis_process, scenes, tmp_path):
    if subprocess.run(["/usr/bin/python3", "-c", "import torch"], capture_output=True).returncode == 0:
        pytest.skip("QGIS's Python has torch here: nothing is missing")
    pan, ms = scenes["wv3"]
    assert qgis_process(installed_profile, "plugins", "enable", PACKAGE).returncode == 0
    run = qgis_process(installed_profile, "run", "padm:finetune", "--", f"PAN={pan}", f"MS={ms}",
                       f"OUTPUT={tmp_path / 'model'}")
    assert run.returncode != 0 and not (tmp_path / "model").exists()
    lines = [ln for ln in (run.stdout + run.stderr).splitlines() if "torch" in ln]
    assert lines and "Missing in QGIS's Python: torch (needed for PADM fine-tuning)" in lines[0], lines
    assert "Traceback" not in run.stdout + run.stderr
