"""A downstream project's mypy sees our public API's real types (the package ships `py.typed`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import lalm_framework

GOOD = """\
from omegaconf import DictConfig

from lalm_framework import compose, instantiate, run

cfg: DictConfig = compose(["experiment=digits"], config_name="train")
metric: float | None = run(cfg)
model = instantiate(cfg.model)
"""

BAD = """\
from lalm_framework import compose, run

cfg = compose("experiment=digits")
metric: str = run(cfg)
"""


def test_the_public_functions_are_the_real_ones() -> None:
    from lalm_framework.api import compose
    from lalm_framework.compat.instantiate import instantiate
    from lalm_framework.runner import run

    assert (lalm_framework.compose, lalm_framework.run, lalm_framework.instantiate) == (compose, run, instantiate)
    for f in (compose, run, instantiate):
        assert f.__doc__ and ">>> from lalm_framework import" in f.__doc__, f"{f.__name__}: no example"
    assert (Path(lalm_framework.__file__).parent / "py.typed").is_file()


@pytest.mark.slow  # mypy follows the imports into omegaconf/hydra: ~25 s of CPU
def test_downstream_mypy_sees_our_signatures(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / "bad.py").write_text(BAD)
    # outside the repo (no mypy config, no mypy_path): the package is found as installed
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "good.py", "bad.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = result.stdout + result.stderr
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert not [e for e in errors if e.startswith("good.py")], out  # no "missing py.typed", no Any leaks
    assert any(e.startswith("bad.py:3:") and '"compose" has incompatible type "str"' in e for e in errors), out
    assert any(e.startswith("bad.py:4:") and '"float | None"' in e for e in errors), out
    assert len(errors) == 2, out
