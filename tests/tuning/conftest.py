"""Fixtures of the tuning tests (their helpers: `tests.tuning.toy_study`)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def sweep_dir(tmp_path: Path) -> Path:
    return tmp_path / "sweep"
