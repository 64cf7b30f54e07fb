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


@pytest.mark.slow
def test_ddp_per_set_metrics_equal_one_process_over_each_full_set(tmp_path: Path):
    """Two named val sets (7 and 5 utterances, eval batches of 2: uneven across 2 ranks):
    `val/<name>/wer` and `val/<name>/loss` logged under `trainer=ddp` are those of each whole set,
    scored on one process (jiwer): no utterance counted twice (sampler padding), none dropped."""
    import jiwer

    from lalm_framework.scoring import DEFAULT_NORMALIZER, normalizer

    rows = _run(tmp_path, "evalsets")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    norm = normalizer(DEFAULT_NORMALIZER)
    for index, (name, size) in enumerate((("seven", 7), ("five", 5))):
        seen: dict[str, tuple[str, str]] = {}
        counts: dict[int, int] = {}
        copies = 0  # Lhotse's end-of-set copies (a batch for every rank), marked not counted
        for r in (0, 1):
            for row in rows[r]:
                if row["stage"] == "val" and row["set"] == index:
                    for i, ref, hyp, counted in zip(row["ids"], row["refs"], row["hyps"], row["counted"], strict=True):
                        if not counted:
                            copies += 1
                            continue
                        counts[r] = counts.get(r, 0) + 1
                        seen.setdefault(i, (norm(ref), norm(hyp)))
        assert len(seen) == sum(counts.values()) == size, (name, counts)  # each utterance once, on one rank
        assert counts[0] != counts[1], counts  # the set really is split unevenly
        assert copies == (1 if size == 5 else 0)  # 5 = 2+2+1: rank 1 gets a copy of the last one
        refs, hyps = [seen[i][0] for i in sorted(seen)], [seen[i][1] for i in sorted(seen)]
        expected = jiwer.wer(refs, hyps)
        assert metrics[f"val/{name}/wer"] == pytest.approx(expected, abs=1e-6), name
        # where the random model's per-utterance WERs differ, a copy or a loss would show in the WER
        # (the counts above catch both in any case)
        odd = [k for k in range(size) if jiwer.wer(refs[k], hyps[k]) != pytest.approx(expected, abs=1e-6)]
        for k in odd[:1]:
            assert jiwer.wer(refs + refs[k : k + 1], hyps + hyps[k : k + 1]) != pytest.approx(expected, abs=1e-6)
    assert "val/wer" not in metrics and "val/seven/loss" in metrics and "val/five/loss" in metrics
