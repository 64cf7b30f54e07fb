"""The toy objective of examples/optuna_curves: learning curves reported to the trial, epoch by epoch.

Each "epoch" the loss of parameter x is (x - 0.3)^2 + 0.5 / (epoch + 1); it is reported to the
study so the pruner can stop bad trials early, exactly as the Lightning pruning callback does.
No Hydra app here (importing this module sets nothing global): `app.py` is the app.
"""

from __future__ import annotations

import math
import os
import time

from omegaconf import DictConfig


def curve(x: float, epoch: int) -> float:
    """Validation loss of parameter `x` after `epoch` epochs."""
    return (x - 0.3) ** 2 + 0.5 / (epoch + 1)


def train(cfg: DictConfig) -> float:
    """Run `cfg.epochs` epochs, reporting each to the trial; raise TrialPruned when told to."""
    from lalm_framework.tuning.reporter import TrialReporter

    number = cfg.trial.trial_number
    if cfg.marker:
        with open(cfg.marker, "a") as f:
            f.write(f"start {number} {os.getpid()} {time.time():.3f}\n")
    durations = cfg.durations
    seconds = durations[number % len(durations)] if durations and number is not None else cfg.seconds_per_epoch
    reporter = TrialReporter.from_config(cfg)
    value = math.inf
    for epoch in range(cfg.epochs):
        time.sleep(seconds / cfg.epochs if durations else seconds)
        value = curve(cfg.x, epoch)
        if reporter is not None and reporter.report(value, epoch):
            import optuna

            reporter.mark_pruned(epoch)
            raise optuna.TrialPruned(f"pruned at epoch {epoch}")
    if cfg.nan_above is not None and cfg.x > cfg.nan_above:
        value = math.nan
    if cfg.marker:
        with open(cfg.marker, "a") as f:
            f.write(f"done {number} {os.getpid()} {time.time():.3f}\n")
    return value
