"""`benchmarks/bench_gpu_step.py` without CUDA: every strategy refuses in one line naming why."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import REPO, cli_env


@pytest.mark.parametrize("strategy", ["single", "ddp", "fsdp"])
def test_refuses_without_cuda_in_one_line(strategy: str) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here: the benchmark would run")
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_gpu_step.py"), "--strategy", strategy],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "bench_gpu_step: no CUDA device (torch.cuda.is_available() is False); run it on a GPU machine."
    ]


def test_an_unknown_strategy_is_refused_by_its_options() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_gpu_step.py"), "--strategy", "deepspeed"],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "invalid choice: 'deepspeed'" in proc.stderr
