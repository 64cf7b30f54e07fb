"""`lalm-train`: the Hydra app around the runner. Light at import: `--help` and `--cfg` stay fast."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import hydra
from omegaconf import DictConfig

from lalm_framework.cli.arguments import prepare_arguments
from lalm_framework.cli.short_errors import install as install_short_errors
from lalm_framework.errors import UserError, exit_with
from lalm_framework.masking import guard
from lalm_framework.run_record import COMMAND_ENV


@hydra.main(version_base="1.3", config_path=None, config_name="train")
def _train(cfg: DictConfig) -> float | None:
    from lalm_framework.runner import run

    return run(cfg)


def main() -> Any:
    """Entry point of `lalm-train`."""
    if "LOCAL_RANK" in os.environ:  # a rank Lightning re-launched for multi-process training
        from lalm_framework.launching.ddp import maybe_run_ddp_child

        if maybe_run_ddp_child():
            return None
    importable_launch_dir()
    guard()  # everything this process prints or logs, secrets masked (lalm_framework.masking)
    install_short_errors()
    os.environ[COMMAND_ENV] = json.dumps(sys.argv)  # run.json records the command as typed
    try:
        sys.argv[1:] = prepare_arguments(sys.argv[1:])
    except UserError as e:
        exit_with(e)
    sys.argv = implied_multirun(sys.argv)
    return _train()


# flags after which Hydra prints or completes instead of running: `-m` is not implied there
_NOT_A_RUN = ("-c", "--cfg", "-h", "--help", "--hydra-help", "-i", "--info", "-sc", "--shell-completion")


def implied_multirun(argv: list[str]) -> list[str]:
    """`hydra/launcher=X` without `-m`: Hydra would ignore the launcher and run the job right here
    (for a multi-node DDP job, waiting forever for its other nodes). Make it a one-job multirun."""
    args = argv[1:]
    if any(a in ("-m", "--multirun") or a.split("=", 1)[0] in _NOT_A_RUN for a in args):
        return argv
    if not any(a.startswith("hydra/launcher=") for a in args):
        return argv
    sys.stderr.write("lalm-train: hydra/launcher=... applies to multiruns: running as one (-m)\n")
    return [argv[0], "-m", *args]


def importable_launch_dir() -> None:
    """Make the user's project (the launch dir) importable here and in every job process.

    `_target_: my_project.data.MyData` should work when `lalm-train` runs from the project
    root, as it would with `python -m`; PYTHONPATH carries it to spawned and SLURM jobs.
    """
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if cwd not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([*paths, cwd])


if __name__ == "__main__":
    main()
