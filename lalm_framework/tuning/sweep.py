"""One run of an Optuna sweep: open (or continue) the study, run the trials left, write the results.

Asynchronous when the launcher streams (`launch_stream`: lalm_pool, the SLURM presets): a trial
starts as soon as a worker (or SLURM slot) frees, up to `n_jobs` in flight. Other launchers
(basic, joblib, upstream submitit) get batches of `n_jobs` trials.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from hydra.core.utils import JobReturn
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from lalm_framework.errors import UserError
from lalm_framework.tuning import naming
from lalm_framework.tuning.driver import StudyDriver, summary
from lalm_framework.tuning.guard import FailureGuard
from lalm_framework.tuning.job_source import TrialJobSource
from lalm_framework.tuning.results import write_results
from lalm_framework.tuning.resume import (
    Followed,
    SweepLock,
    counts_toward_budget,
    follow_to_end,
    lock_path,
    recover,
    trials_left,
)
from lalm_framework.tuning.samplers import PRUNER_ATTR, build_sampler, directions, is_grid
from lalm_framework.tuning.space import SearchSpace, parse_search_space
from lalm_framework.tuning.storage import dashboard_command, open_storage, storage_path, storage_url
from lalm_framework.utils.config import plain_dict

log = logging.getLogger(__name__)

VALIDATE_CALLBACK = "lalm_framework.config.prelaunch.ValidateJobsCallback"


@dataclass
class SweepSettings:
    """`hydra.sweeper.*` of `hydra/sweeper=lalm_optuna`, as the plugin received them.

    No defaults here: they live once, in hydra_plugins/lalm_optuna/config.py.
    """

    sampler: Any
    pruner: Any
    direction: Any
    storage: str | None
    study_name: str | None
    n_trials: int
    n_jobs: int
    asynchronous: bool
    max_failure_rate: float
    params: dict[str, str] | None
    custom_search_space: str | None
    plots: bool


class OptunaSweep:
    """The sweep of one Hydra multirun (the Sweeper plugin's `sweep`)."""

    def __init__(
        self, settings: SweepSettings, config: DictConfig, hydra_context: HydraContext, task_function: TaskFunction
    ) -> None:
        if settings.n_jobs < 1 or settings.n_trials < 0:
            raise UserError(
                f"hydra.sweeper.n_jobs={settings.n_jobs} / n_trials={settings.n_trials}: "
                "n_jobs must be >= 1 and n_trials >= 0."
            )
        self.settings = settings
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def run(self, arguments: Sequence[str]) -> list[Sequence[JobReturn]]:
        s = self.settings
        params = OmegaConf.to_container(s.params, resolve=False) if OmegaConf.is_config(s.params) else s.params
        space = parse_search_space(params, arguments)
        study_name = s.study_name or naming.default_study_name(self.config, space.fixed)
        stable = naming.stable_sweep_dir(self.config, study_name)
        if stable is not None:
            naming.set_sweep_dir(self.config, stable)
        sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()
        if self.config.get("dry_run"):
            print_dry_run(study_name, sweep_dir, space, s)
            return []
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if not (sweep_dir / "multirun.yaml").exists():  # the first run's record stays
            OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        url = storage_url(self._storage_spec(), sweep_dir)
        with SweepLock(lock_path(storage_path(url), sweep_dir, study_name)):
            return self._run_locked(space, study_name, sweep_dir, url)

    def _storage_spec(self) -> str | None:
        """The storage asked for; by default a journal file under SLURM (SQLite locks fail on NFS)."""
        if self.settings.storage is not None:
            return self.settings.storage
        from lalm_framework.launching.slurm_resources import is_slurm_launcher

        return "journal" if is_slurm_launcher(self.config.hydra.launcher) else None

    def _run_locked(self, space: SearchSpace, study_name: str, sweep_dir: Path, url: str) -> list[Sequence[JobReturn]]:
        s = self.settings
        storage = open_storage(url)
        study = self._open_study(storage, study_name, space)
        followed = recover(study, storage, self.config, sweep_dir)
        n_trials = s.n_trials
        if is_grid(s.sampler):
            n_trials = min(n_trials, len(space.grid()))
        planned = trials_left(study, n_trials)
        if is_grid(s.sampler):
            _enqueue_grid(study, space, planned)
        log.info(
            "Study '%s' in %s: %d of %d trials to run (sweep dir %s; view: %s)",
            study_name,
            url,
            planned,
            n_trials,
            sweep_dir,
            dashboard_command(url),
        )
        guard = FailureGuard(s.max_failure_rate, planned)
        driver = StudyDriver(
            study,
            storage,
            space,
            planned,
            guard,
            identity=self._identity(url, study_name),
            hook=self._hook(),
            hook_cfg=self.config,
            check=self._config_check(),
        )
        returns: list[Sequence[JobReturn]] = []
        try:
            if planned > 0 or followed:
                first = max([_first_job_idx(study, sweep_dir)] + [f.job_idx + 1 for f in followed])
                returns = self._launch(driver, first, followed)
        finally:
            write_results(study, sweep_dir, url, plots=s.plots)
        log.info("Sweep run finished: %s. Results: %s", summary(list(driver.outcomes.values())), sweep_dir)
        if guard.tripped:
            raise UserError(guard.message())
        return returns

    def _open_study(self, storage: Any, study_name: str, space: SearchSpace) -> optuna.Study:
        s = self.settings
        dirs = directions(s.direction, self.config)
        sampler = build_sampler(s.sampler, space)
        try:
            study = optuna.create_study(
                storage=storage, study_name=study_name, sampler=sampler, directions=dirs, load_if_exists=True
            )
        except ValueError as e:
            raise UserError(
                f"Cannot continue study '{study_name}': {e}\n"
                "Use another hydra.sweeper.study_name for a different objective."
            ) from e
        have = [d.name.lower() for d in study.directions]
        if have != dirs:
            raise UserError(
                f"Study '{study_name}' optimises {have}, this sweep asks for {dirs}.\n"
                "Use another hydra.sweeper.study_name (or sweep dir) for a different objective."
            )
        study.set_user_attr(PRUNER_ATTR, plain_dict(s.pruner))
        return study

    def _identity(self, url: str, study_name: str) -> dict[str, Any] | None:
        # only apps with a `trial` node (lalm-train) learn their trial: it is how jobs prune
        if "trial" not in self.config:
            return None
        return {"storage": url, "study_name": study_name}

    def _hook(self) -> Any:
        if not self.settings.custom_search_space:
            return None
        from hydra.utils import get_method

        try:
            return get_method(self.settings.custom_search_space)
        except Exception as e:
            raise UserError(
                f"hydra.sweeper.custom_search_space: cannot import "
                f"'{self.settings.custom_search_space}': {e}\n"
                "Give the dotted path of a function (trial, cfg) -> dict | None."
            ) from e

    def _config_check(self) -> Any:
        """Compose (and for lalm-train validate) each trial's config before its job starts."""
        from lalm_framework.launching.job_configs import JobConfigs

        callbacks = self.config.hydra.get("callbacks") or {}
        validates = any(str(c.get("_target_")) == VALIDATE_CALLBACK for c in callbacks.values() if c)
        configs = JobConfigs(self.config, self.hydra_context.config_loader)  # one composition per shape

        def check(overrides: list[str]) -> None:
            if validates:
                from lalm_framework.config.validate import compose_jobs

                compose_jobs(self.config, [overrides])
                return
            try:
                configs.compose(overrides)
            except Exception as e:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                raise UserError(f"The trial config ({' '.join(overrides)}) cannot be composed: {first}") from e

        return check

    def _launch(self, driver: StudyDriver, first_idx: int, followed: list[Followed]) -> list[Sequence[JobReturn]]:
        from hydra.core.plugins import Plugins

        from lalm_framework.launching.protocol import StreamingLauncher

        launcher = Plugins.instance().instantiate_launcher(
            hydra_context=self.hydra_context, task_function=self.task_function, config=self.config
        )
        n_jobs = self.settings.n_jobs
        resumed = [(optuna.trial.Trial(driver.study, f.trial_id), f.job_idx, f.overrides) for f in followed]
        if self.settings.asynchronous and isinstance(launcher, StreamingLauncher):
            source = TrialJobSource(driver, first_idx, resumed)
            launcher.launch_stream(source, initial_job_idx=first_idx, max_in_flight=n_jobs)
            return [source.returns]
        # batches: first wait for the jobs an interrupted run left in SLURM
        trials = {f.number: trial for f, (trial, _, _) in zip(followed, resumed, strict=True)}
        for f, ret in follow_to_end(self.config, followed):
            driver.finish(trials[f.number], ret)
        returns = []
        idx = first_idx
        while True:
            batch = []
            while len(batch) < n_jobs:
                made = driver.new_trial()
                if made is None:
                    break
                batch.append(made)
            if not batch:
                return returns
            results = launcher.launch([o for _, o in batch], initial_job_idx=idx)
            idx += len(batch)
            for (trial, _), ret in zip(batch, results, strict=True):
                driver.finish(trial, ret)
            returns.append(results)


def print_dry_run(study_name: str, sweep_dir: Path, space: SearchSpace, settings: SweepSettings) -> None:
    """What a sweep would do (`dry_run=true`): study, dir, budget, search space; nothing is created."""
    print(
        f"dry run: Optuna study '{study_name}' in {sweep_dir}, up to {settings.n_trials} trials in total, "
        f"{settings.n_jobs} at a time"
    )
    for name, dist in space.distributions.items():
        print(f"  search {name}: {dist}")
    for fixed in space.fixed:
        print(f"  fixed  {fixed}")
    print("nothing was launched (dry_run=true)")


def _first_job_idx(study: optuna.Study, sweep_dir: Path) -> int:
    """Job number of the next trial = its trial number, moved past any job dir already there."""
    trials = study.get_trials(deepcopy=False)
    waiting = [t.number for t in trials if t.state == optuna.trial.TrialState.WAITING]
    nxt = min(waiting) if waiting else len(trials)
    taken = [int(p.name) for p in sweep_dir.iterdir() if p.is_dir() and re.fullmatch(r"\d+", p.name)]
    return max([nxt] + [n + 1 for n in taken if n >= nxt])


def _enqueue_grid(study: optuna.Study, space: SearchSpace, planned: int) -> None:
    """Queue the grid points not yet run, in Hydra's cartesian order (GridSampler would shuffle)."""
    trials = study.get_trials(deepcopy=False)
    seen = [t.params for t in trials if counts_toward_budget(t) or t.state == optuna.trial.TrialState.WAITING]
    waiting = sum(t.state == optuna.trial.TrialState.WAITING for t in trials)
    todo = [p for p in space.grid() if p not in seen][: max(0, planned - waiting)]
    for params in todo:
        study.enqueue_trial(params)
