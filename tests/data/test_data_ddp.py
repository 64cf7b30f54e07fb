"""DDP with 2 ranks (gloo, CPU) over one epoch of the bundled set: every utterance once across
ranks, disjoint batches, equal step counts per rank (no rank waits at the end)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lalm_framework.data.librispeech import read_librispeech
from lalm_framework.samples import SAMPLE_ROOT
from tests.helpers import cli_env

HERE = Path(__file__).resolve().parent


def _run(tmp_path: Path, *args: str) -> dict[int, list[dict]]:
    env = cli_env({"PYTHONPATH": f"{HERE}:{HERE.parent}", "OMP_NUM_THREADS": "1"})
    proc = subprocess.run(
        [sys.executable, str(HERE / "ddp_script.py"), str(tmp_path), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {r: [json.loads(line) for line in (tmp_path / f"rank{r}.jsonl").read_text().splitlines()] for r in (0, 1)}


@pytest.mark.slow
def test_ddp_two_ranks_see_each_utterance_once(tmp_path: Path):
    rows = _run(tmp_path)
    for stage, split in (("train", "train"), ("val", "dev")):
        batches = {r: [row["ids"] for row in rows[r] if row["stage"] == stage] for r in (0, 1)}
        assert len(batches[0]) == len(batches[1]) > 0, stage  # equal step counts per rank
        seen = [i for r in (0, 1) for b in batches[r] for i in b]
        assert sorted(seen) == sorted(u.id for u in read_librispeech(SAMPLE_ROOT, split)), stage
        assert not {i for b in batches[0] for i in b} & {i for b in batches[1] for i in b}


@pytest.mark.slow
def test_ddp_two_ranks_draw_a_3_to_1_mix_each(tmp_path: Path):
    """Weights 3:1: each rank draws ~75% from the first source over >= 400 draws, disjoint batches."""
    rows = _run(tmp_path, "mix")
    batches = {r: [row["ids"] for row in rows[r] if row["stage"] == "train"] for r in (0, 1)}
    assert len(batches[0]) == len(batches[1]) == 52
    for r in (0, 1):
        ids = [i for b in batches[r] for i in b]
        share = sum(not i.startswith("u") for i in ids) / len(ids)  # JSONL ids are u<n>#<line>
        assert len(ids) >= 400 and abs(share - 0.75) <= 0.05, (r, share, len(ids))
    assert batches[0] != batches[1]
