"""The `lalm_optuna` Sweeper: wires Hydra to `lalm_framework.tuning.sweep` (no optuna import here)."""

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class LalmOptunaSweeper(Sweeper):
    def __init__(self, **options: Any) -> None:
        from lalm_framework.tuning.settings import SweepSettings

        # every option's default lives in config.py (LalmOptunaSweeperConf); checked here, before anything
        self.settings = SweepSettings.from_options(options)
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        # the launcher is created in `sweep`, once the sweep dir is settled (it may be made stable)
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        from lalm_framework.tuning.sweep import OptunaSweep

        return OptunaSweep(self.settings, self.config, self.hydra_context, self.task_function).run(arguments)
