"""`LalmDataModule`: LibriSpeech-layout folders and/or JSONL manifests -> `LalmBatch` loaders.

Where each split comes from:
- `<split>_manifest` set: that JSONL manifest (audio path + `text_key`);
- else `root` + `<split>_split`: a LibriSpeech-layout split folder;
- no root and no manifest at all: the bundled speech set (`dataset=sample`).
A split whose name/manifest is null has no loader (e.g. no test set).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from lalm_framework.data.batch import AUDIO_TOKEN
from lalm_framework.data.checks import check_audio_files, filter_by_duration
from lalm_framework.data.collate import LalmCollator, check_prompt_template
from lalm_framework.data.dataset import AudioTextDataset
from lalm_framework.data.librispeech import check_split_dir, read_librispeech
from lalm_framework.data.manifest import check_manifest_file, read_manifest
from lalm_framework.data.sampler import DurationBucketBatchSampler
from lalm_framework.data.utterance import Utterance
from lalm_framework.errors import UserError
from lalm_framework.utils.paths import resolve_path

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE = AUDIO_TOKEN + "{prompt}"
DEFAULT_PROMPTS = {"transcribe": "Transcribe:", "caption": "Describe the voice:"}
_STAGES = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("test",)}


class LalmDataModule(pl.LightningDataModule):
    """Audio + text for a LALM: reading, checking, filtering, batching, log-mel, tokenization.

    `tokenizer` and `feature_extractor` come from the LightningModule in `setup()` unless they
    are passed here (inference passes them). `cache_features` keeps every utterance's log-mel in
    memory after its first use (n_mels x frames x 4 bytes each: ~160 KB at 80 x 500): for small
    sets like `sample`, where computing log-mel costs as much as a training step of the tiny
    model; with workers, each worker caches the utterances it loads.
    """

    def __init__(
        self,
        root: str | None = None,
        train_split: str | None = "train-clean-100",
        val_split: str | None = "dev-clean",
        test_split: str | None = "test-clean",
        train_manifest: str | None = None,
        val_manifest: str | None = None,
        test_manifest: str | None = None,
        text_key: str = "text",
        task: str = "transcribe",
        prompt_template: str = DEFAULT_TEMPLATE,
        prompts: dict[str, str] | None = None,
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        min_duration: float | None = None,
        max_duration: float | None = None,
        max_utterances: int | None = None,
        skip_bad_audio: bool = False,
        check_audio: bool = True,
        bucketing: bool = False,
        num_buckets: int = 10,
        max_target_tokens: int | None = None,
        cache_features: bool = False,
        seed: int | None = 0,
        tokenizer: Any = None,
        feature_extractor: Any = None,
    ) -> None:
        super().__init__()
        check_prompt_template(prompt_template)
        if batch_size < 1:
            raise UserError(f"dataset.batch_size={batch_size}: must be >= 1.")
        self.root = resolve_path(root) if root else None
        self.splits = {"train": train_split, "val": val_split, "test": test_split}
        manifests = {"train": train_manifest, "val": val_manifest, "test": test_manifest}
        self.manifests = {k: resolve_path(v) if v else None for k, v in manifests.items()}
        self.text_key = text_key
        self.task = task
        self.prompt_template = prompt_template
        self.prompts = dict(DEFAULT_PROMPTS if prompts is None else prompts)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.min_duration, self.max_duration = min_duration, max_duration
        self.max_utterances = max_utterances
        self.skip_bad_audio, self.check_audio = skip_bad_audio, check_audio
        self.bucketing, self.num_buckets = bucketing, num_buckets
        self.max_target_tokens = max_target_tokens
        self.cache_features = cache_features
        self.seed = seed or 0
        self.tokenizer, self.feature_extractor = tokenizer, feature_extractor
        self.datasets: dict[str, AudioTextDataset] = {}
        self.collator: LalmCollator | None = None

    # --- before launch -------------------------------------------------------------------
    @classmethod
    def validate_config(cls, node: Any) -> None:
        """Fail before any job starts on a bad template, a missing root, split or manifest."""
        check_prompt_template(node.get("prompt_template", DEFAULT_TEMPLATE))
        manifests = [node.get(f"{s}_manifest") for s in ("train", "val", "test")]
        for m in filter(None, manifests):
            check_manifest_file(resolve_path(m))
        if node.get("root") and not any(manifests):
            root = resolve_path(node.root)
            if not root.is_dir():
                raise UserError(
                    f"dataset.root: folder not found: {root}.\n"
                    "Set dataset.root=<folder holding the LibriSpeech splits>."
                )
            for split in filter(None, (node.get(f"{s}_split") for s in ("train", "val", "test"))):
                check_split_dir(root, split)

    @classmethod
    def training_texts(cls, node: Any) -> list[str]:
        """The target texts of the training split a dataset config node names (no audio is read).

        What a tokenizer trained for this data learns from (`model.tokenizer.dataset`).
        """
        from omegaconf import DictConfig, OmegaConf

        values = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
        assert isinstance(values, dict)
        dm = cls(**{str(k): v for k, v in values.items() if not str(k).startswith("_")})
        if dm.source("train") is None:
            return []
        return [u.text for u in dm.read_split("train")]

    # --- where each split comes from ---------------------------------------------------------
    def source(self, split: str) -> Path | None:
        """The manifest or split folder `split` (train/val/test) reads; None when it has none."""
        if self.manifests[split] is not None:
            return self.manifests[split]
        if any(self.manifests.values()) or self.splits[split] is None:
            return None
        return self._root() / self.splits[split]

    def _root(self) -> Path:
        if self.root is not None:
            return self.root
        from lalm_framework.samples import SAMPLE_ROOT

        return SAMPLE_ROOT

    def read_split(self, split: str) -> list[Utterance]:
        """Utterances of `split` as listed by its source (no audio checks)."""
        src = self.source(split)
        if src is None:
            raise _no_data(split)
        if self.manifests[split] is not None:
            return read_manifest(src, text_key=self.text_key)
        return read_librispeech(self._root(), self.splits[split])

    # --- Lightning hooks -------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        self._take_model_parts()
        if self.collator is None:
            self.collator = LalmCollator(
                self.tokenizer,
                self.feature_extractor,
                self.prompt_template,
                self.prompts,
                default_task=self.task,
                max_target_tokens=self.max_target_tokens,
                cache_features=self.cache_features,
            )
        wanted = _STAGES.get(stage or "", ("train", "val", "test"))
        for split in wanted:
            if split not in self.datasets and self.source(split) is not None:
                self.datasets[split] = AudioTextDataset(
                    self._prepare(split), self.feature_extractor.sampling_rate, skip_bad_audio=self.skip_bad_audio
                )

    def _take_model_parts(self) -> None:
        module = self.trainer.lightning_module if self.trainer is not None else None
        for name in ("tokenizer", "feature_extractor"):
            if getattr(self, name) is None:
                value = getattr(module, name, None)
                if value is None:
                    raise UserError(
                        f"The datamodule needs a {name}: the model exposes none "
                        f"(give the LightningModule a `{name}` attribute, or pass {name}=...)."
                    )
                setattr(self, name, value)

    def _prepare(self, split: str) -> list[Utterance]:
        utts = self.read_split(split)
        if self.check_audio:
            utts = check_audio_files(utts, split, skip_bad_audio=self.skip_bad_audio)
        # longer audio than the encoder's window would be cut: its transcript would not match
        window = float(getattr(self.feature_extractor, "chunk_length", 0) or 0) or None
        limits = [x for x in (self.max_duration, window) if x]
        utts = filter_by_duration(utts, split, self.min_duration, min(limits) if limits else None)
        if self.max_utterances is not None:
            utts = utts[: self.max_utterances]
        hours = sum(u.duration or 0.0 for u in utts) / 3600
        log.info("%s: %d utterances (%.2f h) from %s", split, len(utts), hours, self.source(split))
        return utts

    def train_dataloader(self) -> DataLoader:
        ds = self._dataset("train")
        if self.bucketing:
            sampler = DurationBucketBatchSampler(
                ds.durations, self.batch_size, self.num_buckets, shuffle=True, seed=self.seed
            )
            return self._loader(ds, batch_sampler=sampler)
        return self._loader(ds, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self._dataset("val"), batch_size=self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self._dataset("test"), batch_size=self.eval_batch_size, shuffle=False)

    def _dataset(self, split: str) -> AudioTextDataset:
        if split not in self.datasets:
            self.setup({"train": "fit", "val": "validate", "test": "test"}[split])
        if split not in self.datasets:
            raise _no_data(split)
        return self.datasets[split]

    def _loader(self, ds: AudioTextDataset, **kwargs: Any) -> DataLoader:
        return make_dataloader(ds, self.collator, num_workers=self.num_workers, **kwargs)


def make_dataloader(
    dataset: AudioTextDataset, collator: LalmCollator, num_workers: int = 0, **kwargs: Any
) -> DataLoader:
    """A DataLoader of `LalmBatch`es (workers decode audio; persistent across epochs)."""
    import torch

    return DataLoader(
        dataset,
        collate_fn=collator,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        pin_memory=torch.cuda.is_available(),
        **kwargs,
    )


def _no_data(split: str) -> UserError:
    return UserError(f"dataset: no {split} data configured; set dataset.{split}_manifest or dataset.{split}_split.")
