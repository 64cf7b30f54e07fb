"""`LalmDataModule`: speech data as Lhotse cuts -> `LalmBatch` loaders (see docs/data.md).

A dataset is a list of sources per split (`data.sources`: one module per kind):
- `train`: a list of source nodes (`{source: librispeech, root: ..., split: ..., weight: 0.7}`);
  more than one are concatenated (each once per epoch) or, with weights, mixed (`data.mixing`);
- `val` / `test`: named sets (`{clean: {source: ...}, other: {source: ...}}`), or one source node
  (one unnamed set, name ""); each set has its own loader, in order.

The flat keys of the presets (`root`, `path`, `<split>_split`, `<split>_manifest`, `<split>_cuts`)
are the one-source form of the same schema (`flat_sources`), resolved as before: `path` (Shar),
else `<split>_cuts`, else `<split>_manifest`, else `root` + `<split>_split` (no root: the bundled
set). When any split names a manifest or cut file, splits without one have no data.

Evaluation: each set is scored with its task's metrics (`normalizer`, `metrics`: see
`lalm_framework.scoring`): transcribe -> WER (+ CER for unspaced scripts), caption -> BLEU, answer
-> exact match; the settings travel in checkpoints so `lalm-infer` scores the same way.

Batches: at most `batch_size` utterances and/or `max_duration` seconds of audio, from Lhotse's
`DynamicBucketingSampler` (`bucketing`, `num_buckets`) or `DynamicCutSampler`; rank-aware under
DDP, deterministic per seed and epoch, and resumable mid-epoch (`sampling.CutBatchSampler`).
"""

from __future__ import annotations

import copy
import inspect
import logging
from pathlib import Path
from typing import Annotated, Any, Literal

import pytorch_lightning as pl

from lalm_framework.compat import private_api
from lalm_framework.data.batch import AUDIO_TOKEN
from lalm_framework.data.checks import DurationRange, duration_filter_message
from lalm_framework.data.collate import DEFAULT_TEMPLATE, LalmCollator, check_prompt_template, check_prompts
from lalm_framework.data.dataset import LalmCutDataset
from lalm_framework.data.loading import CutLoader, default_num_workers, make_dataloader
from lalm_framework.data.mixing import MixedCuts, MixSpec, mix_weights
from lalm_framework.data.sampling import BatchSpec, CutBatchSampler, EpochCuts
from lalm_framework.data.seam import HasModelParts, ModelParts
from lalm_framework.data.sources import (
    CutsSource,
    FolderSource,
    JsonlSource,
    SharSource,
    Source,
    SplitCuts,
    rows_digest,
    source_fingerprint,
)
from lalm_framework.data.sources.nodes import eval_sets, train_sources
from lalm_framework.data.steps import needs_batch_count
from lalm_framework.errors import UserError
from lalm_framework.scoring import DEFAULT_NORMALIZER, check_scoring, metrics_option
from lalm_framework.utils.paths import resolve_path
from lalm_framework.utils.ranges import AT_LEAST_0, POSITIVE_SECONDS, Range, check_declared

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_PROMPTS", "DEFAULT_TEMPLATE", "LalmDataModule", "make_dataloader"]

assert AUDIO_TOKEN in DEFAULT_TEMPLATE
DEFAULT_PROMPTS = {"transcribe": "Transcribe:", "caption": "Describe the voice:"}
SPLITS = ("train", "val", "test")
EVAL_SPLITS = ("val", "test")
_STAGES = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("test",)}
LONG_AUDIO = ("refuse", "drop", "chunk")
# the flat (one-source) keys and their defaults: given together with train/val/test, they are refused
_FLAT_DEFAULTS: dict[str, Any] = {
    "root": None,
    "path": None,
    "train_split": "train-clean-100",
    "val_split": "dev-clean",
    "test_split": "test-clean",
    **{f"{s}_{k}": None for s in SPLITS for k in ("manifest", "cuts")},
}


def set_key(split: str, name: str) -> str:
    """The key of one evaluation set ("val", or "val/clean" for a named one)."""
    return f"{split}/{name}" if name else split


# the ranges of the batching arguments, in the words of this class (`utils.ranges`)
_BATCH = Range(1, "must be a whole number >= 1 (or null)", whole=True)
_SECONDS_PER_BATCH = Range(0, "seconds of audio per batch, must be > 0 (or null)", exclusive=True)
_COUNT = Range(1, "must be a whole number >= 1", whole=True)
_WORKERS = Range(
    0,
    "give a number of DataLoader workers (0: load in the training process) or 'auto' "
    "(the machine's cores less one per training process)",
)


class LalmDataModule(pl.LightningDataModule):
    """Audio + text for a LALM: sources, checks, filters, mixing, batching, log-mel, tokenization.

    `tokenizer` and `feature_extractor` come from the LightningModule in `setup()` (its
    `model_parts()`, `data.seam`) unless they are passed here. `cache_features` keeps each
    utterance's log-mel after its first use, per process (n_mels x frames x 4 bytes: ~160 KB at
    80 x 500): for small sets like `sample` with `num_workers=0`.

    >>> LalmDataModule(train=[{"source": "librispeech", "root": "/data/LibriSpeech", "split": "train-clean-100"}],
    ...                val={"clean": {"source": "librispeech", "root": "/data/LibriSpeech", "split": "dev-clean"}})
    ... # doctest: +SKIP
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
        prompt_template: str | dict[str, str] = DEFAULT_TEMPLATE,
        prompts: dict[str, str | list[str]] | None = None,
        batch_size: Annotated[int, _BATCH] | None = 8,
        max_duration: Annotated[float, _SECONDS_PER_BATCH] | None = None,
        eval_batch_size: Annotated[int, _BATCH] | None = None,
        bucketing: bool = True,
        num_buckets: Annotated[int, _COUNT] = 10,
        buffer_size: Annotated[int, _COUNT] = 20000,
        num_workers: Annotated[int, _WORKERS] | Literal["auto"] = "auto",
        min_utterance_duration: Annotated[float, AT_LEAST_0] | None = None,
        max_utterance_duration: Annotated[float, POSITIVE_SECONDS] | None = None,
        max_utterances: int | None = None,
        skip_bad_audio: bool = False,
        check_audio: bool = True,
        max_target_tokens: int | None = None,
        cache_features: bool = False,
        seed: int | None = 0,
        tokenizer: Any = None,
        feature_extractor: Any = None,
        train: Any = None,
        val: Any = None,
        test: Any = None,
        mix: dict[str, Any] | None = None,
        long_audio: Literal["refuse", "drop", "chunk"] = "refuse",
        chat_template: bool | None = None,
        normalizer: str = DEFAULT_NORMALIZER,
        metrics: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__()
        check_scoring(normalizer, metrics)
        for template in [prompt_template] if isinstance(prompt_template, str) else dict(prompt_template).values():
            check_prompt_template(template)
        check_prompts(prompts)
        check_declared(LalmDataModule.__init__, locals(), "dataset")  # the ranges its signature declares
        _check_batching(batch_size, max_duration, num_workers)
        if long_audio not in LONG_AUDIO:
            raise UserError(f"dataset.long_audio={long_audio!r}: use one of {', '.join(LONG_AUDIO)}.")
        if long_audio == "chunk":
            raise UserError(
                "dataset.long_audio=chunk: training and evaluation pairs cannot be cut into encoder windows "
                "(their transcripts are not aligned to the audio).\nUse dataset.long_audio=drop, or refuse "
                "(the default) to see how many utterances are too long; `lalm-infer CKPT DIR --long-audio chunk` "
                "transcribes long audio window by window."
            )
        self.text_key = text_key
        self.task = task
        flat = dict(
            root=root,
            path=path,
            train_split=train_split,
            val_split=val_split,
            test_split=test_split,
            train_manifest=train_manifest,
            val_manifest=val_manifest,
            test_manifest=test_manifest,
            train_cuts=train_cuts,
            val_cuts=val_cuts,
            test_cuts=test_cuts,
        )
        if train is None and val is None and test is None:
            self.train_sources, self.eval_sets = flat_sources(flat, text_key, task)
        else:
            given = [k for k, v in flat.items() if v != _FLAT_DEFAULTS[k]]
            if given:
                raise UserError(
                    f"dataset: {', '.join(given)} (the one-source keys) and train/val/test (source lists) are both "
                    "set; use one form.\nThe source form: train: [{source: librispeech, root: /data/LibriSpeech, "
                    "split: train-clean-100}], val: {clean: {source: librispeech, root: ..., split: dev-clean}}."
                )
            self.train_sources = train_sources(train)
            self.eval_sets = {s: eval_sets(v, f"dataset.{s}") for s, v in (("val", val), ("test", test))}
        self.mix = MixSpec.from_node(mix)
        self.long_audio = long_audio
        # how evaluation scores generated text (`lalm_framework.scoring`); kept in checkpoints
        self.normalizer, self.metrics = normalizer, metrics_option(metrics)
        self.chat_template = chat_template
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
        self.datasets: dict[str, EpochCuts] = {}
        self.collator: LalmCollator | None = None
        self._loaders: dict[str, CutLoader] = {}
        self._fingerprint: dict[str, Any] | None = None
        self._train_position: dict[str, Any] | None = None  # restored from a checkpoint
        self.long_dropped: dict[str, int] = {}  # set key -> utterances left out (long_audio=drop)

    # --- the contract with the model and lalm-infer (data.seam) --------------------------------
    @property
    def val_set_names(self) -> list[str]:
        """The validation sets, in loader order ("" is the one unnamed set)."""
        return list(self.eval_sets["val"])

    @property
    def test_set_names(self) -> list[str]:
        return list(self.eval_sets["test"])

    def checkpoint_settings(self) -> dict[str, Any]:
        """How this datamodule prompted and batched, for the checkpoint (`lalm-infer` does the same).

        Plain containers only (a config's lists would not load from a weights-only checkpoint).
        """
        from omegaconf import OmegaConf

        from lalm_framework.utils.plain_data import plain_dict

        return plain_dict(
            OmegaConf.create(
                {
                    "prompt_template": self.prompt_template,
                    "prompts": self.prompts,
                    "task": self.task,
                    "eval_batch_size": self.eval_batch_size,
                    "normalizer": self.normalizer,
                    "metrics": self.metrics,
                }
            )
        )

    def inference_inputs(self) -> list[str] | None:
        """`lalm-infer` arguments for the validation sets, None when one is not a folder or manifest."""
        sets = self.eval_sets["val"]
        inputs = {name: src.infer_input() for name, src in sets.items()}
        if not inputs or any(v is None for v in inputs.values()):
            return None
        return [f"{name}={where}" if name else str(where) for name, where in inputs.items()]

    # --- before launch -------------------------------------------------------------------
    @classmethod
    def from_node(cls, node: Any) -> LalmDataModule:
        """The datamodule of a dataset config node (`_target_` or legacy `target`/`params` form),
        built as instantiation would, without touching data: for the checks before launch."""
        from omegaconf import DictConfig, OmegaConf

        from lalm_framework.compat.legacy import to_target_form

        plain = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
        args = to_target_form(plain)
        assert isinstance(args, dict)
        accepted = inspect.signature(LalmDataModule.__init__).parameters
        return LalmDataModule(**{str(k): v for k, v in args.items() if str(k) in accepted and str(k) != "self"})

    @classmethod
    def validate_config(cls, node: Any) -> None:
        """Fail before any job starts on a bad template, batching option or source, a missing file."""
        dm = cls.from_node(node)
        for src in dm.train_sources + [s for sets in dm.eval_sets.values() for s in sets.values()]:
            src.check(src.where)
        if dm.train_sources:
            mix_weights([s.weight for s in dm.train_sources], [1.0] * len(dm.train_sources), dm.mix.temperature)

    @classmethod
    def training_texts(cls, node: Any) -> list[str]:
        """The target texts of the training sources of the dataset config `node` (no audio read).

        What a tokenizer trained for this data learns from (`model.tokenizer.dataset`).
        """
        dm = cls.from_node(node)
        if not dm.train_sources:
            raise _no_data("train")
        return [text for src in dm.train_sources for text in src.texts()]

    # --- where each split comes from ---------------------------------------------------------
    def source(self, split: str) -> Source | None:
        """The one source of `split` (train/val/test); None when it has none (`lalm-prepare-data`)."""
        found = self.train_sources if split == "train" else list(self.eval_sets[split].values())
        if len(found) > 1:
            raise UserError(
                f"dataset.{split} has {len(found)} sources; this reads one source per split. "
                "Give each source its own dataset config."
            )
        return found[0] if found else None

    def data_fingerprint(self) -> dict[str, Any]:
        """Per split: source, kind, task, utterance and file counts, total bytes, sha256 of (id, audio,
        text); `train.sources[i]` per train source, with what this attempt drew from it; named sets
        under `<split>.sets.<name>`; utterances left out as too long (`long_audio_dropped`)."""
        if self._fingerprint is None:
            self._fingerprint = self._static_fingerprint()
        out = copy.deepcopy(self._fingerprint)
        train = out.get("train")
        if train is not None:
            drawn = self.drawn()
            if drawn is not None:
                for i, entry in enumerate(train["sources"]):
                    cuts, seconds = drawn.get(i, (0, 0.0))
                    entry["drawn_cuts"], entry["drawn_hours"] = cuts, round(seconds / 3600, 6)
        for key, n in self.long_dropped.items():
            split, _, name = key.partition("/")
            if split in out:
                node = out[split]["sets"][name] if name else out[split]
                node["long_audio_dropped"] = n
        return out

    def _static_fingerprint(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.train_sources:
            parts = [source_fingerprint(s) | {"weight": s.weight} for s in self.train_sources]
            if len(parts) == 1:
                out["train"] = {k: v for k, v in parts[0].items() if k != "weight"}
            else:
                rows = [r for s in self.train_sources for r in s.rows()]
                out["train"] = {
                    "source": " + ".join(p["source"] for p in parts),
                    "kind": "mix",
                    "utterances": sum(p["utterances"] for p in parts),
                    "files": sum(p["files"] for p in parts),
                    "bytes": sum(p["bytes"] for p in parts),
                    "sha256": rows_digest(rows),
                }
            out["train"]["sources"] = parts
        for split, sets in self.eval_sets.items():
            if list(sets) == [""]:
                out[split] = source_fingerprint(sets[""])
            elif sets:
                out[split] = {"sets": {name: source_fingerprint(src) for name, src in sets.items()}}
        return out

    def drawn(self) -> dict[int, tuple[int, float]] | None:
        """{train source index: (cuts, seconds)} trained in this process so far; None before training."""
        loader = self._loaders.get("train")
        if loader is None:
            return None
        sampler = loader.cut_sampler
        assert isinstance(sampler, CutBatchSampler)
        trained = private_api.fit_batches_processed(self.trainer) if self.trainer is not None else None
        return sampler.drawn(trained)

    def load_split(self, split: str) -> SplitCuts:
        """The checked cuts of the one source of `split` (audio checks, no duration filter)."""
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
                chat_template=self.chat_template,
            )
        for split in _STAGES.get(stage or "", SPLITS):
            if split == "train":
                if "train" not in self.datasets and self.train_sources:
                    self.datasets["train"] = self._prepare_train()
                continue
            for name, src in self.eval_sets[split].items():
                key = set_key(split, name)
                if key not in self.datasets:
                    self.datasets[key] = self._prepare(key, src)[0]

    def _take_model_parts(self) -> None:
        if self.tokenizer is not None and self.feature_extractor is not None:
            return
        module = self.trainer.lightning_module if self.trainer is not None else None
        parts = module.model_parts() if isinstance(module, HasModelParts) else None
        if parts is None:  # a user's module: its attributes of the same names
            parts = ModelParts(getattr(module, "tokenizer", None), getattr(module, "feature_extractor", None))
        for name in ("tokenizer", "feature_extractor"):
            if getattr(self, name) is None:
                value = getattr(parts, name)
                if value is None:
                    raise UserError(
                        f"The datamodule needs a {name}: the model exposes none "
                        f"(give the LightningModule a `model_parts()` or a `{name}` attribute, or pass {name}=...)."
                    )
                setattr(self, name, value)

    def _prepare_train(self) -> EpochCuts:
        prepared = [
            self._prepare("train" if len(self.train_sources) == 1 else f"train[{i}]", src)
            for i, src in enumerate(self.train_sources)
        ]
        if len(prepared) == 1 and self.train_sources[0].weight is None and self.mix.temperature is None:
            return prepared[0][0]  # one source: batched exactly as before sources were mixed
        hours = [h for _, h in prepared]
        weights = mix_weights([s.weight for s in self.train_sources], hours, self.mix.temperature)
        mixed = MixedCuts([cuts for cuts, _ in prepared], hours, weights, self.mix, self.buffer_size)
        if weights is not None:
            shares = ", ".join(f"{i}: {w:.3f}" for i, w in enumerate(weights))
            log.info("train: %d sources mixed (draw probabilities %s); an epoch: %s", len(hours), shares, self._epoch())
        return mixed

    def _epoch(self) -> str:
        if self.mix.epoch == "steps":
            return f"{self.mix.steps} steps"
        return f"{self.mix.hours} h" if self.mix.hours is not None else "the sources' hours together"

    def _prepare(self, key: str, src: Source) -> tuple[SplitCuts, float]:
        """The checked, duration-filtered cuts of one source, and their hours."""
        cuts = src.load(key, skip_bad_audio=self.skip_bad_audio, check_audio=self.check_audio)
        lo = self.min_utterance_duration or 0.0
        hi = self.max_utterance_duration or float("inf")

        kept = cuts.filtered(DurationRange(lo, hi)) if (lo > 0 or hi < float("inf")) else cuts
        duration_filter_message(key, cuts.size - kept.size, cuts.size, lo, hi)
        kept = self._long_audio(key, kept)
        if self.max_utterances is not None:
            kept = kept.filtered(lambda cut: True, first=self.max_utterances)
        hours = kept.hours()
        log.info("%s: %d utterances (%.2f h) from %s", key, kept.size, hours, kept.description)
        return kept, hours

    def _long_audio(self, key: str, cuts: SplitCuts) -> SplitCuts:
        """Audio longer than the encoder's window would be cut (its transcript would not match):
        refuse it (default, with the count and the fix) or drop it (`long_audio`)."""
        window = float(getattr(self.feature_extractor, "chunk_length", 0) or 0)
        if not window:
            return cuts
        long = [d for d in cuts.durations() if d > window]
        if not long:
            return cuts
        if self.long_audio == "refuse":
            raise UserError(
                f"{len(long)} of {cuts.size} {key} utterances ({cuts.description}) are longer than the encoder's "
                f"{window:g} s window (the longest: {max(long):.1f} s); the model would see them cut.\n"
                "Set dataset.long_audio=drop to leave them out (the count goes to run.json), or "
                f"dataset.max_utterance_duration={window:g} to filter them yourself."
            )

        kept = cuts.filtered(DurationRange(0.0, window))
        self.long_dropped[key] = cuts.size - kept.size
        log.warning(
            "%s: %d of %d utterances longer than the encoder's %g s window left out (dataset.long_audio=drop)",
            key,
            cuts.size - kept.size,
            cuts.size,
            window,
        )
        if kept.size == 0:
            raise UserError(f"No {key} utterance fits the encoder's {window:g} s window.")
        return kept

    def train_dataloader(self) -> CutLoader:
        loader = self._loader("train")
        if self.trainer is not None:
            # the epoch Lightning is about to run (what it passes to set_epoch): len() counts its batches
            loader.cut_sampler.set_epoch(private_api.fit_epochs_processed(self.trainer))
        return loader

    def val_dataloader(self) -> CutLoader | list[CutLoader]:
        return self._eval_loaders("val")

    def test_dataloader(self) -> CutLoader | list[CutLoader]:
        return self._eval_loaders("test")

    def _eval_loaders(self, split: str) -> CutLoader | list[CutLoader]:
        """One loader per set, in `<split>_set_names` order (one set: the loader itself)."""
        names = list(self.eval_sets[split])
        if not names:
            raise _no_data(split)
        loaders = [self._loader(set_key(split, name)) for name in names]
        return loaders[0] if len(loaders) == 1 else loaders

    def _loader(self, key: str) -> CutLoader:
        overfit = private_api.overfit_batches(self.trainer) if self.trainer is not None else 0
        if overfit:
            # Lightning would swap in an index sampler over the dataset, which batches of cuts do not have
            raise UserError(
                f"trainer.overfit_batches={overfit:g} does not work with the speech "
                "datasets' Lhotse samplers.\nUse debug=overfit (the first utterances, validated on "
                "themselves), or dataset.max_utterances=N with dataset.val_split=<the train split>."
            )
        if key in self._loaders:
            return self._loaders[key]
        split = key.partition("/")[0]
        if key not in self.datasets:
            self.setup({"train": "fit", "val": "validate", "test": "test"}[split])
        if key not in self.datasets:
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
        sampler = CutBatchSampler(self.datasets[key], spec, world, rank, counted)
        sampler.draw_prompts = train and any(not isinstance(v, str) and len(v) > 1 for v in self.prompts.values())
        assert self.collator is not None
        tasks = [s.task_name for s in self.train_sources] if train else [self._eval_task(key)]
        dataset = LalmCutDataset(self.collator, self.feature_extractor.sampling_rate, self.skip_bad_audio, tasks)
        workers = self.num_workers
        if workers == "auto":
            workers = default_num_workers(trainer.num_devices if trainer is not None else 1)
        loader = CutLoader(dataset, sampler, workers, progress=self._progress if train else None)
        if train and self._train_position is not None:
            sampler.load_state_dict(self._train_position)
        if train and trainer is not None and not sampler.fixed_length:
            # duration batches: the batch count differs per epoch; Lightning reads len() when it
            # (re)loads the train loader, so reload it every epoch (it returns this same loader)
            private_api.reload_train_loader_every_epoch(trainer)
        self._loaders[key] = loader
        return loader

    def _eval_task(self, key: str) -> str:
        split, _, name = key.partition("/")
        return self.eval_sets[split][name].task_name

    def _progress(self) -> tuple[int, int] | None:
        """(epoch, batches of it trained) where the fit loop resumes from a checkpoint saved now."""
        return private_api.fit_resume_position(self.trainer) if self.trainer is not None else None

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


def flat_sources(flat: dict[str, Any], text_key: str, task: str) -> tuple[list[Source], dict[str, dict[str, Source]]]:
    """The sources of the flat (one-source-per-split) keys, by the rule in the module docstring."""
    splits = {s: flat[f"{s}_split"] for s in SPLITS}
    manifests = {s: flat[f"{s}_manifest"] for s in SPLITS}
    cuts = {s: flat[f"{s}_cuts"] for s in SPLITS}
    named_files = any(manifests.values()) or any(cuts.values())

    def one(split: str) -> Source | None:
        name = splits[split]
        if flat["path"]:
            return SharSource(resolve_path(flat["path"]) / name, task=task, where="dataset.path") if name else None
        if cuts[split]:
            return CutsSource(cuts[split], text_key, task=task, where=f"dataset.{split}_cuts")
        if manifests[split]:
            return JsonlSource(manifests[split], text_key, task=task, where=f"dataset.{split}_manifest")
        if named_files or name is None:
            return None
        return FolderSource(Path(flat["root"]) if flat["root"] else None, name, task=task, where="dataset.root")

    found = {s: one(s) for s in SPLITS}
    train = [found["train"]] if found["train"] is not None else []
    evals = {s: ({"": src} if (src := found[s]) is not None else {}) for s in EVAL_SPLITS}
    return train, evals


def _check_batching(batch_size: Any, max_duration: Any, num_workers: Any) -> None:
    """What the signature's types and ranges cannot say: one of the two limits, num_workers' words."""
    if batch_size is None and max_duration is None:
        raise UserError(
            "dataset.batch_size and dataset.max_duration are both null: set one of them "
            "(utterances per batch, or seconds of audio per batch)."
        )
    if num_workers != "auto" and (not isinstance(num_workers, int) or isinstance(num_workers, bool)):
        raise UserError(f"dataset.num_workers={num_workers!r}: {_WORKERS.requirement}.")


def _no_data(split: str) -> UserError:
    return UserError(
        f"dataset: no {split} data configured; set dataset.{split} (source nodes), or dataset.{split}_split, "
        f"dataset.{split}_manifest or dataset.{split}_cuts."
    )
