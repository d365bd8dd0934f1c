"""Shared test settings: headless Qt, and the location of the team's shared test data."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# No GDAL sidecars: QGIS layers (and GDAL statistics) would write <file>.aux.xml beside the inputs,
# which live in ../shared and must never be written (subprocesses inherit this too).
os.environ["GDAL_PAM_ENABLED"] = "NO"

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def _shared_files() -> set[Path]:
    return {p for p in SHARED.rglob("*") if p.is_file()} if SHARED.is_dir() else set()


_SHARED_BEFORE = _shared_files()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """/work/shared/data (real PAN/MS pairs); the test is skipped when it is missing."""
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"shared test data not found at {data}")
    return data


@pytest.fixture(autouse=True)
def collect_gdal_garbage():
    """Free GDAL objects caught in reference cycles (e.g. exception tracebacks) while GDAL is alive:
    collected after pytest-qgis has shut QGIS (and GDAL's driver manager) down, they crash the
    interpreter at exit."""
    yield
    gc.collect()


_EXIT_STATUS = {"code": 0}


def pytest_sessionfinish(session, exitstatus):
    _EXIT_STATUS["code"] = int(exitstatus)
    written = sorted(_shared_files() - _SHARED_BEFORE)
    if written:  # the suite must never write beside the shared data: fail the run, naming the files
        print(f"\nERROR: the tests wrote into {SHARED}: " + ", ".join(map(str, written)), flush=True)
        _EXIT_STATUS["code"] = _EXIT_STATUS["code"] or 1


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Leave without the interpreter's teardown once the results are reported.

    QGIS 3.22 with Processing initialised crashes (SIGSEGV, no Python frame) in C++ static
    destructors after QgsApplication.exitQgis(); that would turn a green run into exit code 139.
    Exiting here keeps pytest's own exit status.
    """
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_EXIT_STATUS["code"])
