"""Helpers for the launcher tests: a tiny Hydra app run as a real `python app.py -m` process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.launching.pool_app import APP


@pytest.fixture
def pool_app(tmp_path: Path):
    """Write the app; return a function that starts `python app.py -m ...` and a Popen for it."""
    app = tmp_path / "app.py"
    app.write_text(APP)

    def start(overrides: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        full_env = dict(os.environ) if env is None else env
        cmd = [
            sys.executable,
            str(app),
            "-m",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
            "hydra/launcher=lalm_pool",
            "hydra.launcher.status_line=true",
            "hydra.launcher.preload=[]",  # the app needs no torch: keep the tests lean
            *overrides,
        ]
        return subprocess.Popen(
            cmd, cwd=tmp_path, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    return start
