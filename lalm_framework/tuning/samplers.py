"""Samplers, pruners and directions of a study, from `hydra.sweeper` config (`sampler`, `pruner`, `direction`).

The pruner's config is also stored on the study (user attr `lalm_pruner`): each job rebuilds the
same pruner from it, so pruning decisions are taken in the job's own process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lalm_framework.errors import UserError
from lalm_framework.tuning.space import SearchSpace, grid_values
from lalm_framework.utils.config import plain_dict

PRUNER_ATTR = "lalm_pruner"
GRID_TARGET = "optuna.samplers.GridSampler"
CMAES_TARGET = "optuna.samplers.CmaEsSampler"


def is_grid(sampler_conf: Any) -> bool:
    return plain_dict(sampler_conf).get("_target_") == GRID_TARGET


def build_sampler(sampler_conf: Any, space: SearchSpace) -> Any:
    """The Optuna sampler of a `hydra/sweeper/sampler` config (UserError for an unusable one)."""
    from hydra.utils import instantiate

    conf = plain_dict(sampler_conf)
    if not conf.get("_target_"):
        raise UserError(
            "hydra.sweeper.sampler names no sampler.\n"
            "Choose one: hydra/sweeper/sampler=tpe|random|cmaes|gp|nsgaii|grid."
        )
    if conf["_target_"] == GRID_TARGET:
        # the sweep enqueues every grid point in Hydra's order (Optuna's GridSampler shuffles them
        # and fails on enqueued trials); the random sampler only fills params a point lacks
        import optuna

        grid_values_of(space)  # UserError for continuous parameters, before anything runs
        return optuna.samplers.RandomSampler(seed=conf.get("seed"))
    if conf["_target_"] == CMAES_TARGET:
        _require("cmaes", "hydra/sweeper/sampler=cmaes")
    return instantiate(conf)


def grid_values_of(space: SearchSpace) -> dict[str, list[Any]]:
    """The values of each parameter of a discrete space."""
    return {n: grid_values(n, d) for n, d in space.distributions.items()}


def _require(module: str, what: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise UserError(f"{what} needs the '{module}' package: pip install {module}")


def build_pruner(pruner_conf: Mapping[str, Any] | None) -> Any:
    """The Optuna pruner of a config; NopPruner when none is given."""
    import optuna
    from hydra.utils import instantiate

    conf = plain_dict(pruner_conf)
    if not conf.get("_target_"):
        return optuna.pruners.NopPruner()
    return instantiate(conf)


def pruner_of_study(study_user_attrs: Mapping[str, Any]) -> Any:
    """The pruner the sweeper configured for a study (for jobs loading it from storage)."""
    return build_pruner(study_user_attrs.get(PRUNER_ATTR))


def directions(direction: Any, config: DictConfig) -> list[str]:
    """`minimize`/`maximize` per objective; null follows the config's `mode` (min/max)."""
    if direction is None:
        mode = str(config.get("mode", "min")) if "mode" in config else "min"
        direction = "maximize" if mode.endswith("max") else "minimize"
    items = list(direction) if isinstance(direction, (list, tuple)) or OmegaConf.is_list(direction) else [direction]
    out = []
    for d in items:
        name = str(getattr(d, "name", d)).lower()
        name = {"min": "minimize", "max": "maximize"}.get(name, name)
        if name not in ("minimize", "maximize"):
            raise UserError(
                f"hydra.sweeper.direction: '{d}' is not a direction.\n"
                "Use minimize or maximize, or a list of them for several objectives."
            )
        out.append(name)
    if not out:
        raise UserError("hydra.sweeper.direction is an empty list: give one direction per objective.")
    return out
