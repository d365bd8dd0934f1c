#!/usr/bin/env python3
"""Task runner for PADM Pansharpening: setup | run | test | bench | package.

Every task but `setup` first runs `setup`, which is idempotent: it installs the Debian packages
when missing (QGIS 3.22 with Python bindings, GDAL, python3-venv), makes `.venv` from
/usr/bin/python3 with --system-site-packages (so QGIS and GDAL are visible), installs the pinned
pip requirements and makes the package `padm_pansharpening` importable from `.venv`.
Standard library only: this file runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VPY = VENV / "bin" / "python"
SYSTEM_PYTHON = "/usr/bin/python3"
DEBIAN_PACKAGES = ["python3-qgis", "qgis", "qgis-providers", "python3-gdal", "gdal-bin", "python3-venv"]
LOCAL_WHEELS = Path("/opt/wheels")  # the CPU torch wheel lies here on these machines


def say(msg: str) -> None:
    print(f"[build] {msg}", flush=True)


def fail(msg: str) -> None:
    print(f"[build] error: {msg}", file=sys.stderr, flush=True)
    sys.exit(2)


def sh(cmd: list[str], **kw) -> None:
    result = subprocess.run(cmd, **kw)
    if result.returncode != 0:
        fail(f"command failed ({result.returncode}): {' '.join(cmd)}")


def missing_debian_packages() -> list[str]:
    missing = []
    for pkg in DEBIAN_PACKAGES:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True)
        if "install ok installed" not in r.stdout:
            missing.append(pkg)
    return missing


def ensure_debian_packages() -> None:
    missing = missing_debian_packages()
    if not missing:
        return
    say(f"installing Debian packages: {' '.join(missing)} (a few minutes)")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    sh(sudo + ["apt-get", "update", "-qq"], env=env)
    sh(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env)


def ensure_venv() -> None:
    if not VPY.exists():
        say("creating .venv from /usr/bin/python3 (--system-site-packages)")
        sh([SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", str(VENV)])
    req = ROOT / "requirements.txt"
    stamp = VENV / ".requirements.sha256"
    digest = hashlib.sha256(req.read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text().strip() != digest:
        say("installing pinned Python requirements into .venv")
        extra = ["--find-links", str(LOCAL_WHEELS)] if LOCAL_WHEELS.is_dir() else []
        sh([str(VPY), "-m", "pip", "install", "-q", "--disable-pip-version-check", *extra, "-r", str(req)])
        stamp.write_text(digest)
    link_package()


def link_package() -> None:
    """Make `import padm_pansharpening` resolve to this checkout inside .venv."""
    site = subprocess.run(
        [str(VPY), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    link = Path(site) / "padm_pansharpening"
    if link.is_symlink() and link.resolve() == ROOT:
        return
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.exists():
        shutil.rmtree(link)
    link.symlink_to(ROOT, target_is_directory=True)


def setup() -> None:
    ensure_debian_packages()
    ensure_venv()


def venv_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    env["GDAL_PAM_ENABLED"] = "NO"  # nothing (GDAL statistics .aux.xml) is ever written beside ../shared
    return env


def run_in_venv(args: list[str]) -> int:
    return subprocess.run([str(VPY), *args], cwd=ROOT, env=venv_env()).returncode


def main(argv: list[str]) -> int:
    tasks = ("setup", "run", "test", "bench", "train", "package", "screenshot")
    if not argv or argv[0] not in tasks:
        print(f"usage: python3 build.py {{{'|'.join(tasks)}}} [args...]\n"
              "  run        pansharpen the synthetic demo scene (or --pan P --ms M) -> GeoTIFF + PNG preview\n"
              "  test       run the whole test suite\n"
              "  bench      quality and speed tables (markdown on stdout, JSON in build/bench.json; lab/)\n"
              "  train      train HFreqDiff: train --config lab/configs/hfreqdiff_train.json (lab/)\n"
              "  package    plugin zip in dist/\n"
              "  screenshot render the dock beside a fused result into resources/screenshot.png")
        return 2
    task, rest = argv[0], argv[1:]
    setup()
    if task == "setup":
        say("setup complete")
        return 0
    if task == "run":
        return run_in_venv(["-m", "padm_pansharpening", "demo", *rest])
    if task == "test":
        return run_in_venv(["-m", "pytest", "-q", *rest])
    if task == "bench":
        return run_in_venv(["-m", "lab.bench", *rest])
    if task == "train":
        return run_in_venv(["-m", "lab.train", *rest])
    if task == "package":
        return run_in_venv([str(ROOT / "tools" / "packaging.py"), *rest])
    if task == "screenshot":
        return run_in_venv([str(ROOT / "tools" / "screenshot.py"), *rest])
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
