"""One run of an Optuna sweep: open (or continue) the study, run the trials left, write the results.

Asynchronous when the launcher streams (`launch_stream`: lalm_pool, the SLURM presets): a trial
starts as soon as a worker (or SLURM slot) frees, up to `n_jobs` in flight. Other launchers
(basic, joblib, upstream submitit) get batches of `n_jobs` trials.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf
from optuna.trial import Trial

from lalm_framework.config.prelaunch import ValidateJobsCallback, print_dry_run
from lalm_framework.errors import UserError
from lalm_framework.launching.report import error_line
from lalm_framework.tuning import naming
from lalm_framework.tuning.driver import ConfigCheck, SearchSpaceHook, StudyDriver, summary
from lalm_framework.tuning.guard import FailureGuard
from lalm_framework.tuning.job_source import TrialJobSource
from lalm_framework.tuning.outcome import TrialOutcome
from lalm_framework.tuning.results import write_results
from lalm_framework.tuning.resume import (
    FAIL_REASON,
    Followed,
    SweepLock,
    counts_toward_budget,
    follow_to_end,
    lock_path,
    recover,
    trials_left,
)
from lalm_framework.tuning.samplers import PRUNER_ATTR, build_sampler, check_pruner, directions, is_grid
from lalm_framework.tuning.settings import SweepSettings
from lalm_framework.tuning.space import SearchSpace, parse_search_space
from lalm_framework.tuning.storage import check_storage, dashboard_command, open_storage, storage_path, storage_url
from lalm_framework.tuning.workers import WorkerPlan, check_worker_mode, launch_workers, run_states

log = logging.getLogger(__name__)

# the trial's pruning callback, named without importing it (it imports Lightning)
PRUNING_CALLBACK = "lalm_framework.tuning.pruning.OptunaPruningCallback"


class OptunaSweep:
    """The sweep of one Hydra multirun (the Sweeper plugin's `sweep`)."""

    def __init__(
        self, settings: SweepSettings, config: DictConfig, hydra_context: HydraContext, task_function: TaskFunction
    ) -> None:
        self.settings = settings
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def run(self, arguments: Sequence[str]) -> list[Sequence[JobReturn]]:
        """Run the study; a UserError ends the process with its one message (HYDRA_FULL_ERROR=1:
        the traceback too), in a user's own `@hydra.main` app as in `lalm-train`."""
        from lalm_framework.errors import exit_with

        try:
            return self._run(arguments)
        except UserError as e:
            exit_with(e)

    def _run(self, arguments: Sequence[str]) -> list[Sequence[JobReturn]]:
        s = self.settings
        space = parse_search_space(s.params, arguments)
        study_name = s.study_name or naming.default_study_name(self.config, space.fixed)
        stable = naming.stable_sweep_dir(self.config, study_name)
        if stable is not None:
            naming.set_sweep_dir(self.config, stable)
        sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()
        # every option is checked before anything is created: a mistake costs no study, no dir
        plan = StudyPlan(
            sampler=build_sampler(s.sampler, space),
            directions=directions(s.direction, self.config),
            url=storage_url(self._storage_spec(), sweep_dir),
            hook=self._hook(),
        )
        check_pruner(s.pruner)  # the jobs build it from the study; a bad one must fail here, once
        check_storage(plan.url)
        if self.config.get("dry_run"):
            self._print_dry_run(study_name, sweep_dir, space)
            return []
        launcher = self._launcher()
        check_worker_mode(s, launcher)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if not (sweep_dir / "multirun.yaml").exists():  # the first run's record stays
            OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        with SweepLock(lock_path(storage_path(plan.url), sweep_dir, study_name)):
            return self._run_locked(space, study_name, sweep_dir, plan, launcher)

    def _storage_spec(self) -> str | None:
        """The storage asked for; by default a journal file under SLURM (SQLite locks fail on NFS)."""
        if self.settings.storage is not None:
            return self.settings.storage
        from lalm_framework.launching.slurm.resources import is_slurm_launcher

        return "journal" if is_slurm_launcher(self.config.hydra.launcher) else None

    def _run_locked(
        self, space: SearchSpace, study_name: str, sweep_dir: Path, plan: StudyPlan, launcher: Launcher
    ) -> list[Sequence[JobReturn]]:
        s = self.settings
        url = plan.url
        storage = open_storage(url)
        study = self._open_study(storage, study_name, plan)
        # worker mode: the workers settle what an earlier run left running (by its heartbeat)
        followed = [] if s.workers else recover(study, storage, self.config, sweep_dir)
        trials_before = len(study.get_trials(deepcopy=False))
        if trials_before:  # resumed: a seeded sampler must not propose its first trials again
            study.sampler = build_sampler(s.sampler, space, trials_before)
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
        identity = self._identity(url, study_name)
        if identity is not None:  # each trial's job reports to its trial through a callback in its config
            space = dataclasses.replace(space, fixed=[*space.fixed, pruning_override()])
        driver = StudyDriver(
            study,
            storage,
            space,
            planned,
            guard,
            identity=identity,
            hook=plan.hook,
            hook_cfg=self.config,
            check=self._config_check(),
        )
        if s.workers:
            return self._run_workers(launcher, study, sweep_dir, plan.url, n_trials, space, identity, trials_before)
        returns: list[Sequence[JobReturn]] = []
        try:
            if planned > 0 or followed:
                first = max([_first_job_idx(study, sweep_dir)] + [f.job_idx + 1 for f in followed])
                returns = self._launch(launcher, driver, first, followed)
        finally:
            write_results(study, sweep_dir, url, plots=s.plots)
        log.info("Sweep run finished: %s. Results: %s", summary(list(driver.outcomes.values())), sweep_dir)
        if guard.tripped:
            raise UserError(guard.message())
        return returns

    def _run_workers(
        self,
        launcher: Launcher,
        study: optuna.Study,
        sweep_dir: Path,
        url: str,
        n_trials: int,
        space: SearchSpace,
        identity: dict[str, Any] | None,
        trials_before: int,
    ) -> list[Sequence[JobReturn]]:
        """Worker mode (workers.py): `workers` long-lived jobs run the trials left, then the results."""
        s = self.settings
        returns: list[JobReturn] = []
        trials = study.get_trials(deepcopy=False)
        try:
            if sum(counts_toward_budget(t) for t in trials) < n_trials:
                waiting = [t.number for t in trials if t.state == optuna.trial.TrialState.WAITING]
                offset = _first_job_idx(study, sweep_dir) - (min(waiting) if waiting else len(trials))
                plan = WorkerPlan(url, study.study_name, n_trials, space, identity, offset, str(sweep_dir))
                returns = launch_workers(self, launcher, plan, s.workers)
        finally:
            write_results(study, sweep_dir, url, plots=s.plots)
        ended = run_states(study, trials_before)
        guard = FailureGuard(s.max_failure_rate, len(ended))
        for t in ended:
            guard.record(t.state == optuna.trial.TrialState.FAIL, t.user_attrs.get(FAIL_REASON))
        log.info(
            "Sweep run finished: %s. Results: %s",
            summary([TrialOutcome(t.state) for t in ended]),
            sweep_dir,
        )
        if guard.tripped:
            raise UserError(guard.message())
        return [returns]

    def _open_study(self, storage: Any, study_name: str, plan: StudyPlan) -> optuna.Study:
        dirs = plan.directions
        try:
            study = optuna.create_study(
                storage=storage,
                study_name=study_name,
                sampler=plan.sampler,
                directions=dirs,  # type: ignore[arg-type]  # checked: each is "minimize" or "maximize"
                load_if_exists=True,
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
        study.set_user_attr(PRUNER_ATTR, self.settings.pruner)
        key, before = naming.config_key(self.config), study.user_attrs.get(CONFIG_ATTR)
        if before is not None and before != key:  # only with a study_name of the user's: defaults differ
            log.warning(
                "Study '%s' was started from another config than this sweep's (a config file or override"
                " changed): its trials so far ran the old one. Use another hydra.sweeper.study_name to keep"
                " the two apart.",
                study_name,
            )
        study.set_user_attr(CONFIG_ATTR, key)
        return study

    def _identity(self, url: str, study_name: str) -> dict[str, Any] | None:
        # only apps with a `trial` node (lalm-train) learn their trial: it is how jobs prune
        if "trial" not in self.config:
            return None
        return {"storage": url, "study_name": study_name}

    def _hook(self) -> SearchSpaceHook | None:
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

    def _config_check(self) -> ConfigCheck:
        """Compose (and for lalm-train validate) each trial's config before its job starts."""
        from lalm_framework.launching.job_configs import JobConfigs, shape_cached

        if _has_callback(self.config, ValidateJobsCallback):
            from lalm_framework.config.validate import compose_jobs

            loader = shape_cached(self.hydra_context.config_loader)  # one composition per shape, sweep-long

            def validate(overrides: list[str]) -> None:
                compose_jobs(self.config, [overrides], loader)

            return validate
        configs = JobConfigs(self.config, self.hydra_context.config_loader)  # one composition per shape

        def check(overrides: list[str]) -> None:
            try:
                configs.compose(overrides)
            except Exception as e:
                problem = error_line(e, limit=400)
                raise UserError(f"The trial config ({' '.join(overrides)}) cannot be composed: {problem}") from e

        return check

    def _launcher(self) -> Launcher:
        """The configured launcher (it checks its own options here, before anything starts)."""
        from hydra.core.plugins import Plugins

        return Plugins.instance().instantiate_launcher(
            hydra_context=self.hydra_context, task_function=self.task_function, config=self.config
        )

    def _launch(
        self, launcher: Launcher, driver: StudyDriver, first_idx: int, followed: list[Followed]
    ) -> list[Sequence[JobReturn]]:
        from lalm_framework.launching.protocol import StreamingLauncher

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
        returns: list[Sequence[JobReturn]] = []
        idx = first_idx
        while True:
            batch: list[tuple[Trial, list[str]]] = []
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

    def _print_dry_run(self, study_name: str, sweep_dir: Path, space: SearchSpace) -> None:
        """What the sweep would do (`dry_run=true`): study, dir, budget, search space; nothing is created."""
        s = self.settings
        lines = [f"search {name}: {dist}" for name, dist in space.distributions.items()]
        lines += [f"fixed  {fixed}" for fixed in space.fixed]
        title = f"Optuna study '{study_name}' in {sweep_dir}, up to {s.n_trials} trials in total, {s.n_jobs} at a time,"
        print_dry_run(self.config, title, lines)


# study user attribute: `naming.config_key` of the config its latest sweep ran
CONFIG_ATTR = "config_key"


def pruning_override() -> str:
    """The override that adds the pruning callback to a trial's config; it reads the trial's `trial.*`."""
    node = {
        "_target_": PRUNING_CALLBACK,
        "storage": "${trial.storage}",
        "study_name": "${trial.study_name}",
        "trial_number": "${trial.trial_number}",
        "monitor": "${monitor}",
        "pruning_monitor": "${trial.pruning_monitor}",
    }
    return f"++callbacks.optuna_pruning={{{','.join(f'{k}:{v}' for k, v in node.items())}}}"


@dataclass(frozen=True)
class StudyPlan:
    """What the options resolve to, built before anything is created."""

    sampler: optuna.samplers.BaseSampler
    directions: list[str]
    url: str
    hook: SearchSpaceHook | None


def _has_callback(config: DictConfig, cls: type) -> bool:
    """True when `hydra.callbacks` has a callback of class `cls` (by class, not by its name)."""
    from hydra.utils import get_class

    for node in (config.hydra.get("callbacks") or {}).values():
        target = node.get("_target_") if node else None
        try:
            if target and issubclass(get_class(str(target)), cls):
                return True
        except Exception:  # a callback Hydra itself will fail to build, with its own message
            continue
    return False


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
