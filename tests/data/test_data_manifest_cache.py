"""What a later run reuses instead of recomputing (issue 20 §1): a JSONL manifest's parsed rows,
the rows' digest in the data fingerprint, the bucket bins from a catalog's durations. Each must
give exactly what a fresh computation gives, and a changed manifest must be read again."""

from __future__ import annotations

import json
import os
from itertools import islice
from pathlib import Path

import pytest
from data_fixtures import write_manifest

from lalm_framework.data import catalog, manifest
from lalm_framework.data.datamodule import LalmDataModule
from lalm_framework.data.manifest import read_manifest
from lalm_framework.data.sampling import BINS_ESTIMATE_CUTS, BatchSpec, duration_bins
from lalm_framework.data.sources import CutsSource, JsonlSource, rows_digest, source_fingerprint
from lalm_framework.errors import UserError

N = 12


def _forget() -> None:
    """What a fresh process would not have: this process's memos of manifests and catalogs."""
    manifest._READ.clear()
    catalog._MEMO.clear()


def _records() -> list[Path]:
    return sorted((Path(os.environ["LALM_CACHE_DIR"]) / "manifests").glob("*.json"))


def test_a_later_read_of_an_unchanged_manifest_does_not_parse_it(tmp_path, monkeypatch):
    path = write_manifest(tmp_path, n=N, speaker="s1")
    lines = path.read_text().splitlines()
    lines[3] = json.dumps({**json.loads(lines[3]), "id": "mine", "prompt": "Say:", "duration": 1.25})
    path.write_text("\n".join(lines) + "\n\n")
    before = set(_records())
    first = read_manifest(path)
    assert set(_records()) - before, "no record written"
    _forget()

    def parse(*args: object) -> None:
        raise AssertionError("the manifest was parsed again")

    monkeypatch.setattr(manifest, "_read_lines", parse)
    again = read_manifest(path)
    assert again == first  # every field, `where` ("file:line") included
    assert again[3].id == "mine" and again[3].prompt == "Say:" and again[3].extra == {"speaker": "s1"}
    assert again[5].where == f"{path}:6"


def test_a_changed_manifest_is_parsed_again(tmp_path):
    path = write_manifest(tmp_path, n=N)
    assert read_manifest(path)[0].text != "CHANGED"
    _forget()
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["text"] = "CHANGED"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert read_manifest(path)[0].text == "CHANGED"
    _forget()
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(UserError, match=rf"{path}:{N + 1}: not valid JSON"):
        read_manifest(path)


@pytest.mark.parametrize("kind", ["jsonl", "lhotse"])
def test_the_fingerprint_of_a_later_run_is_the_fresh_one(tmp_path, kind):
    jsonl = write_manifest(tmp_path, n=N)
    if kind == "jsonl":
        src: JsonlSource | CutsSource = JsonlSource(jsonl)
        key = "train_manifest"
        path = jsonl
    else:
        path = tmp_path / "cuts.jsonl.gz"
        LalmDataModule(train_manifest=str(jsonl), check_audio=False).load_split("train").cuts.to_file(path)
        src, key = CutsSource(path), "train_cuts"
    first = source_fingerprint(src)
    _forget()
    later = source_fingerprint(src)
    assert later == first
    assert first["sha256"] == rows_digest(src.rows()) and first["utterances"] == N
    assert first["files"] == N + 1  # the manifest and each audio file
    assert first["bytes"] == path.stat().st_size + sum(p.stat().st_size for p in tmp_path.glob("u*.flac"))
    module = LalmDataModule(**{key: str(path)}, val_split=None, test_split=None)  # type: ignore[arg-type]
    assert module.data_fingerprint()["train"]["sha256"] == first["sha256"]


def test_bucket_bins_from_a_catalog_are_lhotses_own(tmp_path):
    from lhotse.dataset.sampling.base import TimeConstraint
    from lhotse.dataset.sampling.dynamic_bucketing import estimate_duration_buckets

    jsonl = write_manifest(tmp_path, n=N)
    path = tmp_path / "cuts.jsonl.gz"
    LalmDataModule(train_manifest=str(jsonl), check_audio=False).load_split("train").cuts.to_file(path)
    split = CutsSource(path).load("train", skip_bad_audio=False, check_audio=False)
    assert split.catalog is not None
    spec = BatchSpec(max_duration=20.0, num_buckets=4)
    ours = duration_bins(split, spec, split.size)
    theirs = estimate_duration_buckets(islice(split.meta, BINS_ESTIMATE_CUTS), 4, TimeConstraint(max_duration=20.0))
    assert ours == theirs and len(ours) >= 2
