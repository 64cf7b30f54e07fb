"""Start-up that does not grow with the corpus (issue 20 §1): the audio check is recorded once and
trusted by stat later, yet a changed or removed file is still refused before training; the LR
schedule's step count equals the batches really trained, also when the epoch is not counted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import pytorch_lightning as pl
from data_fixtures import TINY, write_manifest

from lalm_framework.data.datamodule import LalmDataModule
from lalm_framework.data.sampling import BatchSpec, CutBatchSampler
from lalm_framework.data.steps import stepping_batches
from lalm_framework.errors import UserError

N = 12  # utterances of the test corpora (real speech copied from the bundled set)


def _lhotse_manifest(folder: Path) -> Path:
    """A Lhotse cut manifest over the audio files of a JSONL manifest in `folder`."""
    jsonl = write_manifest(folder, n=N)
    cuts = folder / "cuts.jsonl.gz"
    LalmDataModule(train_manifest=str(jsonl), check_audio=False).load_split("train").cuts.to_file(cuts)
    return cuts


def _module(kind: str, manifest: Path, **kw: object) -> LalmDataModule:
    key = "train_manifest" if kind == "jsonl" else "train_cuts"
    return LalmDataModule(**{key: str(manifest)}, val_split=None, test_split=None, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["jsonl", "lhotse"])
@pytest.mark.parametrize("change", ["truncated", "same size, new content", "removed"])
def test_a_file_changed_after_a_cached_check_is_refused(tmp_path, kind, change):
    manifest = write_manifest(tmp_path, n=N) if kind == "jsonl" else _lhotse_manifest(tmp_path)
    assert _module(kind, manifest).load_split("train").size == N  # checked and recorded
    assert len(list((Path(os.environ["LALM_CACHE_DIR"]) / "audio_checks").glob("*.json"))) >= 1
    victim = tmp_path / "u5.flac"
    data = victim.read_bytes()
    if change == "truncated":  # an interrupted copy
        victim.write_bytes(data[: len(data) // 3])
    elif change == "same size, new content":  # garbage after the magic: only the mtime tells
        victim.write_bytes(b"fLaC" + bytes(len(data) - 4))
    else:
        victim.unlink()
    with pytest.raises(UserError) as err:
        _module(kind, manifest).load_split("train")
    msg = str(err.value)
    why = "file not found" if change == "removed" else "unreadable audio"
    assert f"{victim}: {why}" in msg and "1 bad audio file(s) in the train split" in msg, msg
    assert "dataset.skip_bad_audio=true" in msg and "Traceback" not in msg
    assert _module(kind, manifest, skip_bad_audio=True).load_split("train").size == N - 1


_RUN = """
import json, sys
from lalm_framework.data.datamodule import LalmDataModule
from lalm_framework.data.audio import audio_problem
import lhotse, soundfile  # imported before measuring: only the data's reads count

def read() -> int:
    return int(dict(line.split(": ") for line in open("/proc/self/io").read().splitlines())["rchar"])

key, manifest = sys.argv[1], sys.argv[2]
audio_problem(manifest)  # warm the check's own lazy imports on a non-audio file
before = read()
split = LalmDataModule(**{key: manifest}, val_split=None, test_split=None).load_split("train")
print(json.dumps({"read": read() - before, "size": split.size}))
"""


@pytest.mark.parametrize("kind", ["jsonl", "lhotse"])
def test_the_second_run_reads_no_audio(tmp_path, kind):
    """Two fresh processes over the same corpus: the second reads the record, not the files."""
    manifest = write_manifest(tmp_path, n=N) if kind == "jsonl" else _lhotse_manifest(tmp_path)
    key = "train_manifest" if kind == "jsonl" else "train_cuts"
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(_RUN))
    cache = tmp_path / "cache"
    env = dict(os.environ, LALM_CACHE_DIR=str(cache))

    def run() -> dict[str, int]:
        out = subprocess.run([sys.executable, str(script), key, str(manifest)], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    first, second = run(), run()
    audio = sum(p.stat().st_size for p in tmp_path.glob("u*.flac"))
    assert first["size"] == second["size"] == N
    # the first run reads each file's header and tail; the second only the record and manifest
    assert first["read"] > N * 4096, first
    assert second["read"] < audio / N, (second, audio)
    assert second["read"] * 5 < first["read"], (first, second)


class _Steps(pl.Callback):
    """What the LR schedule was told (at the start) and what was really trained (at the end)."""

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.planned = stepping_batches(trainer)
        self.epoch_length = trainer.num_training_batches

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.trained = trainer.global_step


@pytest.mark.parametrize(
    ("counted", "batching", "trainer_kw"),
    [
        (True, {"batch_size": None, "max_duration": 9.0}, {"max_epochs": 2}),  # Lightning counts
        (False, {"batch_size": 3, "bucketing": False}, {"max_epochs": 2}),
        (False, {"batch_size": None, "max_duration": 9.0}, {"max_epochs": 2}),  # bucketed by duration
        (False, {"batch_size": None, "max_duration": 9.0}, {"max_epochs": 3, "max_steps": 2}),  # max_steps first
        (False, {"batch_size": 2}, {"max_epochs": 1, "accumulate_grad_batches": 2}),
    ],
)
def test_the_schedule_counts_the_steps_really_trained(tmp_path, monkeypatch, counted, batching, trainer_kw):
    from lalm_framework.data import steps
    from lalm_framework.models.lalm_module import LalmModule

    if not counted:  # as for a corpus above the threshold: the epoch has no len() for Lightning
        monkeypatch.setattr(steps, "COUNTED_MAX_CUTS", 0)
    manifest = write_manifest(tmp_path, n=N)
    dm = LalmDataModule(train_manifest=str(manifest), val_manifest=str(manifest), num_workers=0, **batching)  # type: ignore[arg-type]
    probe = _Steps()
    trainer = pl.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[probe],
        default_root_dir=str(tmp_path),
        **trainer_kw,  # type: ignore[arg-type]
    )
    trainer.fit(LalmModule(**TINY), datamodule=dm)
    assert (probe.epoch_length == float("inf")) is (not counted)
    assert probe.planned == probe.trained > 0


def test_the_lower_bound_never_exceeds_the_count(tmp_path):
    manifest = write_manifest(tmp_path, n=N)
    split = LalmDataModule(train_manifest=str(manifest)).load_split("train")
    for spec in (BatchSpec(max_cuts=5), BatchSpec(max_duration=7.0), BatchSpec(max_duration=4.0, max_cuts=2)):
        for world in (1, 2):
            counts = [CutBatchSampler(split, spec, world, rank, counted=False) for rank in range(world)]
            for sampler in counts:
                with pytest.raises(TypeError):
                    len(sampler)
                real = sum(1 for _ in sampler)
                assert sampler.min_batches() <= sampler.count() == real, (spec, world)
