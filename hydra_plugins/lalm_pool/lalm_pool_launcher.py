"""The `lalm_pool` Launcher plugin: wires Hydra to `lalm_framework.launching.pool.launcher`."""

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class LalmPoolLauncher(Launcher):
    """Runs each job in a fresh process; a new job starts whenever one ends; GPU leases; retries.

    Also a `StreamingLauncher` (`launch_stream`) for sweepers that ask for one job at a time.
    """

    def __init__(self, **options: Any) -> None:
        from lalm_framework.launching.pool.settings import PoolSettings

        # every option's default lives in config.py (LalmPoolLauncherConf); checked here, before any job
        self.settings = PoolSettings.from_options(options)
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from lalm_framework.launching.job_configs import use_shape_cache

        use_shape_cache(hydra_context)  # the sweeper's check of each batch: one composition per config shape
        self.config = config
        self.task_function = task_function
        self.hydra_context = hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from lalm_framework.launching.pool import launcher as pool_launcher

        return pool_launcher.launch(self, job_overrides, initial_job_idx)

    def launch_stream(self, source: Any, initial_job_idx: int, max_in_flight: int) -> int:
        from lalm_framework.launching.pool import launcher as pool_launcher

        return pool_launcher.launch_stream(self, source, initial_job_idx, max_in_flight)
