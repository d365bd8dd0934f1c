"""Shared test settings: headless Qt, and the location of the team's shared test data."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


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
