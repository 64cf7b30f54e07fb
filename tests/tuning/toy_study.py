"""The toy learning-curve sweep of the tuning tests: run it, open the study it left."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import cli_env

ROOT = Path(__file__).resolve().parents[2]
TOY_APP = ROOT / "examples" / "optuna_curves" / "app.py"


def toy_cmd(sweep_dir: Path, *overrides: str) -> list[str]:
    """The command line of a toy sweep in `sweep_dir` (no plots unless asked: they take seconds)."""
    return [sys.executable, str(TOY_APP), "-m", f"hydra.sweep.dir={sweep_dir}", "hydra.sweeper.plots=false", *overrides]


def run_toy(sweep_dir: Path, *overrides: str, check: bool = True, timeout: float = 240) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        toy_cmd(sweep_dir, *overrides),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=sweep_dir.parent,
        env=toy_env(),
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"toy sweep failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def start_toy(sweep_dir: Path, log: Path, *overrides: str) -> subprocess.Popen:
    """A toy sweep in the background, in its own session (killpg stops it whole), output to `log`."""
    with open(log, "w") as out:
        return subprocess.Popen(
            toy_cmd(sweep_dir, *overrides),
            cwd=log.parent,
            env=toy_env(),
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def toy_env() -> dict:
    return cli_env()


def load_study(sweep_dir: Path, storage: str | None = None):
    """The (only) study of a sweep dir's default SQLite storage."""
    import optuna

    url = storage or f"sqlite:///{sweep_dir / 'optuna.db'}"
    (summary,) = optuna.get_all_study_summaries(url)
    return optuna.load_study(study_name=summary.study_name, storage=url)
