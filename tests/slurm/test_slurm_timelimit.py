"""A real time limit: SLURM's own warning signal before `timeout_min` checkpoints the training,
submitit requeues the job, and the requeued job resumes in the same job dir and completes.

SLURM limits have minute granularity and the warning comes when slurmctld next checks (up to
~30 s late): the job is paced (tests/slurm/pacing.py) to need about 2.5 min of training against a
3 min limit with the warning 60 s before it, so it cannot finish in one go. Takes ~4-5 minutes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from slurm_testing import Cluster, final_states, run_sweep

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# 20 of the digits set's 23 training batches per epoch: 140 s of paced training in all
EPOCHS, BATCHES, SECONDS_PER_BATCH = 7, 20, 1.0


def test_job_over_its_time_limit_checkpoints_requeues_resumes_and_completes(
    slurm_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))  # the pacing callback, in the job
    proc = run_sweep(
        [
            "-m",
            "hydra/launcher=slurm_cpu",
            "hydra.launcher.cpus_per_task=1",
            "hydra.launcher.mem_gb=1",
            "hydra.launcher.poll_interval_s=2",
            "hydra.launcher.timeout_min=3",
            "hydra.launcher.signal_delay_s=60",
            "hydra.launcher.max_num_timeout=3",
            "experiment=digits",
            "logger=csv",
            "trainer.enable_progress_bar=false",
            f"trainer.max_epochs={EPOCHS}",
            f"trainer.limit_train_batches={BATCHES}",
            f"+callbacks.pace={{_target_: pacing.Pace, seconds_per_batch: {SECONDS_PER_BATCH}}}",
        ],
        cwd=tmp_path,
        cluster=slurm_cluster,
        timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    (job_dir,) = [p for p in tmp_path.glob("multirun/*/*/*/*") if p.is_dir() and not p.name.startswith(".")]
    record = json.loads((job_dir / "run.json").read_text())
    job_id = record["slurm"]["SLURM_JOB_ID"]
    logs = "".join(p.read_text() for p in sorted(job_dir.parent.glob(f".submitit/{job_id}/*_log.*")))
    last = str(job_dir / "checkpoints" / "last.ckpt")
    saves = [(path, int(step)) for path, step in re.findall(r"warning signal: saved (\S+) at global step (\d+)", logs)]
    assert saves and all(path == last and 0 < step < EPOCHS * BATCHES for path, step in saves), logs[-3000:]
    assert re.search(rf"Requeued job {job_id} \(\d+ remaining timeouts\)", logs)  # submitit, on the timeout
    attempts = record["attempts"]
    assert len(attempts) == len(saves) + 1 and int(record["slurm"]["SLURM_RESTART_COUNT"]) == len(saves)
    assert all(a["resumed_from"] == last for a in attempts[1:])
    assert [a["status"] for a in attempts] == ["interrupted"] * len(saves) + ["completed"]
    assert record["metrics"]["global_step"] == EPOCHS * BATCHES  # resumed to the uninterrupted final step
    assert final_states(slurm_cluster, job_id, 1) == ["COMPLETED"]
