"""Pruning across processes: a Lightning callback in the job reports to the study storage.

The runner calls, when `cfg.trial.trial_number` is set (the lalm_optuna sweeper sets it):
    callbacks += pruning_callbacks(cfg)      # before trainer.fit
    check_pruned(trainer)                    # right after fit: raises optuna.TrialPruned
The sweeper then ends the trial PRUNED (not FAIL) and the sweep goes on.

Step = epoch when validation runs once per epoch (the default), else the global step.
"""

from __future__ import annotations

import logging
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig

from lalm_framework.errors import UserError
from lalm_framework.tuning.reporter import HALF_SET, TrialReporter

log = logging.getLogger(__name__)


class OptunaPruningCallback(pl.Callback):
    """Report `monitor` at every validation end; stop the trainer when the pruner says so."""

    def __init__(self, storage: str, study_name: str, trial_number: int, monitor: str) -> None:
        self.storage = storage
        self.study_name = study_name
        self.trial_number = trial_number
        self.monitor = monitor
        self.pruned_at: int | None = None
        self.pruned_value: float | None = None
        self._reporter: TrialReporter | None = None
        self._warned = False

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit" and trainer.is_global_zero and self._reporter is None:
            self._reporter = TrialReporter(self.storage, self.study_name, self.trial_number)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.pruned_at is not None or trainer.state.fn != "fit":
            return
        step = _step(trainer)
        prune, value = False, None
        if trainer.is_global_zero and self._reporter is not None:
            metric = trainer.callback_metrics.get(self.monitor)
            if metric is None:
                self._warn_missing(trainer)
            else:
                value = float(metric)
                prune = self._reporter.report(value, step)
        prune = trainer.strategy.broadcast(prune, src=0)
        if prune:
            self.pruned_at, self.pruned_value = step, value
            trainer.should_stop = True
            if self._reporter is not None:
                self._reporter.mark_pruned(step)
            log.info("Trial %d pruned at step %d (%s=%s)", self.trial_number, step, self.monitor, value)

    def _warn_missing(self, trainer: pl.Trainer) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "Pruning: metric '%s' is not logged (logged: %s); set trial.pruning_monitor or monitor to one of them.",
                self.monitor,
                sorted(trainer.callback_metrics),
            )


def _step(trainer: pl.Trainer) -> int:
    interval = getattr(trainer, "val_check_interval", 1.0)
    per_epoch = isinstance(interval, float) and interval == 1.0
    return int(trainer.current_epoch if per_epoch else trainer.global_step)


def pruning_callbacks(cfg: DictConfig) -> list[pl.Callback]:
    """The callbacks a trial's job adds to its Trainer (none on plain runs)."""
    trial = cfg.trial
    if trial.trial_number is None:
        return []
    if not trial.get("storage") or not trial.get("study_name"):
        raise UserError(HALF_SET)
    monitor = trial.get("pruning_monitor") or cfg.monitor
    return [OptunaPruningCallback(str(trial.storage), str(trial.study_name), int(trial.trial_number), monitor)]


def check_pruned(trainer: Any) -> None:
    """Raise `optuna.TrialPruned` if the pruning callback stopped this fit."""
    import optuna

    for cb in getattr(trainer, "callbacks", []):
        if isinstance(cb, OptunaPruningCallback) and cb.pruned_at is not None:
            raise optuna.TrialPruned(f"pruned at step {cb.pruned_at} ({cb.monitor}={cb.pruned_value})")
