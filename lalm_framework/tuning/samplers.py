"""Samplers, pruners and directions of a study, from `hydra.sweeper` config (`sampler`, `pruner`, `direction`).

The pruner's config is also stored on the study (user attr `lalm_pruner`): each job rebuilds the
same pruner from it, so pruning decisions are taken in the job's own process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from omegaconf import DictConfig

from lalm_framework.errors import UserError
from lalm_framework.launching.report import error_line
from lalm_framework.tuning.space import SearchSpace, grid_values
from lalm_framework.utils.plain_data import plain_dict

PRUNER_ATTR = "lalm_pruner"
SAMPLER_CHOICES = "hydra/sweeper/sampler=tpe|random|cmaes|gp|nsgaii|grid"
PRUNER_CHOICES = "hydra/sweeper/pruner=median|successive_halving|hyperband|none"


def sampler_class(sampler_conf: Mapping[str, Any]) -> type:
    """The Optuna sampler class a `hydra/sweeper/sampler` config names (UserError if it names none)."""
    import optuna

    return _component_class(sampler_conf, "sampler", optuna.samplers.BaseSampler, SAMPLER_CHOICES)


def is_grid(sampler_conf: Mapping[str, Any]) -> bool:
    import optuna

    return issubclass(sampler_class(sampler_conf), optuna.samplers.GridSampler)


def build_sampler(sampler_conf: Mapping[str, Any], space: SearchSpace, trials_before: int = 0) -> Any:
    """The Optuna sampler of a `hydra/sweeper/sampler` config (UserError for an unusable one).

    `trials_before`: the trials a resumed study holds already. A seeded sampler then gets a seed
    derived from its own and that count (`resumed_seed`): with the seed as given it would draw
    its first parameters again, i.e. repeat the trials that were evaluated (random search, TPE's
    start-up trials). Still reproducible: the same study state gives the same proposals.
    """
    import optuna

    conf = plain_dict(sampler_conf)
    if trials_before and conf.get("seed") is not None:
        conf["seed"] = resumed_seed(int(conf["seed"]), trials_before)
    cls = sampler_class(conf)
    if issubclass(cls, optuna.samplers.GridSampler):
        # the sweep enqueues every grid point in Hydra's order (Optuna's GridSampler shuffles them
        # and fails on enqueued trials); the random sampler only fills params a point lacks
        grid_values_of(space)  # UserError for continuous parameters, before anything runs
        return optuna.samplers.RandomSampler(seed=conf.get("seed"))
    if issubclass(cls, optuna.samplers.CmaEsSampler):
        _require("cmaes", "hydra/sweeper/sampler=cmaes")
    check_options(conf, "sampler", SAMPLER_CHOICES)
    return _instantiate(conf, "sampler", SAMPLER_CHOICES)


def resumed_seed(seed: int, trials_before: int) -> int:
    """The seed of a seeded sampler resuming a study of `trials_before` trials."""
    import hashlib

    return int.from_bytes(hashlib.sha256(f"{seed}:{trials_before}".encode()).digest()[:4], "big")


def grid_values_of(space: SearchSpace) -> dict[str, list[Any]]:
    """The values of each parameter of a discrete space."""
    return {n: grid_values(n, d) for n, d in space.distributions.items()}


def _require(module: str, what: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise UserError(f"{what} needs the '{module}' package: pip install {module}")


def build_pruner(pruner_conf: Mapping[str, Any] | None) -> Any:
    """The Optuna pruner of a config; NopPruner when none is given (UserError for an unusable one)."""
    import optuna

    conf = plain_dict(pruner_conf)
    if not conf.get("_target_"):
        return optuna.pruners.NopPruner()
    _component_class(conf, "pruner", optuna.pruners.BasePruner, PRUNER_CHOICES)
    check_options(conf, "pruner", PRUNER_CHOICES)
    return _instantiate(conf, "pruner", PRUNER_CHOICES)


def check_pruner(pruner_conf: Mapping[str, Any] | None) -> None:
    """Build the pruner and let it decide on a throw-away in-memory study (a finished trial, then a
    running one): a config that cannot work fails here, once, not in every job
    (HyperbandPruner(reduction_factor=1) builds, and fails only at the second trial's first report)."""
    import optuna

    pruner = build_pruner(pruner_conf)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created" line
    try:
        study = optuna.create_study(pruner=pruner)
        for number in range(2):
            trial = study.ask()
            for step in range(3):
                trial.report(1.0, step)
                trial.should_prune()
            study.tell(trial, 1.0 + number)
    except Exception as e:
        raise _option_error(plain_dict(pruner_conf), "pruner", f"cannot decide: {error_line(e)}", PRUNER_CHOICES) from e
    finally:
        optuna.logging.set_verbosity(verbosity)


def pruner_of_study(study_user_attrs: Mapping[str, Any]) -> Any:
    """The pruner the sweeper configured for a study (for jobs loading it from storage)."""
    return build_pruner(study_user_attrs.get(PRUNER_ATTR))


def _component_class(conf: Mapping[str, Any], option: str, base: type, choices: str) -> type:
    """The class of `conf["_target_"]`, checked to be a subclass of `base` (compare classes, not names)."""
    from lalm_framework.config.signature import import_target

    target = conf.get("_target_")
    if not target:
        raise UserError(f"hydra.sweeper.{option} names no class.\nChoose one: {choices}.")
    cls = import_target(str(target), f"hydra.sweeper.{option}._target_")
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise UserError(
            f"hydra.sweeper.{option}._target_={target} is not an Optuna {option} "
            f"({base.__module__}.{base.__name__}).\nChoose one: {choices}."
        )
    return cls


def check_options(conf: Mapping[str, Any], option: str, choices: str) -> None:
    """The options of a sampler or pruner against its class's signature (`config.signature`), before
    any trial: TPE's `n_startup_trials` left in after `hydra.sweeper.sampler._target_=...RandomSampler`
    names the option, the class and the fix."""
    from omegaconf import OmegaConf

    from lalm_framework.config.signature import check_arguments

    try:
        check_arguments(OmegaConf.create(dict(conf)), where=f"hydra.sweeper.{option}")
    except UserError as e:
        raise UserError(
            f"{e}\nRemove it (~hydra.sweeper.{option}.<name>), or choose the {option} with its own options: {choices}."
        ) from e


def _instantiate(conf: dict[str, Any], option: str, choices: str) -> Any:
    from hydra.utils import instantiate

    try:
        return instantiate(conf)
    except Exception as e:
        raise _option_error(conf, option, error_line(e.__cause__ or e), choices) from e


def _option_error(conf: Mapping[str, Any], option: str, problem: str, choices: str) -> UserError:
    options = " ".join(f"{k}={v}" for k, v in conf.items() if k != "_target_")
    return UserError(
        f"hydra.sweeper.{option} ({conf.get('_target_')} {options}): {problem}\n"
        f"Fix the option (hydra.sweeper.{option}.<name>=...), or choose another: {choices}."
    )


def directions(direction: Sequence[str] | None, config: DictConfig) -> list[str]:
    """`minimize`/`maximize` per objective (checked by `settings.parse_direction`); null follows `mode`."""
    if direction is not None:
        return list(direction)
    mode = str(config.get("mode", "min")) if "mode" in config else "min"
    return ["maximize" if mode.endswith("max") else "minimize"]
