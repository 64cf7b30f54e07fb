"""hydra-submitit-launcher's executor setup, as a function (upstream has it inline in `launch`).

`lalm_slurm` subclasses hydra-submitit's `SlurmLauncher` for its options, but submits, follows
and cancels jobs itself, so it cannot call upstream's `launch`, the only place that turns the
launcher's options into a submitit executor. `slurm_executor` is that code, written against
hydra-submitit-launcher 1.2.0 (`UPSTREAM_SETUP` below, verbatim). One deliberate difference:
every option submitit's `SlurmExecutor` takes in its constructor goes there (hydra commit
17e9bd2b7a moved `python` there; 1.2.0 would send it to `update_parameters`, which refuses it).
`tests/core/test_hydra_submitit_compat.py` fails when the installed upstream's setup is no
longer `UPSTREAM_SETUP`: then compare, port the change here, and update the copy.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

# hydra-submitit-launcher 1.2.0, `BaseSubmititLauncher.launch`, from `# build executor` to
# `executor.update_parameters(**params)`
UPSTREAM_SETUP = """\
init_params = {"folder": self.params["submitit_folder"]}
specific_init_keys = {"max_num_timeout"}

init_params.update(
    **{
        f"{self._EXECUTOR}_{x}": y
        for x, y in params.items()
        if x in specific_init_keys
    }
)
init_keys = specific_init_keys | {"submitit_folder"}
executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init_params)

# specify resources/parameters
baseparams = set(OmegaConf.structured(BaseQueueConf).keys())
params = {
    x if x in baseparams else f"{self._EXECUTOR}_{x}": y
    for x, y in params.items()
    if x not in init_keys
}
executor.update_parameters(**params)
"""


def constructor_options() -> set[str]:
    """The launcher options submitit's `SlurmExecutor` takes in its constructor (not `folder`)."""
    from submitit import SlurmExecutor

    names = set(inspect.signature(SlurmExecutor.__init__).parameters) - {"self", "folder"}
    return {"max_num_timeout"} | names  # 1.2.0's own init key, whatever the constructor says


def slurm_executor(params: Mapping[str, Any]) -> Any:
    """The submitit executor hydra-submitit's `SlurmLauncher.launch` builds from its options.

    Example:
        >>> ex = slurm_executor({"submitit_folder": "/tmp/x/%j", "max_num_timeout": 3, "partition": "gpu"})
        >>> type(ex).__name__
        'AutoExecutor'
    """
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    init_keys = constructor_options()
    init = {f"slurm_{k}": v for k, v in params.items() if k in init_keys}
    executor = submitit.AutoExecutor(cluster="slurm", folder=params["submitit_folder"], **init)
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    rest = {k if k in base else f"slurm_{k}": v for k, v in params.items() if k not in init_keys | {"submitit_folder"}}
    executor.update_parameters(**rest)
    return executor
