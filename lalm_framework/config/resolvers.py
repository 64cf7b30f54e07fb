"""`${lalm.launch_dir:}` and `${lalm.output_dir:<task>}`: the paths of a job, inside Hydra or not.

Inside a Hydra app they are Hydra's launch dir and job output dir. Outside one (a notebook, a
script that composes with `lalm_framework.compose` or Hydra's `compose`) they are the current dir
and a fresh `outputs/<task>/<date>/<time>` dir, so `OmegaConf.to_yaml(cfg, resolve=True)` and
`lalm_framework.run(cfg)` work there too; `pin_paths` fixes that fresh dir in a config (not a
resolver cache: OmegaConf resolves values while merging configs, and a cached value would leak
from composition into the job).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

LAUNCH_DIR = "lalm.launch_dir"
OUTPUT_DIR = "lalm.output_dir"


def launch_dir() -> str:
    """The directory the job was launched from (Hydra's `runtime.cwd`, else the current dir)."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        cwd = HydraConfig.get().runtime.cwd
        if cwd:
            return str(cwd)
    return os.getcwd()


def output_dir(task_name: str = "train") -> str:
    """The job's output dir: Hydra's, what `--cfg` would use, or a fresh one outside Hydra."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        hydra = HydraConfig.get()
        if not OmegaConf.is_missing(hydra.runtime, "output_dir"):
            return str(hydra.runtime.output_dir)
        # `--cfg job --resolve`: no job ran yet; show the dir a run would use
        return str(Path(launch_dir(), str(hydra.run.dir)))
    return fresh_output_dir(task_name)


def fresh_output_dir(task_name: str, root: str | None = None) -> str:
    """`<root>/outputs/<task>/<date>/<time with microseconds>`: the layout of `lalm-train` runs."""
    now = datetime.now()
    return str(Path(root or os.getcwd(), "outputs", task_name, f"{now:%Y-%m-%d}", f"{now:%H-%M-%S_%f}"))


def register_resolvers() -> None:
    """Register the `lalm.*` resolvers (idempotent)."""
    if not OmegaConf.has_resolver(LAUNCH_DIR):
        OmegaConf.register_new_resolver(LAUNCH_DIR, launch_dir)
    if not OmegaConf.has_resolver(OUTPUT_DIR):
        OmegaConf.register_new_resolver(OUTPUT_DIR, output_dir)


def pin_paths(cfg: DictConfig) -> None:
    """Concrete launch and output dirs where `cfg` leaves them to the `lalm.*` resolvers (outside Hydra).

    Without this, every access of `paths.output_dir` outside a Hydra job would name a new dir.
    """
    paths = cfg.get("paths")
    if not isinstance(paths, DictConfig):
        return
    raw = OmegaConf.to_container(paths, resolve=False)
    assert isinstance(raw, dict)
    with open_dict(paths):
        if str(raw.get("root_dir", "")).startswith("${" + LAUNCH_DIR):
            paths.root_dir = os.getcwd()
        if str(raw.get("output_dir", "")).startswith("${" + OUTPUT_DIR):
            paths.output_dir = fresh_output_dir(str(cfg.get("task_name", "train")))
