"""The package's layering and acyclicity (import-linter contracts in pyproject.toml) hold."""

from __future__ import annotations

import subprocess

from tests.helpers import REPO, VENV_BIN


def test_import_contracts_are_kept():
    proc = subprocess.run([str(VENV_BIN / "lint-imports")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "BROKEN" not in proc.stdout
