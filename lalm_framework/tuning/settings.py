"""`hydra.sweeper.*` of `hydra/sweeper=lalm_optuna`, typed and checked before anything starts.

No defaults here: they live once, in `hydra_plugins/lalm_optuna/config.py`
(LalmOptunaSweeperConf), and Hydra hands the plugin every field of it. Light (no optuna import):
the checks that must build Optuna objects (sampler, pruner, storage driver) are in `sweep.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from lalm_framework.errors import UserError
from lalm_framework.utils.options import check_count, check_flag, check_names
from lalm_framework.utils.plain_data import plain_dict

DIRECTIONS = {"minimize": "minimize", "maximize": "maximize", "min": "minimize", "max": "maximize"}
# sampler / pruner options that count something (trials, steps, candidates, ...): never negative
COUNT_OPTION = re.compile(r"^(n_\w+|seed|\w+_(trials|steps|size|count|factor|resource|candidates|rate))$")


@dataclass(frozen=True)
class SweepSettings:
    """The lalm_optuna options, as the plugin received them (see LalmOptunaSweeperConf for each meaning)."""

    sampler: dict[str, Any]
    pruner: dict[str, Any]
    direction: tuple[str, ...] | None  # None: from the config's `mode`
    storage: str | None
    study_name: str | None
    n_trials: int
    n_jobs: int
    asynchronous: bool
    max_failure_rate: float
    params: dict[str, str] | None
    custom_search_space: str | None
    plots: bool

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SweepSettings:
        """Check the plugin's options and type them; UserError naming the option and the fix."""
        opts = {k: v for k, v in options.items() if k not in ("_target_", "_recursive_", "defaults")}
        check_names("lalm_optuna", opts, (f.name for f in fields(cls)))
        key = "hydra.sweeper.{}".format
        return cls(
            sampler=_component("sampler", opts["sampler"]),
            pruner=_component("pruner", opts["pruner"]),
            direction=parse_direction(opts["direction"]),
            storage=_optional_text("storage", opts["storage"]),
            study_name=_study_name(opts["study_name"]),
            n_trials=check_count(key("n_trials"), opts["n_trials"], 0, "the total number of trials of the study"),
            n_jobs=check_count(key("n_jobs"), opts["n_jobs"], 1, "trials running at once"),
            asynchronous=check_flag(key("asynchronous"), opts["asynchronous"]),
            max_failure_rate=_rate(opts["max_failure_rate"]),
            params=_params(opts["params"]),
            custom_search_space=_optional_text("custom_search_space", opts["custom_search_space"]),
            plots=check_flag(key("plots"), opts["plots"]),
        )


def _rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise UserError(
            f"hydra.sweeper.max_failure_rate={value!r}: give a fraction between 0 and 1 "
            "(the share of this run's trials that may fail before the sweep stops)."
        )
    return float(value)


def _optional_text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"hydra.sweeper.{name}={value!r}: give a non-empty string, or null.")
    return value.strip()


def _study_name(value: Any) -> str | None:
    name = _optional_text("study_name", value)
    if name is not None and ("/" in name or "\0" in name):
        raise UserError(f"hydra.sweeper.study_name={name!r}: a study name cannot contain '/'.")
    return name


def _params(value: Any) -> dict[str, str] | None:
    from omegaconf import OmegaConf

    if value is None:
        return None
    # unresolved: `${...}` in a search expression is the job's to resolve
    params = OmegaConf.to_container(value, resolve=False) if OmegaConf.is_config(value) else value
    if not isinstance(params, Mapping):
        raise UserError(
            f"hydra.sweeper.params={value!r}: give a mapping of override key to search expression, "
            "e.g. {lr: 'tag(log, interval(1e-5, 1e-2))'}."
        )
    return {str(k): str(v) for k, v in params.items()}


def parse_direction(value: Any) -> tuple[str, ...] | None:
    """None (follow the config's `mode`), or minimize/maximize per objective (min/max accepted)."""
    if value is None:
        return None
    items = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    out = []
    for item in items:
        name = str(getattr(item, "name", item)).lower()  # also optuna's StudyDirection
        if name not in DIRECTIONS:
            raise UserError(
                f"hydra.sweeper.direction: '{item}' is not a direction.\n"
                "Use minimize or maximize, or a list of them for several objectives (null: from `mode`)."
            )
        out.append(DIRECTIONS[name])
    if not out:
        raise UserError("hydra.sweeper.direction is an empty list: give one direction per objective, or null.")
    return tuple(out)


def _component(option: str, conf: Any) -> dict[str, Any]:
    """A sampler / pruner config as a plain dict with no negative counts (its class: samplers.py)."""
    if conf is not None and not isinstance(conf, Mapping):
        raise UserError(f"hydra.sweeper.{option}={conf!r}: choose one with hydra/sweeper/{option}=<name>.")
    plain = plain_dict(conf)
    for key, value in plain.items():
        if COUNT_OPTION.match(key) and isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise UserError(f"hydra.sweeper.{option}.{key}={value}: give a count >= 0.")
    return plain
