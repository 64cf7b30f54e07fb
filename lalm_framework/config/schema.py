"""Dataclass schemas of the primary config `train` (type checks for every override).

Only stdlib + omegaconf here: these are imported on every `lalm-train --help`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional, Union

from omegaconf import MISSING

from lalm_framework.utils.ranges import AT_LEAST_0, AT_LEAST_1


class Mode(str, Enum):
    min = "min"
    max = "max"


@dataclass
class PathsConfig:
    """Where things live. Relative data paths resolve against `root_dir` (the launch dir)."""

    # the launch dir and the job's output dir: Hydra's when a Hydra app runs the job; outside one
    # (notebooks, scripts) the current dir and a fresh outputs/<task_name>/<date>/<time> dir
    root_dir: str = "${lalm.launch_dir:}"
    output_dir: str = "${lalm.output_dir:${task_name}}"
    data_dir: str = "${paths.root_dir}/data"
    checkpoint_dir: str = "${paths.output_dir}/checkpoints"


@dataclass
class TrainerConfig:
    """Arguments of `pytorch_lightning.Trainer`, typed. `ckpt_path` is passed to `fit`/`validate`/`test`.

    `plugins` lists `_target_` nodes (cluster environments, precision or checkpoint-IO plugins):
    the runner builds them, as it builds every `callbacks.<name>` node. Callbacks and loggers
    come from the `callbacks` and `logger` groups; `callbacks`/`logger` here stay null.

    Fields Lightning reads as "int or float" are `Union[int, float]` (OmegaConf >= 2.2 keeps the
    type given: `limit_train_batches=1` is one batch, `=1.0` all of them); a plain `float` would
    turn 1 into 1.0. A field's `metadata` declares its range (`utils.ranges`), checked before launch.
    """

    _target_: str = "pytorch_lightning.Trainer"
    accelerator: str = "auto"
    devices: Any = 1
    num_nodes: int = field(default=1, metadata=AT_LEAST_1.field())
    strategy: Any = "auto"
    precision: Optional[Union[int, str]] = "32-true"
    max_epochs: Optional[int] = 10
    min_epochs: Optional[int] = None
    max_steps: int = -1
    min_steps: Optional[int] = None
    max_time: Optional[str] = None
    # int = that many batches, float = that fraction: the user's type must survive (1 != 1.0)
    limit_train_batches: Optional[Union[int, float]] = None
    limit_val_batches: Optional[Union[int, float]] = None
    limit_test_batches: Optional[Union[int, float]] = None
    limit_predict_batches: Optional[Union[int, float]] = None
    overfit_batches: Union[int, float] = 0.0
    fast_dev_run: Union[bool, int] = False
    # also a time string ("00:01:00:00") in Lightning >= 2.5
    val_check_interval: Optional[Union[int, float, str]] = None
    check_val_every_n_epoch: Optional[int] = field(default=1, metadata=AT_LEAST_1.field())
    num_sanity_val_steps: Optional[int] = None
    log_every_n_steps: Optional[int] = field(default=10, metadata=AT_LEAST_1.field())
    accumulate_grad_batches: int = field(default=1, metadata=AT_LEAST_1.field())
    gradient_clip_val: Optional[Union[int, float]] = field(default=None, metadata=AT_LEAST_0.field())
    gradient_clip_algorithm: Optional[str] = None
    # True/False or "warn"
    deterministic: Optional[Union[bool, str]] = None
    benchmark: Optional[bool] = None
    sync_batchnorm: bool = False
    enable_progress_bar: Optional[bool] = None
    enable_model_summary: Optional[bool] = None
    enable_checkpointing: Optional[bool] = None
    reload_dataloaders_every_n_epochs: int = 0
    inference_mode: bool = True
    use_distributed_sampler: bool = True
    profiler: Any = None
    detect_anomaly: bool = False
    barebones: bool = False
    default_root_dir: Optional[str] = "${paths.output_dir}"
    plugins: Optional[list[Any]] = field(default_factory=list)
    # set by the `callbacks` and `logger` groups; here only so that full Trainer signatures compose
    callbacks: Any = None
    logger: Any = None
    # null: the runner decides (off when it logs the whole run config to the loggers itself).
    # Arguments newer than the installed Lightning are dropped while null.
    enable_autolog_hparams: Optional[bool] = None
    model_registry: Optional[str] = None
    # Not a Trainer argument: the checkpoint `fit` resumes from, or that train=false evaluates
    # ("last" = this job's last.ckpt).
    ckpt_path: Optional[str] = None


@dataclass
class TrialConfig:
    """Set by the `lalm_optuna` sweeper for each trial; empty on plain runs."""

    storage: Optional[str] = None
    study_name: Optional[str] = None
    trial_number: Optional[int] = None
    # monitored metrics the pruner sees (defaults to the run's `monitor`)
    pruning_monitor: Optional[str] = None


@dataclass
class TrainConfig:
    """The primary config of `lalm-train`."""

    task_name: str = "train"
    tags: list[str] = field(default_factory=list)
    seed: Optional[int] = 42
    # learning rate, top level so that sweeps read `lr=1e-4,3e-4`; models interpolate ${lr}
    lr: float = 1e-3
    # metric the runner returns to sweepers and checkpoints on
    monitor: str = "val/loss"
    mode: Mode = Mode.min
    train: bool = True
    validate: bool = False
    test: bool = False
    # train=false evaluates trainer.ckpt_path; evaluating the untrained weights needs this on purpose
    evaluate_untrained: bool = False
    paths: PathsConfig = field(default_factory=PathsConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    model: Any = MISSING
    dataset: Any = MISSING
    callbacks: dict[str, Any] = field(default_factory=dict)
    logger: dict[str, Any] = field(default_factory=dict)
    trial: TrialConfig = field(default_factory=TrialConfig)
    # list the job(s) with their overrides and launcher resources, then exit without running
    dry_run: bool = False
