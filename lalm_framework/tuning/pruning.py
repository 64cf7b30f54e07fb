"""Pruning across processes: a Lightning callback in the job reports to the study storage.

The lalm_optuna sweeper puts the callback into each trial's config (`tuning.sweep.pruning_override`:
a `callbacks.optuna_pruning` node reading `${trial.*}`); the runner builds it like any callback.
When the pruner stops the fit, the callback raises `TrialPruned` at the end of the fit: the
sweeper ends the trial PRUNED (not FAIL), run.json says "pruned", and the sweep goes on.

Step = epoch when validation runs once per epoch (the default), else the global step.
"""

from __future__ import annotations

import logging

import optuna
import pytorch_lightning as pl

from lalm_framework.errors import UserError
from lalm_framework.run_record import AttemptEnded
from lalm_framework.tuning.reporter import HALF_SET, TrialReporter

log = logging.getLogger(__name__)


class TrialPruned(optuna.TrialPruned, AttemptEnded):
    """The pruner stopped this trial's fit: Optuna's TrialPruned, recorded as "pruned" in run.json."""

    status = "pruned"


class OptunaPruningCallback(pl.Callback):
    """Report the monitored metric at every validation end; stop the fit when the pruner says so."""

    def __init__(
        self,
        storage: str | None,
        study_name: str | None,
        trial_number: int,
        monitor: str,
        pruning_monitor: str | None = None,
    ) -> None:
        if not storage or not study_name:
            raise UserError(HALF_SET)
        self.storage = storage
        self.study_name = study_name
        self.trial_number = trial_number
        self.monitor = pruning_monitor or monitor
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

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # after the fit, so that its checkpoints and loggers are complete; Lightning re-raises it
        if self.pruned_at is not None:
            raise TrialPruned(f"pruned at step {self.pruned_at} ({self.monitor}={self.pruned_value})")

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
