"""What runs before any job is launched: validate every job of a sweep, dry runs, keep old files.

A Hydra callback (`hydra.callbacks.validate_jobs` in train.yaml), so it covers every launcher.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from lalm_framework.config.validate import compose_jobs
from lalm_framework.errors import UserError, exit_with


def expand_basic_sweep(config: DictConfig) -> list[list[str]]:
    """The jobs the BasicSweeper will run, in order, as override lists."""
    from lalm_framework.compat.private_api import basic_sweep_jobs

    params = config.hydra.sweeper.get("params") or {}
    return basic_sweep_jobs([f"{k}={v}" for k, v in params.items()] + list(config.hydra.overrides.task))


def _is_basic_sweeper(config: DictConfig) -> bool:
    from hydra.utils import get_class

    from lalm_framework.compat.private_api import basic_sweeper_class

    target = config.hydra.sweeper.get("_target_")
    return target is not None and get_class(str(target)) is basic_sweeper_class()


def print_dry_run(config: DictConfig, title: str, lines: Sequence[str]) -> None:
    """What a run or sweep would do (`dry_run=true`): `title`, one line per job or searched
    parameter, the launcher and what it would request; nothing is launched.

    The one dry-run printer: the job list of Hydra's sweeps and lalm_optuna's study use it alike.
    """
    try:  # show what will be requested (tasks_per_node=${trainer.devices} -> 2)
        node = OmegaConf.to_container(config.hydra.launcher, resolve=True)
    except Exception:
        node = OmegaConf.to_container(config.hydra.launcher, resolve=False)
    launcher = {str(k): v for k, v in node.items()} if isinstance(node, dict) else {}
    target = str(launcher.pop("_target_", "?"))
    print(f"dry run: {title} for launcher {target.rsplit('.', 1)[-1]}")
    for line in lines:
        print(f"  {line}")
    resources = {k: v for k, v in launcher.items() if v not in (None, {}, [])}
    if resources:
        print("resources: " + ", ".join(f"{k}={v}" for k, v in resources.items()))
    print("nothing was launched (dry_run=true)")


def _print_jobs(config: DictConfig, jobs: Sequence[Sequence[str]]) -> None:
    lines = [f"#{idx}: {' '.join(overrides) or '(no overrides)'}" for idx, overrides in enumerate(jobs)]
    print_dry_run(config, f"{len(jobs)} job(s)", lines)


class ValidateJobsCallback(Callback):
    """Hydra callback: compose + validate every job before the launcher starts any."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        jobs = [list(config.hydra.overrides.task)]
        if config.get("dry_run"):
            _print_jobs(config, jobs)
            sys.exit(0)
        keep_previous_hydra_dir(Path(config.hydra.run.dir), config.hydra.output_subdir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not _is_basic_sweeper(config):
            return  # other sweepers (lalm_optuna) validate each trial they create
        jobs = expand_basic_sweep(config)
        try:
            compose_jobs(config, jobs)
        except UserError as e:
            # Hydra turns a callback's exception into a warning and launches anyway: stop here
            exit_with(e)
        if any(_is_dry_run(j) for j in jobs) or config.get("dry_run"):
            _print_jobs(config, jobs)
            sys.exit(0)


def keep_previous_hydra_dir(run_dir: Path, subdir: str | None) -> None:
    """A rerun in the same dir (resume) would overwrite `.hydra/*.yaml`: move them aside first."""
    if not subdir:
        return
    hydra_dir = run_dir / subdir
    files = [f for f in hydra_dir.glob("*.yaml")] if hydra_dir.is_dir() else []
    if not files:
        return
    n = len(list(hydra_dir.glob("attempt-*"))) + 1
    keep = hydra_dir / f"attempt-{n}"
    keep.mkdir()
    for f in files:
        f.rename(keep / f.name)


def _is_dry_run(overrides: Sequence[str]) -> bool:
    return any(o.replace(" ", "") in ("dry_run=true", "dry_run=True") for o in overrides)
