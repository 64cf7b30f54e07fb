"""Our copy of hydra-submitit's executor setup (lalm_framework.compat.hydra_submitit) against upstream."""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

from hydra_plugins.hydra_submitit_launcher.submitit_launcher import BaseSubmititLauncher

from lalm_framework.compat.hydra_submitit import UPSTREAM_SETUP, constructor_options, slurm_executor


def _upstream_setup() -> list[ast.stmt]:
    """The statements of the installed `BaseSubmititLauncher.launch` that build the executor."""
    (launch,) = ast.parse(textwrap.dedent(inspect.getsource(BaseSubmititLauncher.launch))).body
    assert isinstance(launch, ast.FunctionDef)
    body = launch.body
    start = next(i for i, s in enumerate(body) if "init_params" in ast.unparse(s))
    end = next(i for i, s in enumerate(body) if "executor.update_parameters" in ast.unparse(s))
    return body[start : end + 1]


def test_upstream_executor_setup_is_the_one_we_copied():
    installed = [ast.dump(s) for s in _upstream_setup()]
    copied = [ast.dump(s) for s in ast.parse(UPSTREAM_SETUP).body]
    assert installed == copied, (
        "hydra-submitit-launcher's executor setup changed: port it to lalm_framework/compat/"
        "hydra_submitit.py and update UPSTREAM_SETUP. Installed now:\n"
        + "\n".join(ast.unparse(s) for s in _upstream_setup())
    )


def test_constructor_options_go_to_the_constructor_the_rest_to_update_parameters(tmp_path: Path):
    # submitit >= 1.5 takes `python` in SlurmExecutor's constructor (hydra commit 17e9bd2b7a
    # followed); as an sbatch parameter submitit refuses it ("Unknown argument 'python'")
    assert {"max_num_timeout", "python"} <= constructor_options()
    params = {
        "submitit_folder": str(tmp_path / "%j"),
        "max_num_timeout": 5,
        "python": "/usr/bin/python3",
        "partition": "gpu",
        "timeout_min": 7,
        "tasks_per_node": 2,
        "signal_delay_s": 90,
    }
    slurm = slurm_executor(params)._executor
    assert (slurm.python, slurm.max_num_timeout) == ("/usr/bin/python3", 5)
    assert slurm.parameters == {"time": 7, "ntasks_per_node": 2, "partition": "gpu", "signal_delay_s": 90}
    assert str(slurm.folder) == str(tmp_path / "%j")


def test_without_python_the_executor_is_upstreams(tmp_path: Path):
    params = {"submitit_folder": str(tmp_path), "max_num_timeout": 2, "nodes": 2, "mem_gb": 4}
    slurm = slurm_executor(params)._executor
    assert slurm.max_num_timeout == 2 and slurm.parameters == {"nodes": 2, "mem": "4GB"}
