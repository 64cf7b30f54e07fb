"""Validation of composed job configs: one job (`validate`) or every job of a sweep (`compose_jobs`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lalm_framework.config.devices import check_gpus
from lalm_framework.errors import UserError


def validate(cfg: DictConfig) -> None:
    """Check a composed job config; raise UserError naming the problem and the fix."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        keys = ", ".join(missing)
        raise UserError(
            f"Missing mandatory value(s): {keys}.\n"
            f"Set them on the command line (e.g. {missing[0]}=...) or in your config."
        )
    for group in ("model", "dataset"):
        node = cfg.get(group)
        if not isinstance(node, DictConfig) or not ({"_target_", "target", "class_name"} & set(node.keys())):
            raise UserError(
                f"'{group}' names no class to build (no _target_).\n"
                f"Choose an option with {group}=<option> (see `lalm-train --help`)."
            )
        _run_component_check(group, node)
    ckpt = cfg.trainer.get("ckpt_path")
    if ckpt not in (None, "last") and not Path(_abspath(ckpt)).is_file():
        raise UserError(
            f"trainer.ckpt_path: no checkpoint file at '{ckpt}'.\n"
            "Give an existing .ckpt path, or ckpt_path=last / null."
        )
    check_gpus(cfg.trainer)


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
    check_arguments(node, where=group)
    check = getattr(cls, "validate_config", None)
    if callable(check):
        check(node)


def compose_jobs(config: DictConfig, jobs: Sequence[Sequence[str]]) -> list[DictConfig]:
    """Compose and validate the config of every job; raise one UserError naming the bad job."""
    from hydra.core.global_hydra import GlobalHydra

    from lalm_framework.errors import describe
    from lalm_framework.launching.slurm_resources import check_slurm_resources

    loader = GlobalHydra.instance().config_loader()
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


class _job_context:
    """Make `${hydra:...}` interpolations of a job config resolvable while it is validated."""

    def __init__(self, job_cfg: DictConfig) -> None:
        self.job_cfg = job_cfg

    def __enter__(self) -> None:
        from hydra.core.hydra_config import HydraConfig

        self.hc = HydraConfig.instance()
        self.prev = self.hc.cfg
        self.hc.set_config(self.job_cfg)

    def __exit__(self, *exc: Any) -> None:
        self.hc.cfg = self.prev
