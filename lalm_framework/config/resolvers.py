"""`${lalm.launch_dir:}` and `${lalm.output_dir:<task>}`: the paths of a job, inside Hydra or not;
`${lalm.monitor:}`: the metric a run selects its best checkpoint on (`default_monitor`).

Inside a Hydra app they are Hydra's launch dir and job output dir. Outside one (a notebook, a
script that composes with `lalm_framework.compose` or Hydra's `compose`) they are the current dir
and a fresh `outputs/<task>/<date>/<time>` dir, so `OmegaConf.to_yaml(cfg, resolve=True)` and
`lalm_framework.run(cfg)` work there too; `pin_paths` fixes that fresh dir in a config (not a
resolver cache: OmegaConf resolves values while merging configs, and a cached value would leak
from composition into the job).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

LAUNCH_DIR = "lalm.launch_dir"
OUTPUT_DIR = "lalm.output_dir"
MONITOR = "lalm.monitor"
LALM_MODULE = "LalmModule"  # the class name of lalm_framework.models.lalm_module.LalmModule


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


def default_monitor(*, _root_: DictConfig) -> str:
    """The WER of the first validation set (`val/wer`, `val/clean/wer`) for an audio LLM run, else `val/loss`.

    Read from the config alone (no model is built): the model's `_target_` (or legacy `target`)
    names `LalmModule`, its `wer_every_n_val` is not 0, and the dataset's `val` names the sets.
    """
    from lalm_framework.trainer_addons.eval_sets import metric_key

    model, dataset = _arguments(_root_.get("model")), _arguments(_root_.get("dataset"))
    target = str(model.get("_target_") or model.get("target") or "")
    if target.rpartition(".")[2] != LALM_MODULE or model.get("wer_every_n_val", 1) == 0:
        return "val/loss"
    val = dataset.get("val")
    # named sets {name: node}; one node ({source: ...}) or the flat keys: the one unnamed set
    if isinstance(val, DictConfig) and "source" not in val and len(val) > 0:
        return metric_key("val", str(next(iter(val))), "wer")
    return metric_key("val", "", "wer")


def _arguments(node: object) -> Mapping[str, Any]:
    """A `_target_` node's arguments, or a legacy `target`/`params` node's params (with its target)."""
    if not isinstance(node, DictConfig):
        return {}
    params = node.get("params") if "target" in node else None
    if isinstance(params, DictConfig):
        return {"target": node.get("target"), **{k: params.get(k) for k in ("wer_every_n_val", "val") if k in params}}
    return node


def register_resolvers() -> None:
    """Register the `lalm.*` resolvers (idempotent)."""
    if not OmegaConf.has_resolver(LAUNCH_DIR):
        OmegaConf.register_new_resolver(LAUNCH_DIR, launch_dir)
    if not OmegaConf.has_resolver(OUTPUT_DIR):
        OmegaConf.register_new_resolver(OUTPUT_DIR, output_dir)
    if not OmegaConf.has_resolver(MONITOR):
        OmegaConf.register_new_resolver(MONITOR, default_monitor)


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
