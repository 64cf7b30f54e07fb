"""What `lalm-train` does with its command line before Hydra sees it.

- `--config-path` is taken from the launch dir (a console script has no other sensible base).
- A saved job config (`outputs/.../.hydra/config.yaml`: no defaults list) given with
  `--config-path DIR --config-name NAME` reruns as a `train` config: composed onto our schema
  (type checks) and our Hydra settings (output layout, pre-launch validation), with its edits.
- `--config-dir DIR`: DIR's options win over ours of the same group and name (Hydra alone would
  put --config-dir after search-path plugins, so ours would silently win); `lalm-doctor` shows
  the same order.
- `--dry-run` and other `--<config key>` flags get a hint at the override (`dry_run=true`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from lalm_framework.errors import UserError

RERUN_CONFIG = "lalm_rerun"
_FLAGS = {"--config-path": "-cp", "--config-name": "-cn", "--config-dir": "-cd"}


def prepare_arguments(argv: Sequence[str], cwd: Path | None = None) -> list[str]:
    """`argv` (without the program name) as Hydra should receive it; registers a rerun config if needed."""
    cwd = cwd or Path(os.getcwd())
    _hint_unknown_flags(argv)
    values, rest = _split_config_flags(argv)
    config_path, config_name, config_dir = (values.get(k) for k in _FLAGS)
    if config_path is not None and "://" not in config_path:
        config_path = str((cwd / config_path).absolute())
    if config_path is not None and config_name is not None and is_saved_job_config(config_path, config_name):
        register_rerun(Path(config_path) / f"{config_name}.yaml")
        config_name = RERUN_CONFIG
        config_path = None
    if config_dir is not None and config_path is None:
        # the user's dir as the app's main config dir: searched before the plugins' (ours)
        config_path, config_dir = str((cwd / config_dir).absolute()), None
    out = list(rest)
    for flag, value in (("--config-path", config_path), ("--config-name", config_name), ("--config-dir", config_dir)):
        if value is not None:
            out = [f"{flag}={value}", *out]
    return out


def _split_config_flags(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """The values of --config-path/-name/-dir (any spelling) and the other arguments, in order."""
    aliases = {short: long for long, short in _FLAGS.items()}
    values: dict[str, str] = {}
    rest: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        name = aliases.get(name, name)
        if name in _FLAGS and arg.startswith("-"):
            if not eq:
                if i + 1 >= len(args):
                    raise UserError(f"{arg} needs a value, e.g. {arg} <dir>.")
                i, value = i + 1, args[i + 1]
            values[name] = value
        else:
            rest.append(arg)
        i += 1
    return values, rest


def is_saved_job_config(config_path: str, config_name: str) -> bool:
    """Whether NAME.yaml in DIR is a job config Hydra saved (flat: no defaults list), not a primary config."""
    file = Path(config_path) / f"{config_name.removesuffix('.yaml')}.yaml"
    if not file.is_file():
        return False
    from omegaconf import DictConfig, OmegaConf

    try:
        node = OmegaConf.load(file)
    except Exception:
        return False  # Hydra reports the broken file
    return isinstance(node, DictConfig) and "defaults" not in node and "trainer" in node


def register_rerun(file: Path) -> None:
    """Store the saved job config `file` as the primary config `lalm_rerun`: schema + Hydra settings + it."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    node = OmegaConf.load(file)
    node.defaults = ["train_schema", "train_hydra", "_self_"]
    ConfigStore.instance().store(name=RERUN_CONFIG, node=node, provider=f"rerun of {file}")


def _hint_unknown_flags(argv: Sequence[str]) -> None:
    """`--dry-run` is not a Hydra flag: say which override the user meant."""
    from lalm_framework.compat.private_api import hydra_args_parser
    from lalm_framework.config.schema import TrainConfig

    _, unknown = hydra_args_parser().parse_known_args(list(argv))
    keys = {f.name: f for f in fields(TrainConfig)}
    for arg in unknown:
        if not arg.startswith("--"):
            continue
        name, eq, value = arg[2:].partition("=")
        key = name.replace("-", "_")
        if key in keys:
            shown = value if eq else ("true" if keys[key].type in (bool, "bool") else "<value>")
            raise UserError(
                f"Unknown option {arg}: lalm-train takes settings as key=value overrides.\nUse {key}={shown}"
            )
