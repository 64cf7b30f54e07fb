"""`LalmDataModule`: speech data as Lhotse cuts -> `LalmBatch` loaders (see docs/data.md).

Where each split comes from (the first that is set):
- `path`: Lhotse Shar shards written by `lalm-prepare-data`, in `<path>/<split name>` (dataset=shar);
- `<split>_cuts`: a Lhotse cut manifest, e.g. from one of Lhotse's corpus recipes (dataset=lhotse);
- `<split>_manifest`: a JSONL manifest, audio path + `text_key` (dataset=jsonl, speechcraft);
- else `root` + `<split>_split`: a LibriSpeech-layout folder (dataset=librispeech); no root: the
  bundled speech set (dataset=sample).
When any split names a manifest or cut file, splits without one have no data; a split whose name
is null has no loader (e.g. no test set).

Batches: at most `batch_size` utterances and/or `max_duration` seconds of audio, from Lhotse's
`DynamicBucketingSampler` (`bucketing`, `num_buckets`) or `DynamicCutSampler`; rank-aware under
DDP, deterministic per seed and epoch, and resumable mid-epoch (`sampling.CutBatchSampler`).
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any, Literal

import pytorch_lightning as pl

from lalm_framework.data.batch import AUDIO_TOKEN
from lalm_framework.data.checks import DurationRange, duration_filter_message
from lalm_framework.data.collate import LalmCollator, check_prompt_template
from lalm_framework.data.dataset import LalmCutDataset
from lalm_framework.data.loading import CutLoader, default_num_workers, make_dataloader
from lalm_framework.data.sampling import BatchSpec, CutBatchSampler
from lalm_framework.data.sources import (
    CutsSource,
    FolderSource,
    JsonlSource,
    SharSource,
    Source,
    SplitCuts,
    describe_sources,
)
from lalm_framework.data.steps import needs_batch_count
from lalm_framework.errors import UserError
from lalm_framework.utils.paths import resolve_path

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_PROMPTS", "DEFAULT_TEMPLATE", "LalmDataModule", "make_dataloader"]

DEFAULT_TEMPLATE = AUDIO_TOKEN + "{prompt}"
DEFAULT_PROMPTS = {"transcribe": "Transcribe:", "caption": "Describe the voice:"}
SPLITS = ("train", "val", "test")
_STAGES = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("test",)}


class LalmDataModule(pl.LightningDataModule):
    """Audio + text for a LALM: sources, checks, filters, batching, log-mel, tokenization.

    `tokenizer` and `feature_extractor` come from the LightningModule in `setup()` unless they
    are passed here. `cache_features` keeps each utterance's log-mel after its first use, per
    process (n_mels x frames x 4 bytes: ~160 KB at 80 x 500): for small sets like `sample`
    with `num_workers=0`, where log-mel costs as much as a training step of the tiny model.
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
        train_cuts: str | None = None,
        val_cuts: str | None = None,
        test_cuts: str | None = None,
        path: str | None = None,
        text_key: str = "text",
        task: str = "transcribe",
        prompt_template: str = DEFAULT_TEMPLATE,
        prompts: dict[str, str] | None = None,
        batch_size: int | None = 8,
        max_duration: float | None = None,
        eval_batch_size: int | None = None,
        bucketing: bool = True,
        num_buckets: int = 10,
        buffer_size: int = 20000,
        num_workers: int | Literal["auto"] = "auto",
        min_utterance_duration: float | None = None,
        max_utterance_duration: float | None = None,
        max_utterances: int | None = None,
        skip_bad_audio: bool = False,
        check_audio: bool = True,
        max_target_tokens: int | None = None,
        cache_features: bool = False,
        seed: int | None = 0,
        tokenizer: Any = None,
        feature_extractor: Any = None,
    ) -> None:
        super().__init__()
        check_prompt_template(prompt_template)
        _check_batching(batch_size, max_duration, eval_batch_size, num_buckets, buffer_size, num_workers)
        self.root = resolve_path(root) if root else None
        self.path = resolve_path(path) if path else None
        self.splits = {"train": train_split, "val": val_split, "test": test_split}
        manifests = {"train": train_manifest, "val": val_manifest, "test": test_manifest}
        self.manifests = {k: resolve_path(v) if v else None for k, v in manifests.items()}
        cuts = {"train": train_cuts, "val": val_cuts, "test": test_cuts}
        self.cut_manifests = {k: resolve_path(v) if v else None for k, v in cuts.items()}
        self.text_key = text_key
        self.task = task
        self.prompt_template = prompt_template
        self.prompts = dict(DEFAULT_PROMPTS if prompts is None else prompts)
        self.batch_size, self.max_duration = batch_size, max_duration
        self.eval_batch_size = eval_batch_size or batch_size or 8
        self.bucketing, self.num_buckets, self.buffer_size = bucketing, num_buckets, buffer_size
        self.num_workers = num_workers
        self.min_utterance_duration, self.max_utterance_duration = min_utterance_duration, max_utterance_duration
        self.max_utterances = max_utterances
        self.skip_bad_audio, self.check_audio = skip_bad_audio, check_audio
        self.max_target_tokens = max_target_tokens
        self.cache_features = cache_features
        self.seed = seed or 0
        self.tokenizer, self.feature_extractor = tokenizer, feature_extractor
        self.datasets: dict[str, SplitCuts] = {}
        self.collator: LalmCollator | None = None
        self._loaders: dict[str, CutLoader] = {}
        self._fingerprint: dict[str, Any] | None = None
        self._train_position: dict[str, Any] | None = None  # restored from a checkpoint

    # --- before launch -------------------------------------------------------------------
    @classmethod
    def validate_config(cls, node: Any) -> None:
        """Fail before any job starts on a bad template or batching option, a missing source."""
        check_prompt_template(node.get("prompt_template", DEFAULT_TEMPLATE))
        _check_batching(
            node.get("batch_size", 8),
            node.get("max_duration"),
            node.get("eval_batch_size"),
            node.get("num_buckets", 10),
            node.get("buffer_size", 20000),
            node.get("num_workers", "auto"),
        )
        dm = cls(
            **{k: node.get(k) for k in ("root", "path", "text_key") if node.get(k) is not None}, **_sources_of(node)
        )
        for split in SPLITS:
            src = dm.source(split)
            if src is not None:
                _check_exists(src, split)

    @classmethod
    def training_texts(cls, node: Any) -> list[str]:
        """The target texts of the training split of the dataset config `node` (no audio read).

        What a tokenizer trained for this data learns from (`model.tokenizer.dataset`).
        """
        from omegaconf import DictConfig, OmegaConf

        args = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
        assert isinstance(args, dict)
        accepted = inspect.signature(cls.__init__).parameters  # a subclass may take more options
        dm = cls(**{str(k): v for k, v in args.items() if str(k) in accepted and str(k) != "self"})
        src = dm.source("train")
        if src is None:
            raise _no_data("train")
        return src.texts()

    # --- where each split comes from ---------------------------------------------------------
    def source(self, split: str) -> Source | None:
        """What `split` (train/val/test) reads; None when it has no data."""
        name = self.splits[split]
        if self.path is not None:
            return SharSource(self.path / name) if name else None
        cuts, manifest = self.cut_manifests[split], self.manifests[split]
        if cuts is not None:
            return CutsSource(cuts, self.text_key)
        if manifest is not None:
            return JsonlSource(manifest, self.text_key)
        if any(self.manifests.values()) or any(self.cut_manifests.values()) or name is None:
            return None
        return FolderSource(self._root(), name)

    def _root(self) -> Path:
        if self.root is not None:
            return self.root
        from lalm_framework.samples import SAMPLE_ROOT

        return SAMPLE_ROOT

    def data_fingerprint(self) -> dict[str, Any]:
        """Per split: source, kind, utterance and file counts, total bytes, sha256 of (id, audio, text)."""
        if self._fingerprint is None:
            self._fingerprint = describe_sources({s: self.source(s) for s in SPLITS})
        return self._fingerprint

    def load_split(self, split: str) -> SplitCuts:
        """The checked cuts of `split` (audio checks, no duration filter)."""
        src = self.source(split)
        if src is None:
            raise _no_data(split)
        return src.load(split, skip_bad_audio=self.skip_bad_audio, check_audio=self.check_audio)

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
        for split in _STAGES.get(stage or "", SPLITS):
            if split not in self.datasets and self.source(split) is not None:
                self.datasets[split] = self._prepare(split)

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

    def _prepare(self, split: str) -> SplitCuts:
        cuts = self.load_split(split)
        # longer audio than the encoder's window would be cut: its transcript would not match
        window = float(getattr(self.feature_extractor, "chunk_length", 0) or 0) or None
        limits = [x for x in (self.max_utterance_duration, window) if x]
        lo = self.min_utterance_duration or 0.0
        hi = min(limits) if limits else float("inf")

        kept = cuts.filtered(DurationRange(lo, hi))
        duration_filter_message(split, cuts.size - kept.size, cuts.size, lo, hi)
        if self.max_utterances is not None:
            kept = kept.filtered(lambda cut: True, first=self.max_utterances)
        hours = kept.hours()
        log.info("%s: %d utterances (%.2f h) from %s", split, kept.size, hours, kept.description)
        return kept

    def train_dataloader(self) -> CutLoader:
        loader = self._loader("train")
        if self.trainer is not None:
            # the epoch Lightning is about to run (what it passes to set_epoch): len() counts its batches
            progress = self.trainer.fit_loop.epoch_progress.current
            loader.cut_sampler.set_epoch(progress.processed)  # type: ignore[attr-defined]  # a _ProcessedTracker
        return loader

    def val_dataloader(self) -> CutLoader:
        return self._loader("val")

    def test_dataloader(self) -> CutLoader:
        return self._loader("test")

    def _loader(self, split: str) -> CutLoader:
        overfit = getattr(self.trainer, "overfit_batches", 0)  # set by Trainer.__init__, not declared
        if overfit:
            # Lightning would swap in an index sampler over the dataset, which batches of cuts do not have
            raise UserError(
                f"trainer.overfit_batches={overfit} does not work with the speech "
                "datasets' Lhotse samplers.\nUse debug=overfit (the first utterances, validated on "
                "themselves), or dataset.max_utterances=N with dataset.val_split=<the train split>."
            )
        if split in self._loaders:
            return self._loaders[split]
        if split not in self.datasets:
            self.setup({"train": "fit", "val": "validate", "test": "test"}[split])
        if split not in self.datasets:
            raise _no_data(split)
        train = split == "train"
        spec = BatchSpec(
            max_duration=self.max_duration if train else None,
            max_cuts=self.batch_size if train else self.eval_batch_size,
            bucketing=self.bucketing and train,
            num_buckets=self.num_buckets,
            buffer_size=self.buffer_size,
            shuffle=train,
            seed=self.seed,
        )
        trainer = self.trainer
        world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        counted = True if needs_batch_count(trainer, split) else None  # else: counted when small
        sampler = CutBatchSampler(self.datasets[split], spec, world, rank, counted)
        assert self.collator is not None
        dataset = LalmCutDataset(self.collator, self.feature_extractor.sampling_rate, self.skip_bad_audio)
        workers = self.num_workers
        if workers == "auto":
            workers = default_num_workers(trainer.num_devices if trainer is not None else 1)
        loader = CutLoader(dataset, sampler, workers, progress=self._progress if train else None)
        if train and self._train_position is not None:
            sampler.load_state_dict(self._train_position)
        if train and trainer is not None and not sampler.fixed_length:
            # duration batches: the batch count differs per epoch; Lightning reads len() when it
            # (re)loads the train loader, so reload it every epoch (it returns this same loader)
            trainer.reload_dataloaders_every_n_epochs = 1  # type: ignore[attr-defined]  # set in Trainer.__init__
        self._loaders[split] = loader
        return loader

    def _progress(self) -> int | None:
        """The batches of this epoch trained so far, as the fit loop counts them."""
        trainer = self.trainer
        if trainer is None:
            return None
        progress = trainer.fit_loop.epoch_loop.batch_progress.current
        return int(progress.processed)  # type: ignore[attr-defined]  # a _ProcessedTracker at runtime

    # --- resume ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Saved in checkpoints by Lightning: the training loader's position in its epoch."""
        loader = self._loaders.get("train")
        position = loader.state_dict() if loader is not None else self._train_position
        return {"train_position": position} if position is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Lightning restores this before it first asks for the train loader: the loader starts
        mid-epoch where the checkpoint was saved (Lightning's own loader restore comes too late
        when the model asked for `estimated_stepping_batches`)."""
        self._train_position = state_dict.get("train_position")
        if self._train_position is not None and "train" in self._loaders:
            self._loaders["train"].cut_sampler.load_state_dict(self._train_position)


def _sources_of(node: Any) -> dict[str, Any]:
    keys = [f"{s}_{kind}" for s in SPLITS for kind in ("split", "manifest", "cuts")]
    return {k: node.get(k) for k in keys if k in node}


def _check_exists(src: Source, split: str) -> None:
    """The cheap existence checks of a source (before launch): files and folders, not contents."""
    from lalm_framework.data.librispeech import check_split_dir
    from lalm_framework.data.manifest import check_manifest_file

    if isinstance(src, JsonlSource):
        check_manifest_file(src.manifest)
    elif isinstance(src, CutsSource):
        if not src.manifest.is_file():
            raise UserError(f"dataset.{split}_cuts: cut manifest not found: {src.manifest}.")
    elif isinstance(src, SharSource):
        src.shards()
    elif isinstance(src, FolderSource):
        if not src.root.is_dir():
            raise UserError(
                f"dataset.root: folder not found: {src.root}.\n"
                "Set dataset.root=<folder holding the LibriSpeech splits>."
            )
        check_split_dir(src.root, src.split)


def _check_batching(
    batch_size: Any, max_duration: Any, eval_batch_size: Any, num_buckets: Any, buffer_size: Any, num_workers: Any
) -> None:
    if batch_size is None and max_duration is None:
        raise UserError(
            "dataset.batch_size and dataset.max_duration are both null: set one of them "
            "(utterances per batch, or seconds of audio per batch)."
        )
    for key, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise UserError(f"dataset.{key}={value!r}: must be a whole number >= 1 (or null).")
    if max_duration is not None and (
        isinstance(max_duration, bool) or not isinstance(max_duration, (int, float)) or max_duration <= 0
    ):
        raise UserError(f"dataset.max_duration={max_duration!r}: seconds of audio per batch, must be > 0 (or null).")
    if not isinstance(num_buckets, int) or num_buckets < 1:
        raise UserError(f"dataset.num_buckets={num_buckets!r}: must be a whole number >= 1.")
    if not isinstance(buffer_size, int) or buffer_size < 1:
        raise UserError(f"dataset.buffer_size={buffer_size!r}: must be a whole number >= 1.")
    if num_workers != "auto" and (not isinstance(num_workers, int) or isinstance(num_workers, bool) or num_workers < 0):
        raise UserError(
            f"dataset.num_workers={num_workers!r}: give a number of DataLoader workers (0: load in the "
            "training process) or 'auto' (the machine's cores less one per training process)."
        )


def _no_data(split: str) -> UserError:
    return UserError(
        f"dataset: no {split} data configured; set dataset.{split}_split, dataset.{split}_manifest or "
        f"dataset.{split}_cuts."
    )
