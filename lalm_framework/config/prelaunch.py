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

from lalm_framework import job_dir
from lalm_framework.config.validate import compose_jobs, validate_run
from lalm_framework.errors import UserError, exit_with
from lalm_framework.masking import current, guard
from lalm_framework.redaction import Redactor
from lalm_framework.run_record import mask_files
from lalm_framework.utils.plain_data import typed_overrides


def expand_basic_sweep(config: DictConfig) -> list[list[str]]:
    """The jobs the BasicSweeper will run, in order, as override lists."""
    from lalm_framework.compat.private_api import basic_sweep_jobs

    params = config.hydra.sweeper.get("params") or {}
    return basic_sweep_jobs([f"{k}={v}" for k, v in params.items()] + typed_overrides(config.hydra.overrides.task))


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
    trainer = _trainer_line(config)
    if trainer:
        print(f"trainer: {trainer}")
    print("nothing was launched (dry_run=true)")


def _trainer_line(config: DictConfig) -> str | None:
    """What the (unswept) trainer runs on, beside the request: its strategy, devices and nodes."""
    node = OmegaConf.select(config, "trainer", default=None)
    if not isinstance(node, DictConfig):
        return None
    try:
        trainer = OmegaConf.to_container(node, resolve=True)
    except Exception:
        trainer = OmegaConf.to_container(node, resolve=False)
    assert isinstance(trainer, dict)
    strategy = trainer.get("strategy", "auto")
    if isinstance(strategy, dict):
        name = str(strategy.get("_target_", "?")).rsplit(".", 1)[-1]
        sharding = strategy.get("sharding_strategy")
        strategy = f"{name}({sharding})" if sharding else name
    shown = {"strategy": strategy, **{k: trainer.get(k) for k in ("accelerator", "devices", "num_nodes")}}
    return ", ".join(f"{k}={v}" for k, v in shown.items() if v is not None)


def _print_jobs(config: DictConfig, jobs: Sequence[Sequence[str]]) -> None:
    redactor = current()
    lines = [f"#{idx}: {redactor.text(' '.join(overrides)) or '(no overrides)'}" for idx, overrides in enumerate(jobs)]
    print_dry_run(config, f"{len(jobs)} job(s)", lines)


class ValidateJobsCallback(Callback):
    """Hydra callback: compose + validate every job before the launcher starts any.

    It also guards the output dirs before Hydra writes to them (a writable dir, held by one
    process, resumed only by the same job: `lalm_framework.job_dir`) and keeps secrets typed on
    the command line out of every file Hydra saves and every line it prints.
    Hydra turns a callback's exception into a warning and launches anyway: errors exit here.
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        guard(_unresolved_task(config), typed_overrides(config.hydra.overrides.task))
        hide_secrets_in_overrides(config)
        jobs = [typed_overrides(config.hydra.overrides.task)]
        if config.get("dry_run"):
            try:
                validate_run(config)  # what the job would refuse, refused now: a dry run promises a valid run
            except UserError as e:
                exit_with(e)
            _print_jobs(config, jobs)
            sys.exit(0)
        run_dir = Path(config.hydra.run.dir)
        try:
            check_before_run(config)
            job_dir.claim(run_dir)  # held until this process ends: the job runs in it
            job_dir.check_same_job(run_dir, config)
        except UserError as e:
            exit_with(e)
        keep_previous_hydra_dir(run_dir, config.hydra.output_subdir)
        if any(o.split("=", 1)[0] == "logger" for o in jobs[0]):  # an experiment logger's run: say what it costs
            _say_if_long([config], jobs)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        guard(_unresolved_task(config), typed_overrides(config.hydra.overrides.task))
        if not _is_basic_sweeper(config):
            # other sweepers (lalm_optuna) choose their sweep dir later and validate each trial
            # they create; each job still holds its own dir (the runner)
            return
        jobs = expand_basic_sweep(config)
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            job_dir.check_writable(sweep_dir, what="sweep dir", fix="hydra.sweep.dir=<dir>")  # before slow checks
            composed = compose_jobs(config, jobs)
        except UserError as e:
            exit_with(e)
        _say_if_long(composed, jobs)
        if any(_is_dry_run(j) for j in jobs) or config.get("dry_run"):
            _print_jobs(config, jobs)
            sys.exit(0)
        try:
            job_dir.claim(sweep_dir, what="sweep dir", fix="hydra.sweep.dir=<dir>")
            for idx, job_cfg in enumerate(composed):
                _check_job_dir(idx, job_cfg)
        except UserError as e:
            exit_with(e)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        guard(_unresolved_task(config), typed_overrides(config.hydra.overrides.task))  # in the job's process
        mask_hydra_files(config.hydra, _unresolved_task(config))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        mask_hydra_files(config.hydra, _unresolved_task(config))


def _say_if_long(composed: Sequence[DictConfig], jobs: Sequence[Sequence[str]]) -> None:
    """Once, before launching: every job would train the default epochs (nothing is changed)."""
    from lalm_framework.config.long_runs import long_default_notice

    notice = long_default_notice(composed, jobs)
    if notice:
        sys.stderr.write(f"lalm-train: {notice}\n")


def check_before_run(config: DictConfig) -> None:
    """Resolve a run's task config as its job will, and check its GPUs, before Hydra creates its dir.

    An interpolation that cannot resolve (a missing key, an unset environment variable, a broken
    `${`) then fails here, without a run dir left behind, and so does a callback monitoring a
    validation metric in a run without validation; the job's own validation repeats these.
    Problems inside `${hydra:...}` values are left to the job, where Hydra sets all of them.
    """
    from omegaconf.errors import OmegaConfBaseException

    from lalm_framework.config.devices import check_gpus
    from lalm_framework.config.monitors import check_monitors
    from lalm_framework.errors import describe

    with job_dir.job_context(config) as job:
        try:
            OmegaConf.to_container(OmegaConf.masked_copy(job, [str(k) for k in job if k != "hydra"]), resolve=True)
        except OmegaConfBaseException as e:
            message = describe(e)
            if message is not None and "${hydra:" not in message:
                raise UserError(message) from e
        trainer = job.get("trainer")
        if isinstance(trainer, DictConfig):
            check_gpus(trainer)
            check_monitors(job)


def hide_secrets_in_overrides(config: DictConfig) -> None:
    """Mask secrets in a run's `hydra.overrides.task` before Hydra saves or prints them.

    Run mode only: the job is composed already, so nothing reads the overrides to compose again
    (a sweeper does: there they are masked in the saved files instead, `mask_hydra_files`).
    """
    from omegaconf import open_dict, read_write

    overrides = typed_overrides(config.hydra.overrides.task)
    masked = Redactor.create(overrides).strings(overrides)
    if masked != overrides:
        with read_write(config.hydra), open_dict(config.hydra):
            config.hydra.overrides.task = masked


def mask_hydra_files(hydra: DictConfig, task: Any) -> None:
    """Mask secrets in what Hydra saved for a job (`.hydra/*.yaml`) and its sweep (`multirun.yaml`).

    `task` is the job's config (plain data): values of its credential-named keys are secrets too.
    """
    from omegaconf import OmegaConf

    overrides = typed_overrides(OmegaConf.select(hydra, "overrides.task", default=[]))
    redactor = Redactor.create(task, overrides)
    files: list[Path] = []
    output_dir = OmegaConf.select(hydra, "runtime.output_dir", default=None)
    if output_dir and hydra.get("output_subdir"):
        files += sorted((Path(output_dir) / str(hydra.output_subdir)).glob("*.yaml"))
    if str(OmegaConf.select(hydra, "mode", default="")).endswith("MULTIRUN"):
        files.append(Path(str(hydra.sweep.dir)) / "multirun.yaml")
    mask_files(files, redactor)


def _unresolved_task(config: DictConfig) -> dict[str, Any]:
    from omegaconf import OmegaConf

    data = OmegaConf.to_container(config, resolve=False, enum_to_str=True)
    assert isinstance(data, dict)
    return {str(k): v for k, v in data.items() if k != "hydra"}


def _check_job_dir(idx: int, job_cfg: DictConfig) -> None:
    try:
        job_dir.check_same_job(Path(str(job_cfg.hydra.runtime.output_dir)), job_cfg)
    except UserError as e:
        raise UserError(f"Job #{idx}: {e}\nNothing was launched.") from e


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
