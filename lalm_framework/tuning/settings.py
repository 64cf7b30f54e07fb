"""`hydra.sweeper.*` of `hydra/sweeper=lalm_optuna`: declared once, typed and checked before anything starts.

The dataclasses here are the one declaration of each option and of each sampler / pruner preset:
type, default, and check (the field's metadata). `hydra_plugins/lalm_optuna/config.py` stores
them for Hydra, which hands the plugin every field; `SweepSettings.from_options` checks them into
an instance of `LalmOptunaSweeperConf`. Light (no optuna import): the checks that must build
Optuna objects (sampler, pruner, storage driver) are in `sweep.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from omegaconf import MISSING

from lalm_framework.errors import UserError
from lalm_framework.utils.options import CHECK_KEY, FLAG, checked_by, count, from_options
from lalm_framework.utils.plain_data import plain_dict

DIRECTIONS = {"minimize": "minimize", "maximize": "maximize", "min": "minimize", "max": "maximize"}


def _rate(_key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise UserError(
            f"hydra.sweeper.max_failure_rate={value!r}: give a fraction between 0 and 1 "
            "(the share of this run's trials that may fail before the sweep stops)."
        )
    return float(value)


def _seconds(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise UserError(f"{key}={value!r}: give a number of seconds > 0.")
    return float(value)


def _optional_text(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{key}={value!r}: give a non-empty string, or null.")
    return value.strip()


def _study_name(key: str, value: Any) -> str | None:
    name = _optional_text(key, value)
    if name is not None and ("/" in name or "\0" in name):
        raise UserError(f"hydra.sweeper.study_name={name!r}: a study name cannot contain '/'.")
    return name


def _params(_key: str, value: Any) -> dict[str, str] | None:
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


def _component(key: str, conf: Any) -> dict[str, Any]:
    """A sampler / pruner config as a plain dict, in the ranges its dataclass declares (ours only:
    a class of the user's own is its own judge); its class is checked in samplers.py."""
    if conf is not None and not isinstance(conf, Mapping):
        option = key.rsplit(".", 1)[-1]
        raise UserError(f"{key}={conf!r}: choose one with hydra/sweeper/{option}=<name>.")
    plain = plain_dict(conf)
    declared = _DECLARED.get(str(plain.get("_target_")))
    for name, check in (field_checks(declared) if declared else {}).items():
        if name in plain:
            check(f"{key}.{name}", plain[name])
    return plain


def field_checks(conf: type) -> dict[str, Any]:
    """Field name -> check of the fields of dataclass `conf` that declare one."""
    return {f.name: f.metadata[CHECK_KEY] for f in fields(conf) if CHECK_KEY in f.metadata}


def _direction(_key: str, value: Any) -> tuple[str, ...] | None:
    return parse_direction(value)


def _count(default: Any) -> Any:
    """A sampler / pruner field that counts something (trials, steps, candidates...): never negative."""
    return field(default=default, metadata=checked_by(_sampler_count))


def _sampler_count(key: str, value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise UserError(f"{key}={value}: give a count >= 0.")
    return value


@dataclass
class TPESamplerConf:
    _target_: str = "optuna.samplers.TPESampler"
    seed: int | None = _count(None)
    n_startup_trials: int = _count(10)
    n_ei_candidates: int = _count(24)
    multivariate: bool = True
    group: bool = False
    # parallel trials: pretend running trials scored badly so workers do not sample the same point
    constant_liar: bool = True


@dataclass
class RandomSamplerConf:
    _target_: str = "optuna.samplers.RandomSampler"
    seed: int | None = _count(None)


@dataclass
class CmaEsSamplerConf:
    """Needs the `cmaes` package (`pip install cmaes`)."""

    _target_: str = "optuna.samplers.CmaEsSampler"
    seed: int | None = _count(None)
    sigma0: float | None = None
    n_startup_trials: int = _count(1)
    use_separable_cma: bool = False
    with_margin: bool = False
    consider_pruned_trials: bool = False


@dataclass
class GPSamplerConf:
    _target_: str = "optuna.samplers.GPSampler"
    seed: int | None = _count(None)
    n_startup_trials: int = _count(10)
    deterministic_objective: bool = False


@dataclass
class NSGAIISamplerConf:
    _target_: str = "optuna.samplers.NSGAIISampler"
    seed: int | None = _count(None)
    population_size: int = _count(50)
    mutation_prob: float | None = None
    crossover_prob: float = 0.9
    swapping_prob: float = 0.5


@dataclass
class GridSamplerConf:
    """Every point of the (discrete) search space once, in Hydra's cartesian order; n_trials caps it."""

    _target_: str = "optuna.samplers.GridSampler"
    seed: int | None = _count(None)


@dataclass
class MedianPrunerConf:
    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = _count(5)
    n_warmup_steps: int = _count(0)
    interval_steps: int = _count(1)
    n_min_trials: int = _count(1)


@dataclass
class SuccessiveHalvingPrunerConf:
    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = _count("auto")
    reduction_factor: int = _count(4)
    min_early_stopping_rate: int = _count(0)
    bootstrap_count: int = _count(0)


@dataclass
class HyperbandPrunerConf:
    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = _count(1)
    max_resource: Any = _count("auto")
    reduction_factor: int = _count(3)
    bootstrap_count: int = _count(0)


@dataclass
class NopPrunerConf:
    _target_: str = "optuna.pruners.NopPruner"


SAMPLERS: dict[str, type] = {
    "tpe": TPESamplerConf,
    "random": RandomSamplerConf,
    "cmaes": CmaEsSamplerConf,
    "gp": GPSamplerConf,
    "nsgaii": NSGAIISamplerConf,
    "grid": GridSamplerConf,
}
PRUNERS: dict[str, type] = {
    "median": MedianPrunerConf,
    "successive_halving": SuccessiveHalvingPrunerConf,
    "hyperband": HyperbandPrunerConf,
    "none": NopPrunerConf,
}
# `_target_` -> our preset of that class: the ranges its fields declare
_DECLARED: dict[str, type] = {conf._target_: conf for conf in (*SAMPLERS.values(), *PRUNERS.values())}  # type: ignore[attr-defined]


@dataclass
class LalmOptunaSweeperConf:
    """The lalm_optuna options (set them as `hydra.sweeper.<name>=...`)."""

    _target_: str = "hydra_plugins.lalm_optuna.lalm_optuna_sweeper.LalmOptunaSweeper"
    # the sweeper builds sampler and pruner itself (the pruner's config also travels to the jobs)
    _recursive_: bool = False
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "median"}, "_self_"])

    # checked: plain dicts
    sampler: Any = field(default=MISSING, metadata=checked_by(_component))
    pruner: Any = field(default=MISSING, metadata=checked_by(_component))
    # minimize | maximize, or a list of them (multi-objective); null = from the config's `mode`
    # (checked: a tuple of minimize/maximize, or None)
    direction: Any = field(default=None, metadata=checked_by(_direction))
    # null = SQLite file `optuna.db` in the sweep dir (journal file under the SLURM launchers);
    # `journal` = journal file in the sweep dir (shared filesystems); `journal:///abs/file.log`;
    # or any SQLAlchemy URL (sqlite:///x.db, postgresql://...)
    storage: str | None = field(default=None, metadata=checked_by(_optional_text))
    # null = stable per experiment: <task_name>[-<experiment>][-<hparams_search>][-<hash of fixed overrides>]
    study_name: str | None = field(default=None, metadata=checked_by(_study_name))
    # TOTAL budget of finished trials in the study: a rerun only runs what is missing
    n_trials: int = field(default=20, metadata=count(0, "the total number of trials of the study"))
    # trials in flight at once
    n_jobs: int = field(default=2, metadata=count(1, "trials running at once"))
    # streaming launchers (lalm_pool) start a trial whenever a worker frees; false = batches of n_jobs
    asynchronous: bool = field(default=True, metadata=FLAG)
    # worker mode: N long-lived launcher jobs (lalm_pool processes, SLURM jobs), each asks the study for
    # the next trial, runs it in a fresh process, reports, until `n_trials` (0: one job per trial)
    workers: int = field(default=0, metadata=count(0, "0: one launcher job per trial"))
    # worker mode: seconds between a running trial's heartbeats, and the silence after which its
    # worker counts as dead (its trial is then marked failed and retried by another worker)
    heartbeat_interval: float = field(default=10.0, metadata=checked_by(_seconds))
    grace_period: float = field(default=60.0, metadata=checked_by(_seconds))
    # stop launching when more than this fraction of this run's trials failed
    max_failure_rate: float = field(default=0.5, metadata=checked_by(_rate))
    # search space: `key: choice(...) | range(...) | interval(...) | tag(log, interval(...))`
    params: dict[str, str] | None = field(default=None, metadata=checked_by(_params))
    # `module.function(trial, cfg)` adding conditional parameters; returns {key: value} overrides
    custom_search_space: str | None = field(default=None, metadata=checked_by(_optional_text))
    # optimisation history / importances / intermediate values as PNG + HTML in <sweep dir>/plots
    plots: bool = field(default=True, metadata=FLAG)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> LalmOptunaSweeperConf:
        """Check the plugin's options; UserError naming the option and the fix."""
        return from_options(cls, options, "hydra.sweeper", "lalm_optuna")


# what the sweep works with: the options, checked (`LalmOptunaSweeperConf.from_options`)
SweepSettings = LalmOptunaSweeperConf
