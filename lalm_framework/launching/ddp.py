"""Multi-process (DDP) training inside a Hydra multirun without re-entering the sweep.

Lightning's DDP launcher starts ranks 1..N-1 by re-executing the current command line
(`sys.argv`), which for `lalm-train -m ...` is the whole sweep again (Hydra issue #2070). The
runner wraps `trainer.fit` in `ddp_job_env(job_dir)`; the ranks inherit its variables, and the
entry point calls `maybe_run_ddp_child()` first: a rank then loads its job's saved config and
runs the task function directly.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import setup_globals
from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf

from lalm_framework.compat.private_api import set_hydra_config_unvalidated
from lalm_framework.errors import UserError

JOB_DIR_ENV = "LALM_DDP_JOB_DIR"
CONFIG_DIR_ENV = "LALM_DDP_CONFIG_DIR"
TASK_ENV = "LALM_DDP_TASK"
DEFAULT_TASK = "lalm_framework.runner.run"


@contextlib.contextmanager
def ddp_job_env(job_dir: str | Path, task: str = DEFAULT_TASK) -> Iterator[None]:
    """Set, for the duration of `fit`, the variables DDP ranks need to run this job themselves."""
    config_dir = Path(job_dir) / _output_subdir()
    values = {JOB_DIR_ENV: str(Path(job_dir).absolute()), CONFIG_DIR_ENV: str(config_dir.absolute()), TASK_ENV: task}
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _output_subdir() -> str:
    if HydraConfig.initialized():
        subdir = HydraConfig.get().output_subdir
        if subdir is None:
            raise UserError(
                "Multi-process training needs the job's saved config, but "
                "hydra.output_subdir=null.\nRemove that override (default '.hydra')."
            )
        return str(subdir)
    return ".hydra"


def is_ddp_child() -> bool:
    """True in a rank that Lightning re-launched for a job run under `ddp_job_env`."""
    return os.environ.get("LOCAL_RANK", "0") != "0" and CONFIG_DIR_ENV in os.environ


def maybe_run_ddp_child() -> bool:
    """In a re-launched DDP rank: run this job's task from its saved config and return True."""
    if not is_ddp_child():
        return False
    _run_saved_job(Path(os.environ[CONFIG_DIR_ENV]), os.environ.get(TASK_ENV, DEFAULT_TASK))
    return True


def _run_saved_job(config_dir: Path, task: str) -> object | None:
    cfg_file, hydra_file = config_dir / "config.yaml", config_dir / "hydra.yaml"
    if not (cfg_file.is_file() and hydra_file.is_file()):
        raise UserError(
            f"DDP rank {os.environ.get('LOCAL_RANK')}: no saved job config in {config_dir}.\n"
            "Do not delete a job's .hydra directory while it trains."
        )
    setup_globals()  # the `hydra:` and `now:` resolvers
    cfg = OmegaConf.load(cfg_file)
    full = OmegaConf.merge(cfg, OmegaConf.load(hydra_file))
    assert isinstance(full, DictConfig)  # both files hold mappings
    # `${hydra:...}` in the job config then resolves against the job's own Hydra config
    set_hydra_config_unvalidated(full)
    hydra_node = full.hydra
    if hydra_node.job.chdir:
        os.chdir(hydra_node.runtime.output_dir)
    result: object | None = get_method(task)(cfg)
    return result
