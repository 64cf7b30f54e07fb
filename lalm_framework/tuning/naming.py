"""Stable study names and sweep dirs: rerunning the same command finds the same study.

Default study name: `<task>[-<experiment>][-<hparams_search>]-<6 hex>`, the hex of the fixed
overrides and of the composed config (`config_key`: what every trial starts from, config files
included), so `trainer.max_epochs=2` on the command line, or an edit of the experiment YAML in the
user's `--config-dir`, is a different study than the full run, while `hydra.sweeper.n_trials=40`
(a Hydra override, not part of the experiment) is the same one.

A time-stamped `hydra.sweep.dir` (`.../${now:...}`) would put every rerun in a new dir with a new
SQLite file; for this sweeper it becomes `<its fixed prefix>/optuna/<study name>` unless the user
set `hydra.sweep.dir` on the command line.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import PurePosixPath

from omegaconf import DictConfig, OmegaConf

NAMED_GROUPS = ("experiment", "hparams_search")
# overrides that do not change what a trial computes
NOT_IN_NAME = ("dry_run",)


def default_study_name(config: DictConfig, fixed_overrides: Sequence[str]) -> str:
    """The study name used when `hydra.sweeper.study_name` is null."""
    base = config.get("task_name") if "task_name" in config else None
    parts = [str(base or config.hydra.job.name)]
    choices = config.hydra.runtime.get("choices") or {}
    for group in NAMED_GROUPS:
        choice = choices.get(group)
        if choice not in (None, "null") and str(choice) not in parts:
            parts.append(str(choice).replace("/", "_"))
    named = {f"{g}={choices.get(g)}" for g in NAMED_GROUPS}
    rest = sorted(
        o for o in fixed_overrides if o.lstrip("+~") not in named and o.lstrip("+~").split("=", 1)[0] not in NOT_IN_NAME
    )
    parts.append(hashlib.sha1("\n".join([*rest, config_key(config)]).encode()).hexdigest()[:6])
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", "-".join(parts))


# task-config keys that do not change what a trial computes: the sweeper sets `trial` per trial
NOT_IN_KEY = ("dry_run", "trial")


def config_key(config: DictConfig) -> str:
    """A hash of the sweep's composed task config (unresolved, secrets masked): its content.

    Each trial is this config plus its parameters; editing a config file changes the key.
    """
    import json

    from lalm_framework.job_dir import task_config

    data = {k: v for k, v in task_config(config).items() if k not in NOT_IN_KEY}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def stable_sweep_dir(config: DictConfig, study_name: str) -> str | None:
    """The sweep dir to use instead of a time-stamped one; None to keep the configured dir."""
    if any(str(o).startswith("hydra.sweep.dir=") for o in config.hydra.overrides.hydra):
        return None
    sweep = OmegaConf.to_container(config.hydra.sweep, resolve=False)
    raw = sweep.get("dir") if isinstance(sweep, dict) else None
    if "${now:" not in str(raw):
        return None
    parts = PurePosixPath(str(raw)).parts
    keep = []
    for part in parts:
        if "${now:" in part:
            break
        keep.append(part)
    prefix = PurePosixPath(*keep) if keep else PurePosixPath("multirun")
    unresolved = str(prefix / "optuna" / study_name)
    # the fixed prefix may still interpolate (e.g. ${task_name}): resolve it in the config's context
    return str(OmegaConf.create({"v": unresolved}, parent=config).v)


def set_sweep_dir(config: DictConfig, sweep_dir: str) -> None:
    """Point the master config and every job composed from it (launchers recompose) at `sweep_dir`."""
    from omegaconf import open_dict, read_write

    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra.sweep.dir = sweep_dir
        config.hydra.overrides.hydra.append(f"hydra.sweep.dir={_quote(sweep_dir)}")


def _quote(path: str) -> str:
    from lalm_framework.tuning.space import format_value

    return format_value(path)
