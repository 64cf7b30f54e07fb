"""The task function of `lalm-train`: one job, the same under every launcher.

validate -> seed -> instantiate (model, datamodule, callbacks, loggers, trainer) -> resume ->
fit -> validate/test -> run record -> return the monitored metric (what sweepers optimise).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import traceback
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lalm_framework.config.validate import validate
from lalm_framework.errors import UserError

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> float | None:
    """Train/validate/test one job described by `cfg`; return `cfg.monitor`'s value (or None)."""
    validate(cfg)
    job_dir = _job_dir(cfg)
    record = _start_record(cfg, job_dir)
    try:
        metrics = _train(cfg, job_dir, record)
    except BaseException as e:
        status = _failure_status(e)
        record.finish(status, {}, error="".join(traceback.format_exception_only(type(e), e)).strip())
        raise
    objective = _objective(cfg, metrics)
    record.finish("completed", metrics, objective=objective)  # a resumed sweep records the trial from it
    return objective


def _job_dir(cfg: DictConfig) -> Path:
    try:
        out = cfg.paths.output_dir
    except Exception as e:
        raise UserError(
            "paths.output_dir is not set: outside `lalm-train`, compose with overrides=['paths.output_dir=<dir>']"
        ) from e
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _global_rank() -> int:
    """This process's rank in multi-process training (0 when alone), from the launcher's env."""
    for var in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


def _start_record(cfg: DictConfig, job_dir: Path):
    from lalm_framework.run_record import RankRecord, RunRecord, mask_file, secret_values
    from lalm_framework.utils.paths import resolve_path

    if _global_rank() != 0:
        return RankRecord()  # rank 0 alone writes the job's record

    overrides: list[str] = []
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        overrides = list(HydraConfig.get().overrides.task)
        secrets = secret_values()
        if secrets:  # Hydra saved the overrides verbatim; a key typed on the command line must not stay
            for f in (job_dir / ".hydra").glob("*.yaml"):
                mask_file(f, secrets)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    return RunRecord(job_dir, resolve_path("."), resolved, overrides)


def _failure_status(e: BaseException) -> str:
    """How an attempt ended: stopped from outside (Ctrl-C, SIGTERM, requeue), pruned, or failed."""
    name = type(e).__name__
    if isinstance(e, (KeyboardInterrupt, SystemExit)) or name == "SIGTERMException":
        return "interrupted"
    return "pruned" if name == "TrialPruned" else "failed"


def _train(cfg: DictConfig, job_dir: Path, record: Any) -> dict[str, float]:
    import pytorch_lightning as pl

    from lalm_framework.compat.instantiate import instantiate
    from lalm_framework.training.checkpoint_io import AtomicCheckpointIO

    if cfg.seed is not None:
        pl.seed_everything(cfg.seed, workers=True)
    model = instantiate(cfg.model)
    datamodule = instantiate(cfg.dataset)
    callbacks = [instantiate(c) for c in cfg.callbacks.values() if c]
    loggers = [instantiate(c) for c in cfg.logger.values() if c]
    plugins: list[Any] = [AtomicCheckpointIO()]
    if cfg.trial.trial_number is not None:
        from lalm_framework.tuning.pruning import pruning_callbacks

        callbacks += pruning_callbacks(cfg)
    if os.environ.get("SLURM_JOB_ID"):
        from lalm_framework.launching.slurm import lightning_callbacks, lightning_plugins

        plugins += lightning_plugins()
        callbacks += lightning_callbacks(cfg.paths.checkpoint_dir)
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer_cfg.pop("ckpt_path", None)
    trainer = instantiate(trainer_cfg, callbacks=callbacks, logger=loggers or False, plugins=plugins)

    ckpt_path = resume_checkpoint(cfg)
    record.update(resumed_from=ckpt_path)
    if ckpt_path:
        log.info("Resuming from %s", ckpt_path)
    if cfg.train:
        with _ddp_env(trainer, job_dir):
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        if cfg.trial.trial_number is not None:
            from lalm_framework.tuning.pruning import check_pruned

            check_pruned(trainer)
    metrics = _scalars(trainer.callback_metrics)
    best = _best_score(trainer, cfg.monitor)
    if best is not None:
        metrics[f"{cfg.monitor}_best"] = best
    eval_ckpt = "best" if cfg.train and best is not None else None
    if cfg.validate:
        trainer.validate(model, datamodule=datamodule, ckpt_path=eval_ckpt)
        metrics.update(_scalars(trainer.callback_metrics))
    if cfg.test:
        trainer.test(model, datamodule=datamodule, ckpt_path=eval_ckpt)
        metrics.update(_scalars(trainer.callback_metrics))
    metrics["global_step"] = float(trainer.global_step)
    return metrics


def _ddp_env(trainer: Any, job_dir: Path) -> Any:
    """Multi-process training re-launches this command per rank; tell those ranks their job."""
    if trainer.world_size <= 1:
        return contextlib.nullcontext()
    from lalm_framework.launching.ddp import ddp_job_env

    return ddp_job_env(job_dir)


def resume_checkpoint(cfg: DictConfig) -> str | None:
    """The checkpoint `fit` resumes from: explicit `trainer.ckpt_path`, else this job's last.ckpt."""
    from lalm_framework.utils.paths import resolve_path

    explicit = cfg.trainer.get("ckpt_path")
    last = Path(cfg.paths.checkpoint_dir) / "last.ckpt"
    if explicit == "last" or (explicit is None and last.is_file()):
        return str(last) if last.is_file() else None
    return str(resolve_path(explicit)) if explicit else None


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            continue
    return out


def _best_score(trainer: Any, monitor: str) -> float | None:
    from pytorch_lightning.callbacks import ModelCheckpoint

    for cb in trainer.callbacks:
        if isinstance(cb, ModelCheckpoint) and cb.monitor == monitor and cb.best_model_score is not None:
            return float(cb.best_model_score)
    return None


def _objective(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """Best value of the monitored metric over the run (last value if nothing checkpointed on it)."""
    value = metrics.get(f"{cfg.monitor}_best", metrics.get(cfg.monitor))
    if value is None:
        log.warning("monitor '%s' was never logged; logged metrics: %s", cfg.monitor, sorted(metrics))
        return None
    if not math.isfinite(value):
        log.warning("monitor '%s' is %s", cfg.monitor, value)
    return value
