"""GPU leases: ids handed out per job, returned when it ends, never over `jobs_per_gpu`."""

import pytest

from lalm_framework.errors import UserError
from lalm_framework.launching.pool.gpu_leases import GpuLeases, detect_gpus, resolve_gpus
from lalm_framework.launching.pool.settings import parse_gpu_spec


def test_one_job_per_gpu_until_released() -> None:
    leases = GpuLeases(["0", "1"], gpus_per_job=1, jobs_per_gpu=1)
    assert leases.capacity == 2
    a, b = leases.acquire(), leases.acquire()
    assert sorted(a + b) == ["0", "1"] and leases.acquire() is None
    leases.release(a)
    assert leases.acquire() == a
    assert leases.env(["1"]) == {"CUDA_VISIBLE_DEVICES": "1"}


def test_shared_gpus_and_multi_gpu_jobs() -> None:
    shared = GpuLeases(["0", "1"], gpus_per_job=1, jobs_per_gpu=2)
    got = [shared.acquire() for _ in range(4)]
    assert sorted(g[0] for g in got) == ["0", "0", "1", "1"] and shared.acquire() is None
    wide = GpuLeases(["0", "1", "2", "3"], gpus_per_job=2, jobs_per_gpu=1)
    first, second = wide.acquire(), wide.acquire()
    assert len(set(first) | set(second)) == 4 and wide.acquire() is None
    assert wide.env(first)["CUDA_VISIBLE_DEVICES"].count(",") == 1


def test_cpu_only_pool_and_more_gpus_per_job_than_gpus() -> None:
    cpu = GpuLeases([], gpus_per_job=1, jobs_per_gpu=1)
    assert cpu.capacity is None and cpu.acquire() == []
    with pytest.raises(UserError, match="gpus_per_job=3"):
        GpuLeases(["0", "1"], gpus_per_job=3, jobs_per_gpu=1)


def test_gpu_lists_from_options_and_environment() -> None:
    assert resolve_gpus(parse_gpu_spec([0, 1])) == ["0", "1"] and resolve_gpus(parse_gpu_spec(None)) == []
    assert resolve_gpus(parse_gpu_spec("2,3")) == ["2", "3"] and parse_gpu_spec(" Auto") == "auto"
    assert parse_gpu_spec(["GPU-5c1e", "MIG-1a2b"]) == ("GPU-5c1e", "MIG-1a2b")
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": "4,5"}) == ["4", "5"]
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
