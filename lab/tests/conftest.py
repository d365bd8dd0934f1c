"""Fixtures of the lab's tests: the shared scenes' folder (the tests skip without it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lab.scenes import shared_data_dir

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    data = shared_data_dir()
    if not data.is_dir():
        pytest.skip(f"shared test data not found at {data}")
    return data
