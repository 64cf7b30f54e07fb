"""A dataset as lists of sources: source nodes, weighted mixing through Lhotse's mux (ratio,
determinism, ranks, resume), named evaluation sets, prompt variants, chat templates, long audio."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from data_fixtures import sample_utterances, write_manifest
from omegaconf import OmegaConf

from lalm_framework.data.datamodule import LalmDataModule
from lalm_framework.data.mixing import MixSpec, mix_weights
from lalm_framework.data.sampling import BatchSpec, CutBatchSampler
from lalm_framework.data.sources import FolderSource, JsonlSource, SpeechcraftSource
from lalm_framework.data.sources.nodes import eval_sets, source_from_node, train_sources
from lalm_framework.errors import UserError
from lalm_framework.samples import SAMPLE_ROOT

SAMPLE_TRAIN = {"source": "folder", "root": None, "split": "train"}


def _mix(tmp_path: Path, tokenizer: Any, feature_extractor: Any, **kw: Any) -> LalmDataModule:
    """Bundled train split (weight 3) + a 6-utterance JSONL caption source (weight 1)."""
    captions = write_manifest(tmp_path / "cap", n=6, name="cap.jsonl")
    options: dict[str, Any] = dict(
        train=[
            {**SAMPLE_TRAIN, "weight": 3},
            {"source": "jsonl", "path": str(captions), "task": "caption", "weight": 1},
        ],
        mix={"epoch": "steps", "steps": 60},
        batch_size=8,
        bucketing=False,
        num_workers=0,
        seed=5,
        tokenizer=tokenizer,
        feature_extractor=feature_extractor,
    )
    options.update(kw)
    return LalmDataModule(**options)


def _share(drawn: dict[int, tuple[int, float]]) -> tuple[float, int]:
    total = sum(n for n, _ in drawn.values())
    return drawn.get(0, (0, 0.0))[0] / total, total


# --- source nodes -------------------------------------------------------------------------
def test_each_kind_is_a_node_with_an_explicit_kind(tmp_path: Path):
    manifest = write_manifest(tmp_path, n=2)
    kinds = {
        "folder": ({"root": None, "split": "dev"}, FolderSource),
        "librispeech": ({"root": None, "split": "dev"}, FolderSource),
        "jsonl": ({"path": str(manifest)}, JsonlSource),
        "speechcraft": ({"path": str(manifest)}, SpeechcraftSource),
    }
    for kind, (options, cls) in kinds.items():
        src = source_from_node({"source": kind, **options}, "dataset.val")
        assert isinstance(src, cls) and src.kind == kind
    assert source_from_node({"source": "speechcraft", "path": str(manifest)}, "x").task_name == "caption"
    assert source_from_node({"source": "jsonl", "path": str(manifest)}, "x").task_name == "transcribe"
    # a user's own kind, by class path
    assert (
        type(source_from_node({"source": "lalm_framework.data.sources.JsonlSource", "path": "m"}, "x")) is JsonlSource
    )


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (
            {"source": "flac"},
            r"dataset.train\[0\].source='flac': not a kind of source.\nUse one of folder, jsonl, lhotse",
        ),
        ({"source": "jsonl", "paths": "a.jsonl"}, r"source 'jsonl' has no option paths.\nIts options: path, text_key"),
        ({"source": "librispeech", "root": "/x"}, r"source 'librispeech' needs split"),
        ({"source": "jsonl", "path": "a", "weight": 0}, r"weight=0: a mixing weight must be a number > 0"),
        ({"root": "/x", "split": "dev"}, r"expected a source node such as"),
        ({"source": "lalm_framework.errors.UserError"}, r"not a Source subclass"),
    ],
)
def test_bad_source_nodes_get_one_message(node: dict[str, Any], message: str):
    with pytest.raises(UserError, match=message):
        train_sources([node])


def test_val_is_named_sets_or_one_unnamed_set():
    one = eval_sets({"source": "folder", "root": None, "split": "dev"}, "dataset.val")
    assert list(one) == [""]
    two = eval_sets(
        {"clean": {**SAMPLE_TRAIN, "split": "dev"}, "other": {**SAMPLE_TRAIN, "split": "test"}}, "dataset.val"
    )
    assert list(two) == ["clean", "other"]
    with pytest.raises(UserError, match="set name 'a/b' must be a non-empty name without '/'"):
        eval_sets({"a/b": SAMPLE_TRAIN}, "dataset.val")


def test_flat_keys_and_source_lists_together_are_refused_with_the_new_form():
    with pytest.raises(UserError, match=r"dataset: root, train_split .* use one form.\nThe source form: train: \["):
        LalmDataModule(root="/data", train_split="train", train=[SAMPLE_TRAIN])


def test_legacy_target_params_with_only_manifests_checks_and_lists_its_texts(tmp_path: Path):
    """Found case: seed 000's dataset/librispeech_lalm.yaml pattern (`target`/`params`, manifests only)
    was checked as if it named the bundled folder ('LibriSpeech split folder not found')."""
    manifest = write_manifest(tmp_path, n=3)
    node = OmegaConf.create(
        {
            "target": "lalm_framework.data.datamodule.LalmDataModule",
            "params": {"train_manifest": str(manifest), "val_manifest": str(manifest), "batch_size": 4},
        }
    )
    LalmDataModule.validate_config(node)
    assert LalmDataModule.training_texts(node) == [t for _, t in sample_utterances("train", 3)]
    node.params.val_manifest = str(tmp_path / "missing.jsonl")
    with pytest.raises(UserError, match="Manifest not found: .*missing.jsonl"):
        LalmDataModule.validate_config(node)


# --- mixing ---------------------------------------------------------------------------------
def test_temperature_reweights_by_size():
    assert mix_weights([None, None], [1.0, 1.0], None) is None
    assert mix_weights([3, 1], [10.0, 1.0], None) == pytest.approx([0.75, 0.25])
    assert mix_weights([None, None], [9.0, 1.0], 1.0) == pytest.approx([0.9, 0.1])
    assert mix_weights([None, None], [9.0, 1.0], 2.0) == pytest.approx([0.75, 0.25])  # sqrt: 3:1
    with pytest.raises(UserError, match=r"source\(s\) 1 have no weight while others have one"):
        mix_weights([1.0, None], [1.0, 1.0], None)
    with pytest.raises(UserError, match="dataset.mix.epoch=steps needs dataset.mix.steps"):
        MixSpec.from_node({"epoch": "steps"})


def test_weights_3_to_1_draw_75_percent_deterministically(tmp_path: Path, tokenizer, feature_extractor):
    dm = _mix(tmp_path, tokenizer, feature_extractor)
    dm.setup("fit")
    sampler = dm.train_dataloader().cut_sampler
    assert len(sampler) == 60
    first = [[c.id for c in b] for b in sampler]
    share, total = _share(sampler.drawn())
    assert total >= 400 and abs(share - 0.75) <= 0.05, (share, total)
    again = [[c.id for c in b] for b in sampler]  # the same epoch again: the same draws
    assert again == first
    sampler.set_epoch(1)
    assert [[c.id for c in b] for b in sampler] != first  # another epoch: other draws
    other = _mix(tmp_path / "b", tokenizer, feature_extractor, seed=6)
    other.setup("fit")
    assert [[c.id for c in b] for b in other.train_dataloader().cut_sampler] != first
    fp = dm.data_fingerprint()["train"]
    assert fp["kind"] == "mix" and [s["kind"] for s in fp["sources"]] == ["folder", "jsonl"]
    assert [s["task"] for s in fp["sources"]] == ["transcribe", "caption"]
    assert [s["weight"] for s in fp["sources"]] == [3, 1]


def test_each_rank_draws_the_ratio_from_disjoint_batches(tmp_path: Path, tokenizer, feature_extractor):
    dm = _mix(tmp_path, tokenizer, feature_extractor)
    dm.setup("fit")
    spec = BatchSpec(max_cuts=8, bucketing=False, seed=5)
    ranks = [CutBatchSampler(dm.datasets["train"], spec, world_size=2, rank=r) for r in (0, 1)]
    batches = [[[c.id for c in b] for b in s] for s in ranks]
    assert len(batches[0]) == len(batches[1]) == 60
    assert batches[0] != batches[1]
    for s in ranks:
        share, total = _share(s.drawn())
        assert total == 480 and abs(share - 0.75) <= 0.05, share


def test_a_restored_position_continues_the_same_draws(tmp_path: Path, tokenizer, feature_extractor):
    dm = _mix(tmp_path, tokenizer, feature_extractor)
    dm.setup("fit")
    whole = dm.train_dataloader().cut_sampler
    expected = [[c.id for c in b] for b in whole]
    state = whole.state_dict(trained=23)
    resumed = CutBatchSampler(dm.datasets["train"], whole.spec)
    resumed.load_state_dict(state)
    assert [[c.id for c in b] for b in resumed] == expected[23:]
    # what the two attempts drew together is what one uninterrupted epoch drew
    killed = whole.drawn(trained=23)
    both = {i: killed.get(i, (0, 0.0))[0] + resumed.drawn().get(i, (0, 0.0))[0] for i in (0, 1)}
    assert both == {i: n for i, (n, _) in whole.drawn().items()}


def test_without_weights_each_source_once_per_epoch(tmp_path: Path, tokenizer, feature_extractor):
    captions = write_manifest(tmp_path / "cap", n=6, name="cap.jsonl")
    dm = LalmDataModule(
        train=[SAMPLE_TRAIN, {"source": "jsonl", "path": str(captions)}],
        batch_size=8,
        bucketing=False,
        num_workers=0,
        tokenizer=tokenizer,
        feature_extractor=feature_extractor,
    )
    dm.setup("fit")
    ids = [c.id for b in dm.train_dataloader().cut_sampler for c in b]
    assert len(ids) == len(set(ids)) == 380 + 6 and sum(i.startswith("u") for i in ids) == 6


def test_an_epoch_of_hours(tmp_path: Path, tokenizer, feature_extractor):
    dm = _mix(tmp_path, tokenizer, feature_extractor, mix={"epoch": "hours", "hours": 0.1})
    dm.setup("fit")
    sampler = dm.train_dataloader().cut_sampler
    seconds = sum(c.duration for b in sampler for c in b)
    assert 360 <= seconds <= 370 and not sampler.fixed_length


# --- evaluation sets, tasks, prompts ---------------------------------------------------------
def test_named_sets_have_one_loader_each_in_order(tmp_path: Path, tokenizer, feature_extractor):
    dev = {"source": "folder", "root": None, "split": "dev"}
    test = {"source": "folder", "root": None, "split": "test"}
    dm = LalmDataModule(
        train=SAMPLE_TRAIN,
        val={"clean": dev, "other": test},
        test={"clean": dev},
        num_workers=0,
        tokenizer=tokenizer,
        feature_extractor=feature_extractor,
    )
    assert dm.val_set_names == ["clean", "other"] and dm.test_set_names == ["clean"]
    loaders = dm.val_dataloader()
    assert isinstance(loaders, list) and len(loaders) == 2
    assert [loader.cut_sampler.split.description for loader in loaders] == [
        str(SAMPLE_ROOT / s) for s in ("dev", "test")
    ]
    assert not isinstance(dm.test_dataloader(), list)  # one set: the loader itself, as before
    assert dm.inference_inputs() == [f"clean={SAMPLE_ROOT / 'dev'}", f"other={SAMPLE_ROOT / 'test'}"]
    fp = dm.data_fingerprint()
    assert set(fp["val"]["sets"]) == {"clean", "other"} and fp["test"]["sets"]["clean"]["kind"] == "folder"
    unnamed = LalmDataModule(train_split="train", val_split="dev", test_split=None)
    assert unnamed.val_set_names == [""] and unnamed.test_set_names == []


def test_batches_carry_each_examples_task(tmp_path: Path, tokenizer, feature_extractor):
    dm = _mix(tmp_path, tokenizer, feature_extractor, prompts={"transcribe": "Transcribe:", "caption": "Describe:"})
    dm.setup("fit")
    loader = dm.train_dataloader()
    seen: set[str] = set()
    for _, batch in zip(range(8), loader, strict=False):
        assert len(batch["tasks"]) == len(batch["ids"])
        for uid, task in zip(batch["ids"], batch["tasks"], strict=True):
            assert task == ("caption" if uid.startswith("u") else "transcribe")
            seen.add(task)
    assert seen == {"transcribe", "caption"}


def test_each_of_three_variants_is_drawn_and_evaluation_uses_the_first(tokenizer, feature_extractor):
    variants = ["Transcribe:", "Write it:", "Spell it:"]
    dm = LalmDataModule(
        train_split="train",
        val_split="dev",
        test_split=None,
        prompts={"transcribe": variants},
        batch_size=8,
        num_workers=0,
        seed=2,
        tokenizer=tokenizer,
        feature_extractor=feature_extractor,
    )
    dm.setup("fit")

    def prompts(loader: Any) -> list[str]:
        return [tokenizer.decode(p, skip_special_tokens=True).strip() for b in loader for p in b["prompt_input_ids"]]

    train = prompts(dm.train_dataloader())
    assert {v: train.count(v) for v in variants} == {v: pytest.approx(len(train) / 3, rel=0.3) for v in variants}
    assert set(prompts(dm.val_dataloader())) == {"Transcribe:"}
    again = prompts(dm.train_dataloader())
    assert again == train  # seeded: the same epoch draws the same variants


def test_a_chat_template_tokenizer_prompts_through_apply_chat_template(tmp_path: Path, tokenizer, feature_extractor):
    from transformers import AutoTokenizer

    from lalm_framework.data.collate import LalmCollator

    plain_dir, chat_dir = tmp_path / "plain", tmp_path / "chat"
    tokenizer.save_pretrained(plain_dir)
    tokenizer.save_pretrained(chat_dir)
    config = json.loads((chat_dir / "tokenizer_config.json").read_text())
    config["chat_template"] = "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>{% endfor %}<s>"
    (chat_dir / "tokenizer_config.json").write_text(json.dumps(config))
    plain, chat = AutoTokenizer.from_pretrained(plain_dir), AutoTokenizer.from_pretrained(chat_dir)
    text = LalmCollator(plain, feature_extractor, "<|audio|>{prompt}", {"transcribe": "Transcribe:"}).prompt_text()
    plain_ids = LalmCollator(plain, feature_extractor, "<|audio|>{prompt}").prompt_ids(text)
    assert plain_ids == plain(text, add_special_tokens=True)["input_ids"]  # today's plain template
    chat_ids = LalmCollator(chat, feature_extractor, "<|audio|>{prompt}").prompt_ids(text)
    rendered = chat.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
    assert rendered.startswith("<s>user: <|audio|>Transcribe:</s>")
    assert chat_ids == chat(rendered, add_special_tokens=False)["input_ids"] != plain_ids
    off = LalmCollator(chat, feature_extractor, "<|audio|>{prompt}", chat_template=False).prompt_ids(text)
    assert off == plain_ids
    with pytest.raises(UserError, match="the tokenizer has no chat template"):
        LalmCollator(plain, feature_extractor, "<|audio|>{prompt}", chat_template=True)


# --- long audio ------------------------------------------------------------------------------
def test_long_audio_is_refused_with_the_count_and_the_fix_or_dropped_and_counted(
    tmp_path: Path, tokenizer, feature_extractor
):
    from lalm_framework.data.audio import audio_problem

    pairs = sample_utterances("train", 40)
    durations = [audio_problem(str(f))[1] for f, _ in pairs]
    window = sorted(durations)[-5] - 0.001  # about the 5 longest are longer than this
    n = sum(d > window for d in durations)
    (tmp_path / "a").mkdir()
    rows = []
    for i, (flac, text) in enumerate(pairs):
        shutil.copy(flac, tmp_path / "a" / f"u{i}.flac")
        rows.append(json.dumps({"audio": f"u{i}.flac", "text": text}))
    manifest = tmp_path / "a" / "m.jsonl"
    manifest.write_text("\n".join(rows) + "\n")
    feature_extractor = type(feature_extractor)(feature_size=80, chunk_length=1)
    feature_extractor.chunk_length = window  # the tiny window of this test
    common = dict(train_manifest=str(manifest), num_workers=0, tokenizer=tokenizer, feature_extractor=feature_extractor)
    refused = rf"{n} of 40 train utterances .* longer than the encoder's .* window.*\nSet dataset.long_audio=drop"
    with pytest.raises(UserError, match=refused):
        LalmDataModule(**common).setup("fit")
    dm = LalmDataModule(**common, long_audio="drop")
    dm.setup("fit")
    assert dm.datasets["train"].size == 40 - n
    assert dm.data_fingerprint()["train"]["long_audio_dropped"] == n
    with pytest.raises(UserError, match="dataset.long_audio='cut': use one of refuse, drop, chunk"):
        LalmDataModule(long_audio="cut")  # type: ignore[arg-type]
