"""Validation of composed job configs: one job (`validate`) or every job of a sweep (`compose_jobs`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig, ListConfig, OmegaConf

from lalm_framework.config.devices import check_gpus
from lalm_framework.config.loggers import check_loggers
from lalm_framework.config.monitors import check_monitors
from lalm_framework.config.schema import TrainerConfig
from lalm_framework.config.strategies import check_strategy
from lalm_framework.errors import UserError
from lalm_framework.utils.ranges import field_ranges

if TYPE_CHECKING:
    from hydra.core.config_loader import ConfigLoader


def validate(cfg: DictConfig) -> None:
    """Check a composed job config; raise UserError naming the problem and the fix."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        keys = ", ".join(missing)
        raise UserError(
            f"Missing mandatory value(s): {keys}.\n"
            f"Set them on the command line (e.g. {missing[0]}=...) or in your config."
        )
    for group in ("dataset", "model"):  # the dataset first: the model may embed it (model.tokenizer.dataset)
        node = cfg.get(group)
        if not isinstance(node, DictConfig) or not ({"_target_", "target", "class_name"} & set(node.keys())):
            raise UserError(
                f"'{group}' names no class to build (no _target_).\n"
                f"Choose an option with {group}=<option> (see `lalm-train --help`)."
            )
        _run_component_check(group, node)
    _check_trainer_node(cfg)
    _check_built_nodes(cfg)
    _check_evaluation(cfg)
    _check_legacy_learning_rate(cfg)
    check_monitors(cfg)
    check_loggers(cfg.get("logger"))
    check_gpus(cfg.trainer)
    check_strategy(cfg)


def _check_trainer_node(cfg: DictConfig) -> None:
    from lalm_framework.errors import renamed_trainer_key

    ranges = field_ranges(TrainerConfig)
    for key in cfg.trainer:
        renamed = renamed_trainer_key(f"trainer.{key}")
        if renamed:  # added with +trainer.<key> or from an old config file
            raise UserError(renamed)
        if str(key) in ranges:
            ranges[str(key)].check("trainer", str(key), cfg.trainer.get(key))
    for key, group in (("callbacks", "callbacks.<name>=<node> (the callbacks group)"), ("logger", "logger=<option>")):
        if cfg.trainer.get(key) is not None:
            raise UserError(
                f"trainer.{key} is set; the runner builds {key} from the config groups.\n"
                f"Set them with {group}, and leave trainer.{key} null."
            )


def _check_built_nodes(cfg: DictConfig) -> None:
    """The arguments of every other `_target_` the runner builds, against its signature: each
    `callbacks.<name>` and `logger.<name>` node, and the nodes inside `trainer` (plugins, strategy,
    profiler...), nested at any depth. A misspelt argument fails here, not inside the job."""
    from lalm_framework.config.signature import check_arguments

    for group in ("callbacks", "logger"):
        node = cfg.get(group)
        if isinstance(node, DictConfig):
            for name, child in node.items():
                if isinstance(child, DictConfig):
                    check_arguments(child, where=f"{group}.{name!s}")
    for key, child in cfg.trainer.items():  # the Trainer's own arguments: its schema types them
        if isinstance(child, (DictConfig, ListConfig)):
            check_arguments(child, where=f"trainer.{key}")


def _check_evaluation(cfg: DictConfig) -> None:
    """The checkpoint exists; train=false evaluates one (never the untrained weights by accident)."""
    ckpt = cfg.trainer.get("ckpt_path")
    if ckpt not in (None, "last") and not Path(_abspath(ckpt)).is_file():
        raise UserError(
            f"trainer.ckpt_path: no checkpoint file at '{ckpt}'.\n"
            "Give an existing .ckpt path, or ckpt_path=last / null."
        )
    if cfg.train:
        return
    if not (cfg.validate or cfg.test):
        raise UserError(
            "train=false and neither validate nor test: nothing to run.\n"
            "Evaluate a checkpoint with: train=false validate=true (or test=true) trainer.ckpt_path=<file.ckpt>"
        )
    if ckpt is None and not cfg.get("evaluate_untrained"):
        raise UserError(
            "train=false evaluates a checkpoint, but trainer.ckpt_path is not set.\n"
            "Set trainer.ckpt_path=<file.ckpt> (or =last: this run dir's last.ckpt); "
            "to evaluate the untrained weights on purpose, set evaluate_untrained=true."
        )
    if ckpt == "last" and not (Path(str(cfg.paths.checkpoint_dir)) / "last.ckpt").is_file():
        raise UserError(
            f"trainer.ckpt_path=last: no last.ckpt in {cfg.paths.checkpoint_dir}.\n"
            "Give the checkpoint's path, or run in the dir of the run that wrote it (hydra.run.dir=<that dir>)."
        )


def _check_legacy_learning_rate(cfg: DictConfig) -> None:
    """A legacy model's `scale_lr` needs a batch size: fail here, not after the model is built."""
    from lalm_framework.compat.legacy import legacy_learning_rate, to_target_form

    dataset = to_target_form(OmegaConf.to_container(cfg.dataset, resolve=True, throw_on_missing=False))
    batch_size = dataset.get("batch_size") if isinstance(dataset, dict) else None
    legacy_learning_rate(
        cfg.model,
        batch_size if isinstance(batch_size, int) else None,
        accumulate_grad_batches=1,
        num_devices=1,
        num_nodes=1,
    )


def _abspath(path: str) -> str:
    from lalm_framework.utils.paths import resolve_path

    return str(resolve_path(path))


def _run_component_check(group: str, node: DictConfig) -> None:
    """Call the component class's own `validate_config(node)` when it defines one.

    Components know which of their fields are input paths; a check here fails before launch,
    where the same mistake would otherwise surface inside a job.
    """
    from lalm_framework.compat.legacy import to_target_form
    from lalm_framework.config.signature import check_arguments, import_target

    cls = import_target(to_target_form(node)["_target_"], where=f"{group}._target_")
    check = getattr(cls, "validate_config", None)
    if callable(check):  # first: the class's own words for its options beat the generic checks
        check(node)
    check_arguments(node, where=group)


def compose_jobs(
    config: DictConfig, jobs: Sequence[Sequence[str]], loader: ConfigLoader | None = None
) -> list[DictConfig]:
    """Compose and validate the config of every job; raise one UserError naming the bad job.

    Jobs of one config shape are composed once (`ShapeCachedLoader`); pass the `loader` of a
    sweep that checks its jobs one call at a time, so its cache lasts the sweep.
    """
    from hydra.core.global_hydra import GlobalHydra

    from lalm_framework.errors import describe
    from lalm_framework.launching.job_configs import shape_cached
    from lalm_framework.launching.slurm.resources import check_slurm_resources

    loader = shape_cached(loader or GlobalHydra.instance().config_loader())
    composed = []
    for idx, overrides in enumerate(jobs):
        try:
            job_cfg = loader.load_sweep_config(config, list(overrides))
            _as_launched(job_cfg, idx)
            with _job_context(job_cfg):
                validate(_task_part(job_cfg))
                check_slurm_resources(job_cfg)  # no-op unless hydra.launcher submits to SLURM
        except Exception as e:
            reason = describe(e) or f"{type(e).__name__}: {e}"
            raise UserError(
                f"Job #{idx} ({' '.join(overrides) or 'no overrides'}) is invalid; nothing was launched.\n{reason}"
            ) from e
        composed.append(job_cfg)
    return composed


def validate_run(config: DictConfig) -> None:
    """Validate the config of a single run (with its `hydra` node) as its job will; one UserError."""
    from lalm_framework.errors import describe

    try:
        with _job_context(config):
            validate(_task_part(config))
    except UserError:
        raise
    except Exception as e:
        raise UserError(describe(e) or f"{type(e).__name__}: {e}") from e


def _as_launched(job_cfg: DictConfig, idx: int) -> None:
    """Fill in what a launcher sets for job `idx` (its number, its output dir)."""
    from omegaconf import open_dict

    with open_dict(job_cfg):
        job_cfg.hydra.job.num = idx
        job_cfg.hydra.job.id = f"validate_{idx}"
        job_cfg.hydra.runtime.output_dir = str(Path(job_cfg.hydra.sweep.dir) / str(job_cfg.hydra.sweep.subdir))


def _task_part(job_cfg: DictConfig) -> DictConfig:
    from omegaconf import open_dict

    task = job_cfg.copy()
    with open_dict(task):
        del task["hydra"]
    return task


@contextmanager
def _job_context(job_cfg: DictConfig) -> Iterator[None]:
    """Make `${hydra:...}` interpolations of a job config resolvable while it is validated."""
    from hydra.core.hydra_config import HydraConfig

    hydra_config = HydraConfig.instance()
    previous = hydra_config.cfg
    hydra_config.set_config(job_cfg)
    try:
        yield
    finally:
        hydra_config.cfg = previous
