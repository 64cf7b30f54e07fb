"""Faults around a job dir: killed attempts, leftover temp files, two writers, resuming another job.

Processes are killed for real (SIGKILL); locks are real `flock`s held by other processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from lalm_framework import compose, job_dir
from lalm_framework.errors import UserError
from lalm_framework.run_record import RunRecord, load_record
from tests.helpers import run_cli, start_cli


def _spawn(code: str, *args: str) -> subprocess.Popen[str]:
    """A Python child that prints 'ready' once it reached the point the test waits for."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_a_killed_attempt_is_closed_by_the_next_with_when_it_was_last_seen(tmp_path):
    proc = _spawn(
        """
        import sys, time
        from pathlib import Path
        from lalm_framework.run_record import RunRecord
        RunRecord(Path(sys.argv[1]), Path("."), {"lr": 1}, ["lr=1"], heartbeat_s=0.2)
        time.sleep(2.5)  # a few heartbeats (the record keeps whole seconds)
        print("ready", flush=True)
        time.sleep(600)
        """,
        str(tmp_path),
    )
    killed_at = time.time()
    _kill(proc)
    first = load_record(tmp_path)["attempts"][0]
    assert first["status"] == "running" and first["last_seen"] != first["started"]  # the heartbeat ran

    record = RunRecord(tmp_path, Path("."), {"lr": 1}, ["lr=1"])
    record.finish("completed", {"x": 1.0})
    closed, second = load_record(tmp_path)["attempts"]
    assert closed["status"] == "killed" and second["status"] == "completed"
    assert closed["last_seen"] == first["last_seen"] or closed["last_seen"] > first["last_seen"]
    seen = time.mktime(time.strptime(closed["last_seen"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert killed_at - 3 <= seen <= killed_at + 1, (closed["last_seen"], killed_at)
    assert f"pid {proc.pid}" in closed["error"] and "last seen alive" in closed["error"].lower()


def test_heartbeat_refreshes_last_seen(tmp_path):
    record = RunRecord(tmp_path, Path("."), {}, [], heartbeat_s=0.1)
    first = load_record(tmp_path)["attempts"][0]["last_seen"]
    time.sleep(1.3)
    later = load_record(tmp_path)["attempts"][0]["last_seen"]
    record.finish("completed", {})
    assert later > first
    settled = load_record(tmp_path)
    time.sleep(0.3)
    assert load_record(tmp_path) == settled, "the heartbeat kept writing after finish()"


def test_a_kill_during_an_atomic_write_leaves_a_temp_file_that_the_next_run_removes(tmp_path):
    ckpt_dir = tmp_path / "checkpoints"
    proc = _spawn(
        """
        import sys, time
        from lalm_framework.utils.files import atomic_write
        def slow(f):
            f.write(b"half a checkpoint")
            f.flush()
            print("ready", flush=True)
            time.sleep(600)
        atomic_write(sys.argv[1], slow)
        """,
        str(ckpt_dir / "last.ckpt"),
    )
    _kill(proc)
    left = list(ckpt_dir.glob(".last.ckpt.tmp-*"))
    assert len(left) == 1 and not (ckpt_dir / "last.ckpt").exists()
    (ckpt_dir / "other.tmp-keep").write_text("not ours")  # not atomic_write's pattern: stays

    cfg = compose(["experiment=digits", f"paths.output_dir={tmp_path}"])
    with job_dir.owned(tmp_path, cfg, ckpt_dir):
        assert not list(ckpt_dir.glob(".last.ckpt.tmp-*"))
    assert (ckpt_dir / "other.tmp-keep").exists()


def test_two_processes_never_hold_one_job_dir(tmp_path):
    holder = _spawn(
        """
        import sys, time
        from pathlib import Path
        from lalm_framework import job_dir
        job_dir.claim(Path(sys.argv[1]))
        print("ready", flush=True)
        time.sleep(600)
        """,
        str(tmp_path),
    )
    try:
        with pytest.raises(UserError, match=f"Another process.*pid {holder.pid}"):
            job_dir.claim(tmp_path)
    finally:
        _kill(holder)
    with job_dir.claimed(tmp_path):  # a killed holder's lock is gone at once
        with job_dir.claimed(tmp_path):  # re-entrant within one process
            pass
    # released: another process may take it now
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; from lalm_framework import job_dir; job_dir.claim(sys.argv[1])", tmp_path]
    )
    assert probe.returncode == 0


def test_only_the_same_job_may_resume_a_dir(tmp_path):
    base = ["experiment=digits", f"paths.output_dir={tmp_path}"]
    first = compose([*base, "trainer.max_epochs=3"])
    RunRecord(tmp_path, Path("."), {}, [], job_key=job_dir.job_key(first)).finish("completed", {})
    (tmp_path / ".hydra").mkdir()
    OmegaConf.save(first, tmp_path / ".hydra" / "config.yaml")  # as Hydra saves it for the job

    job_dir.check_same_job(tmp_path, compose([*base, "trainer.max_epochs=3"]))  # same job: fine
    job_dir.check_same_job(tmp_path, compose([*base, "trainer.max_epochs=3", "trainer.ckpt_path=last"]))
    with pytest.raises(UserError, match="holds another job") as err:
        job_dir.check_same_job(tmp_path, compose([*base, "trainer.max_epochs=4", "lr=0.5"]))
    assert "trainer.max_epochs: 3 -> 4" in str(err.value) and "lr: 0.003 -> 0.5" in str(err.value)
    # a secret typed on the command line is part of no job key: another token, the same job
    a = job_dir.job_key(compose([*base, "+logger_token=abcdefgh1"]))
    assert a == job_dir.job_key(compose([*base, "+logger_token=zyxwvut2"]))


@pytest.mark.slow
def test_cli_resumes_the_same_job_and_refuses_another(tmp_path):
    """`lalm-train` checks the key before Hydra writes the dir; the runner records it inside the job."""
    run = tmp_path / "run"
    args = ["experiment=digits", "trainer.max_epochs=1", "logger=none", f"hydra.run.dir={run}", "+note=${lr}"]
    run_cli("lalm-train", args, tmp_path, check=True)
    record = json.loads((run / "run.json").read_text())
    assert record["job_key"].startswith(job_dir.KEY_VERSION)  # of the resolved config
    hydra_before = sorted(p.name for p in (run / ".hydra").iterdir())

    other = run_cli("lalm-train", [*args, "trainer.max_epochs=2"], tmp_path)
    assert other.returncode == 1 and "trainer.max_epochs: 1 -> 2" in other.stderr
    assert sorted(p.name for p in (run / ".hydra").iterdir()) == hydra_before, "a refused run touched the dir"

    run_cli("lalm-train", args, tmp_path, check=True)  # the same job again: resumes
    attempts = json.loads((run / "run.json").read_text())["attempts"]
    assert [a["status"] for a in attempts] == ["completed", "completed"]
    assert attempts[1]["resumed_from"] == str(run / "checkpoints" / "last.ckpt")


@pytest.mark.slow
def test_a_sweep_into_a_used_sweep_dir_may_only_rerun_the_same_jobs(tmp_path):
    sweep = tmp_path / "sweep"
    base = ["-m", "experiment=digits", "trainer.max_epochs=1", "logger=none", f"hydra.sweep.dir={sweep}"]
    run_cli("lalm-train", [*base, "lr=0.1,0.2"], tmp_path, check=True)
    proc = run_cli("lalm-train", [*base, "lr=0.1,0.3"], tmp_path)
    assert proc.returncode == 1
    assert "Job #1" in proc.stderr and "lr: 0.2 -> 0.3" in proc.stderr and "Nothing was launched" in proc.stderr
    assert len(json.loads((sweep / "0" / "run.json").read_text())["attempts"]) == 1  # job #0 did not run again


def _kill_while_writing(proc: subprocess.Popen, directory: Path, timeout: float = 300) -> list[Path]:
    """SIGKILL `proc` while a temp file of an atomic write exists in `directory`; return those files.

    The process group is stopped first, so the write cannot finish between seeing and killing.
    """
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if directory.is_dir() and list(directory.glob(".*.tmp-*")):
            os.killpg(proc.pid, signal.SIGSTOP)
            left = list(directory.glob(".*.tmp-*"))
            if left:
                _kill(proc)
                return left
            os.killpg(proc.pid, signal.SIGCONT)  # it finished that write: wait for the next
        time.sleep(0.001)
    _kill(proc)
    raise AssertionError("never caught a checkpoint while it was being written")


@pytest.mark.slow
def test_sigkill_while_last_ckpt_is_replaced_then_the_rerun_cleans_up_and_closes_the_attempt(tmp_path):
    run = tmp_path / "run"
    args = [
        "experiment=digits",
        "model.hidden=4096",  # a 3.7 MB checkpoint: its write takes a while
        "trainer.max_epochs=3",
        "logger=none",
        "trainer.enable_progress_bar=false",
        f"hydra.run.dir={run}",
    ]
    proc = start_cli("lalm-train", args, tmp_path)
    left = _kill_while_writing(proc, run / "checkpoints")
    killed_at = time.time()
    assert json.loads((run / "run.json").read_text())["attempts"][0]["status"] == "running"

    run_cli("lalm-train", args, tmp_path, check=True)
    record = json.loads((run / "run.json").read_text())
    first, second = record["attempts"]
    assert first["status"] == "killed" and second["status"] == "completed"
    seen = time.mktime(time.strptime(first["last_seen"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert seen <= killed_at + 1
    assert not [p for p in left if p.exists()], "the temp file of the killed write is still there"
    assert not list(run.rglob("*.tmp-*"))
    assert record["metrics"]["global_step"] == 3 * 23


@pytest.fixture
def small_disk(tmp_path):
    """A 8 MB tmpfs (root only): a disk that really fills up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.mark.slow
def test_a_disk_that_fills_up_during_training(tmp_path, small_disk):
    checkpoint = 1_851_245  # bytes of a digits checkpoint with hidden=2048 (weights + Adam state)
    # room for the run's small files and two checkpoints (best + last), not for a third: the
    # first epoch's checkpoints fit, the second epoch's do not
    stat = os.statvfs(small_disk)
    (small_disk / "filler").write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - int(2.5 * checkpoint) - 150_000))
    run = small_disk / "run"
    args = [
        "experiment=digits",
        "model.hidden=2048",
        "trainer.max_epochs=5",
        "logger=none",
        "trainer.enable_progress_bar=false",
        f"hydra.run.dir={run}",
    ]
    proc = run_cli("lalm-train", args, tmp_path)
    err = proc.stderr.strip()
    assert proc.returncode == 1 and "Traceback" not in err and len(err.splitlines()) <= 15, err
    assert "no space left on the device" in err and "rerun the same command to resume" in err
    attempt = json.loads((run / "run.json").read_text())["attempts"][-1]
    assert attempt["status"] == "failed" and "no space left" in attempt["error"]
    import torch

    last = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["epoch"] == 0 and last["state_dict"]  # the last good checkpoint survived, whole
