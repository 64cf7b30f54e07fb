"""Preemption and timeout on SLURM: save `last.ckpt` atomically, requeue, resume in the same job dir.

ONE mechanism, submitit's: sbatch asks for the warning signal (`--signal=USR2@signal_delay_s`);
submitit's handler calls the launcher's `checkpoint()`, which saves the running trainer here, then
requeues the job (`scontrol requeue`). Lightning's own SLURM auto-requeue is switched off
(`SLURMEnvironment(auto_requeue=False)`) so the two never fight over the signal. The launcher puts
both (this module's `SaveOnTermination` callback and that plugin) into each job's config
(`slurm.add_requeue_nodes`); the runner builds them like any configured callback or plugin.

A requeue from outside (`scontrol requeue`, preemption with a grace time) sends SIGTERM instead:
Lightning stops at the next batch boundary and `SaveOnTermination` saves `last.ckpt` there, before
SLURM's KillWait runs out. Either way the requeued job runs the same pickled job in the same job
dir, and the runner resumes from `<job dir>/checkpoints/last.ckpt`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.strategies import FSDPStrategy
from pytorch_lightning.utilities.exceptions import SIGTERMException

from lalm_framework.compat.private_api import dump_checkpoint, stop_on_sigterm_of_rank_zero
from lalm_framework.launching.slurm import running_fit

log = logging.getLogger(__name__)

LAST = "last.ckpt"


class SaveOnTermination(pl.Callback):
    """Saves `<checkpoint_dir>/last.ckpt` when the job is told to stop (warning signal or SIGTERM)."""

    def __init__(self, checkpoint_dir: str | None = None) -> None:
        self.checkpoint_dir = checkpoint_dir
        self.trainer: pl.Trainer | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.trainer = trainer
        running_fit.hold(self)  # the warning signal's handler saves through us from now on

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # after Lightning registered its SIGTERM handler (fit start is before that)
        if trainer.world_size > 1:
            stop_on_sigterm_of_rank_zero(trainer)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._release()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        # SIGTERM (scontrol requeue, scancel, preemption): Lightning raised this at a batch boundary
        if isinstance(exception, SIGTERMException) and trainer.state.fn == "fit":
            self.save("SIGTERM")
        self._release()

    def _release(self) -> None:
        running_fit.release(self)

    def path(self) -> Path:
        assert self.trainer is not None
        return Path(self.checkpoint_dir or Path(self.trainer.default_root_dir) / "checkpoints") / LAST

    def save(self, why: str) -> Path | None:
        """Write the full training state to last.ckpt through the strategy's (atomic) checkpoint IO.

        Not `trainer.save_checkpoint`: that waits at a barrier for all ranks, and on the warning
        signal only rank 0 runs this (submitit lets the other ranks go on).
        """
        trainer = self.trainer
        if trainer is None or not trainer.is_global_zero:
            return None
        if isinstance(trainer.strategy, FSDPStrategy):
            # the state is sharded: gathering it needs every rank, and rank 0 stops alone here
            log.warning(
                "%s: not saved under FSDP; the requeued job resumes from the last periodic checkpoint "
                "(callbacks.last_checkpoint.every_n_train_steps=N saves one every N steps)",
                why,
            )
            return None
        path = self.path()
        checkpoint = dump_checkpoint(trainer)
        trainer.strategy.save_checkpoint(checkpoint, str(path))
        log.warning(
            "%s: saved %s at global step %d for the requeued job to resume from", why, path, trainer.global_step
        )
        return path
