"""`lalm-train dataset=my_mix` from a user's --config-dir: a LibriSpeech-layout corpus (two
speakers' sets as "clean" and "other") mixed with a JSONL caption source, as docs/data.md shows."""

from __future__ import annotations

import inspect
import json
import shutil
from pathlib import Path

import pytest
from data_fixtures import sample_utterances

from tests.helpers import run_cli

MY_MIX = """\
defaults: [mix]
train:
  - {{source: librispeech, root: {root}, split: train-clean, weight: 3}}
  - {{source: jsonl, path: {captions}, task: caption, weight: 1}}
val:
{val}
test:
  clean: {{source: librispeech, root: {root}, split: test-clean}}
  other: {{source: librispeech, root: {root}, split: test-other}}
mix: {{epoch: steps, steps: 12}}
prompts:
  transcribe: ["Transcribe:", "Write down what is said:", "Spell it out:"]
  caption: "Describe the voice:"
batch_size: 8
max_duration: null
bucketing: false
num_workers: 0
"""


def _corpus(tmp_path: Path) -> tuple[Path, Path]:
    """LibriSpeech layout: train-clean (both speakers), <dev|test>-clean (speaker 19), -other (26)."""
    root = tmp_path / "LibriSpeech"
    pairs = sample_utterances("train", 40)
    layout = {
        "train-clean": [(19, pairs[:12]), (26, pairs[12:24])],
        "dev-clean": [(19, pairs[24:28])],
        "dev-other": [(26, pairs[28:32])],
        "test-clean": [(19, pairs[32:36])],
        "test-other": [(26, pairs[36:40])],
    }
    for split, speakers in layout.items():
        for spk, utts in speakers:
            chapter = root / split / str(spk) / "198"
            chapter.mkdir(parents=True)
            lines = []
            for i, (flac, text) in enumerate(utts):
                utt = f"{spk}-198-{i:04d}"
                shutil.copy(flac, chapter / f"{utt}.flac")
                lines.append(f"{utt} {text}\n")
            (chapter / f"{spk}-198.trans.txt").write_text("".join(lines))
    captions = tmp_path / "captions"
    captions.mkdir()
    rows = []
    for i, (flac, _) in enumerate(sample_utterances("dev", 8)):
        shutil.copy(flac, captions / f"c{i}.flac")
        rows.append({"audio": f"c{i}.flac", "text": ["A calm voice.", "A quick voice."][i % 2]})
    (captions / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root, captions / "captions.jsonl"


def _per_set_evaluation() -> bool:
    from lalm_framework.models.lalm_module import LalmModule

    return "dataloader_idx" in inspect.signature(LalmModule.validation_step).parameters


@pytest.mark.parametrize("sets", ["one", "two"])
def test_a_user_mix_trains_from_the_config_dir(tmp_path: Path, sets: str):
    if sets == "two" and not _per_set_evaluation():
        pytest.skip("several validation loaders need the per-set evaluation of LalmModule (issue 18 §3)")
    root, captions = _corpus(tmp_path)
    val = f"  clean: {{source: librispeech, root: {root}, split: dev-clean}}\n"
    if sets == "two":
        val += f"  other: {{source: librispeech, root: {root}, split: dev-other}}\n"
    conf = tmp_path / "conf" / "dataset"
    conf.mkdir(parents=True)
    (conf / "my_mix.yaml").write_text(MY_MIX.format(root=root, captions=captions, val=val))
    run_dir = tmp_path / "run"
    args = ["--config-dir", str(tmp_path / "conf"), "dataset=my_mix", "trainer.max_epochs=1", "logger=none"]
    proc = run_cli(
        "lalm-train", [*args, f"hydra.run.dir={run_dir}", f"test={sets == 'two'}"], cwd=tmp_path, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    record = json.loads((run_dir / "run.json").read_text())
    train = record["attempts"][-1]["data"]["train"]
    assert [s["kind"] for s in train["sources"]] == ["librispeech", "jsonl"]
    assert [s["task"] for s in train["sources"]] == ["transcribe", "caption"]
    drawn = [s["drawn_cuts"] for s in train["sources"]]
    assert sum(drawn) == 12 * 8 and drawn[0] > drawn[1] > 0 and all(s["drawn_hours"] > 0 for s in train["sources"])
    assert "Train source 1 (jsonl" in proc.stderr + proc.stdout
    val_sets = record["attempts"][-1]["data"]["val"]["sets"]
    assert list(val_sets) == (["clean", "other"] if sets == "two" else ["clean"])
    if sets == "two":
        metrics = record["metrics"]
        assert {"val/clean/wer", "val/other/wer", "test/clean/wer", "test/other/wer"} <= set(metrics)


def test_lalm_infer_on_named_sets_equals_testing_the_checkpoint(tmp_path: Path):
    """Two named sets: one JSONL each and a table; each set's WER is `train=false test=true`'s test/<name>/wer."""
    root, captions = _corpus(tmp_path)
    val = f"  clean: {{source: librispeech, root: {root}, split: dev-clean}}\n"
    conf = tmp_path / "conf" / "dataset"
    conf.mkdir(parents=True)
    (conf / "my_mix.yaml").write_text(MY_MIX.format(root=root, captions=captions, val=val))
    base = ["--config-dir", str(tmp_path / "conf"), "dataset=my_mix", "logger=none"]
    proc = run_cli(
        "lalm-train", [*base, "trainer.max_epochs=1", f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = json.loads((tmp_path / "run" / "run.json").read_text())["attempts"][-1]["best_checkpoint"]
    proc = run_cli(
        "lalm-train",
        [*base, "train=false", "test=true", f"trainer.ckpt_path={ckpt}", f"hydra.run.dir={tmp_path / 'eval'}"],
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    tested = json.loads((tmp_path / "eval" / "run.json").read_text())["metrics"]
    out = tmp_path / "infer"
    sets = [f"clean={root / 'test-clean'}", f"other={root / 'test-other'}"]
    proc = run_cli("lalm-infer", [ckpt, *sets, "--out", str(out), "--no-progress"], cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["clean.jsonl", "other.jsonl", "results.json", "results.md"]
    assert "| set | WER (normalized) | CER (normalized) | WER (raw) | CER (raw) |" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    for name in ("clean", "other"):
        assert results[name]["utterances"] == 4 and results[name]["hours"] > 0 and results[name]["rtfx"] > 0
        assert results[name]["scores"]["wer"] == pytest.approx(tested[f"test/{name}/wer"], abs=1e-6)
        assert len((out / f"{name}.jsonl").read_text().splitlines()) == 4
