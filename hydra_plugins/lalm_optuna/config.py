"""Config of the `lalm_optuna` sweeper and its `sampler` / `pruner` groups (no optuna import here).

`hydra/sweeper=lalm_optuna`, then e.g. `hydra/sweeper/sampler=random hydra/sweeper/pruner=hyperband`.
Each sampler / pruner option is the keyword arguments of the Optuna class it names.
"""

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

PROVIDER = "lalm_optuna"


@dataclass
class TPESamplerConf:
    _target_: str = "optuna.samplers.TPESampler"
    seed: Optional[int] = None
    n_startup_trials: int = 10
    n_ei_candidates: int = 24
    multivariate: bool = True
    group: bool = False
    # parallel trials: pretend running trials scored badly so workers do not sample the same point
    constant_liar: bool = True


@dataclass
class RandomSamplerConf:
    _target_: str = "optuna.samplers.RandomSampler"
    seed: Optional[int] = None


@dataclass
class CmaEsSamplerConf:
    """Needs the `cmaes` package (`pip install cmaes`)."""

    _target_: str = "optuna.samplers.CmaEsSampler"
    seed: Optional[int] = None
    sigma0: Optional[float] = None
    n_startup_trials: int = 1
    use_separable_cma: bool = False
    with_margin: bool = False
    consider_pruned_trials: bool = False


@dataclass
class GPSamplerConf:
    _target_: str = "optuna.samplers.GPSampler"
    seed: Optional[int] = None
    n_startup_trials: int = 10
    deterministic_objective: bool = False


@dataclass
class NSGAIISamplerConf:
    _target_: str = "optuna.samplers.NSGAIISampler"
    seed: Optional[int] = None
    population_size: int = 50
    mutation_prob: Optional[float] = None
    crossover_prob: float = 0.9
    swapping_prob: float = 0.5


@dataclass
class GridSamplerConf:
    """Every point of the (discrete) search space once, in Hydra's cartesian order; n_trials caps it."""

    _target_: str = "optuna.samplers.GridSampler"
    seed: Optional[int] = None


@dataclass
class MedianPrunerConf:
    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 5
    n_warmup_steps: int = 0
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class SuccessiveHalvingPrunerConf:
    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = "auto"
    reduction_factor: int = 4
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0


@dataclass
class HyperbandPrunerConf:
    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = 1
    max_resource: Any = "auto"
    reduction_factor: int = 3
    bootstrap_count: int = 0


@dataclass
class NopPrunerConf:
    _target_: str = "optuna.pruners.NopPruner"


@dataclass
class LalmOptunaSweeperConf:
    _target_: str = "hydra_plugins.lalm_optuna.lalm_optuna_sweeper.LalmOptunaSweeper"
    # the sweeper builds sampler and pruner itself (the pruner's config also travels to the jobs)
    _recursive_: bool = False
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "median"}, "_self_"])

    sampler: Any = MISSING
    pruner: Any = MISSING
    # minimize | maximize, or a list of them (multi-objective); null = from the config's `mode`
    direction: Any = None
    # null = SQLite file `optuna.db` in the sweep dir (journal file under the SLURM launchers);
    # `journal` = journal file in the sweep dir (shared filesystems); `journal:///abs/file.log`;
    # or any SQLAlchemy URL (sqlite:///x.db, postgresql://...)
    storage: Optional[str] = None
    # null = stable per experiment: <task_name>[-<experiment>][-<hparams_search>][-<hash of fixed overrides>]
    study_name: Optional[str] = None
    # TOTAL budget of finished trials in the study: a rerun only runs what is missing
    n_trials: int = 20
    # trials in flight at once
    n_jobs: int = 2
    # streaming launchers (lalm_pool) start a trial whenever a worker frees; false = batches of n_jobs
    asynchronous: bool = True
    # stop launching when more than this fraction of this run's trials failed
    max_failure_rate: float = 0.5
    # search space: `key: choice(...) | range(...) | interval(...) | tag(log, interval(...))`
    params: Optional[dict[str, str]] = None
    # `module.function(trial, cfg)` adding conditional parameters; returns {key: value} overrides
    custom_search_space: Optional[str] = None
    # optimisation history / importances / intermediate values as PNG + HTML in <sweep dir>/plots
    plots: bool = True


_cs = ConfigStore.instance()
_cs.store(group="hydra/sweeper", name="lalm_optuna", node=LalmOptunaSweeperConf, provider=PROVIDER)
for _name, _node in {
    "tpe": TPESamplerConf,
    "random": RandomSamplerConf,
    "cmaes": CmaEsSamplerConf,
    "gp": GPSamplerConf,
    "nsgaii": NSGAIISamplerConf,
    "grid": GridSamplerConf,
}.items():
    _cs.store(group="hydra/sweeper/sampler", name=_name, node=_node, provider=PROVIDER)
for _name, _node in {
    "median": MedianPrunerConf,
    "successive_halving": SuccessiveHalvingPrunerConf,
    "hyperband": HyperbandPrunerConf,
    "none": NopPrunerConf,
}.items():
    _cs.store(group="hydra/sweeper/pruner", name=_name, node=_node, provider=PROVIDER)
