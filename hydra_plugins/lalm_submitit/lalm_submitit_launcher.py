"""The `lalm_slurm` Launcher: hydra-submitit's SlurmLauncher, wired to `lalm_framework.launching.slurm.launcher`.

Light at import on purpose (Hydra imports every plugin at start-up): the work is imported lazily.
"""

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from hydra.core.utils import JobReturn
from hydra.types import HydraContext, TaskFunction
from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
from omegaconf import DictConfig

from hydra_plugins.lalm_submitit.config import LalmSlurmQueueConf
from lalm_framework.launching.protocol import JobSource
from lalm_framework.launching.slurm.resources import SlurmOptions

# our keys of hydra.launcher (everything else goes to sbatch through submitit)
OWN_OPTIONS = frozenset(f.name for f in fields(LalmSlurmQueueConf)) - {f.name for f in fields(SlurmQueueConf)}


class LalmSlurmLauncher(SlurmLauncher):  # type: ignore[misc]  # hydra-submitit ships no types: its base is Any
    """One job array per batch, or one job per trial when a sweeper streams (`launch_stream`);
    every job validated first; jobs whose task raised end FAILED in SLURM; a summary table; the
    warning signal checkpoints and requeues a training job; stopping the sweep cancels its jobs."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**{k: v for k, v in params.items() if k not in OWN_OPTIONS})
        self.options = SlurmOptions(**{k: params[k] for k in OWN_OPTIONS})

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from lalm_framework.launching.job_configs import use_shape_cache

        use_shape_cache(hydra_context)  # the sweeper's check of each batch: one composition per config shape
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from lalm_framework.launching.slurm import launcher as slurm

        return slurm.launch(self, job_overrides, initial_job_idx)

    def launch_stream(self, source: JobSource, initial_job_idx: int, max_in_flight: int) -> int:
        from lalm_framework.launching.slurm import launcher as slurm

        return slurm.launch_stream(self, source, initial_job_idx, max_in_flight)

    def __call__(self, *args: Any, **kwargs: Any) -> JobReturn:
        # runs inside the SLURM job, once per task (rank): its task gets the requeue
        # callback/plugin nodes in its config
        from lalm_framework.launching.slurm import launcher as slurm

        slurm.announce_task()
        with slurm.requeue_nodes_in_job(self):
            ret = super().__call__(*args, **kwargs)
        return slurm.raise_if_failed(ret)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        # called by submitit's handler of the warning signal (timeout / preemption), rank 0 only
        from lalm_framework.launching.slurm import launcher as slurm

        slurm.save_for_requeue()
        return super().checkpoint(*args, **kwargs)
