"""The `lalm_slurm` Launcher: hydra-submitit's SlurmLauncher, wired to `lalm_framework.launching.slurm`.

Light at import on purpose (Hydra imports every plugin at start-up): the work is imported lazily.
"""

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher


class LalmSlurmLauncher(SlurmLauncher):
    """One job array per batch; every job validated first; jobs whose task raised end FAILED in
    SLURM; a summary table; the warning signal checkpoints and requeues a training job."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from lalm_framework.launching import slurm

        return slurm.launch(self, job_overrides, initial_job_idx)

    def __call__(self, *args: Any, **kwargs: Any) -> JobReturn:
        # runs inside the SLURM job: its task gets the requeue callback/plugin nodes in its config
        from lalm_framework.launching import slurm

        with slurm.requeue_nodes_in_job(self):
            ret = super().__call__(*args, **kwargs)
        return slurm.raise_if_failed(ret)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        # called by submitit's handler of the warning signal (timeout / preemption), rank 0 only
        from lalm_framework.launching import slurm

        slurm.save_for_requeue()
        return super().checkpoint(*args, **kwargs)
