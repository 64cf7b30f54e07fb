"""The LightningModule of an audio LLM: builds the parts from config, trains, reports dev/test WER."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import pytorch_lightning as pl
import torch

from lalm_framework.compat import private_api
from lalm_framework.data.batch import LalmBatch
from lalm_framework.data.seam import HasCheckpointSettings, ModelParts
from lalm_framework.errors import UserError
from lalm_framework.models.build import build_lalm
from lalm_framework.models.schema import (
    EncoderConfig,
    GenerationConfig,
    LalmModelConfig,
    LlmConfig,
    LoraConfig,
    ProjectorConfig,
    SpecAugmentConfig,
    TokenizerConfig,
    model_config,
    to_plain,
)
from lalm_framework.models.spec_augment import spec_augment
from lalm_framework.models.tokenizer import build_tokenizer, tokenizer_from_files, tokenizer_to_files
from lalm_framework.models.weights import check_fits
from lalm_framework.trainer_addons.checkpoint_io import SOURCE_KEY
from lalm_framework.trainer_addons.wer import normalize_all
from lalm_framework.utils.ranges import AT_LEAST_0, LEARNING_RATE

log = logging.getLogger(__name__)

# checkpoint entry: the datamodule's prompt template/prompts/task/eval batch size at training
DATA_SETTINGS_KEY = "lalm_data_settings"
# hyperparameter keys of a LALM checkpoint (how `lalm-infer` tells it from other models')
HPARAM_KEYS = ("encoder", "projector", "llm", "lora", "tokenizer")


class LalmModule(pl.LightningModule):
    """Whisper-style encoder + projector + causal LM (optionally LoRA / QLoRA), trained on LalmBatch.

    Arguments are the fields of `lalm_framework.models.schema.LalmModelConfig` (dataclasses or
    mappings of any subset of their fields); an argument left None takes the schema's default,
    the only place defaults live. Exposes `tokenizer` and `feature_extractor` right after
    construction: the datamodule builds its batches with them.
    """

    def __init__(
        self,
        encoder: EncoderConfig | Mapping[str, Any] | None = None,
        projector: ProjectorConfig | Mapping[str, Any] | None = None,
        llm: LlmConfig | Mapping[str, Any] | None = None,
        lora: LoraConfig | Mapping[str, Any] | None = None,
        tokenizer: TokenizerConfig | Mapping[str, Any] | None = None,
        generation: GenerationConfig | Mapping[str, Any] | None = None,
        spec_augment: SpecAugmentConfig | Mapping[str, Any] | None = None,
        freeze: Sequence[str] | None = None,
        unfreeze: Sequence[str] | None = None,
        lr: Annotated[float, LEARNING_RATE] | None = None,
        weight_decay: Annotated[float, AT_LEAST_0] | None = None,
        warmup_steps: Annotated[int, AT_LEAST_0] | None = None,
        cosine: bool | None = None,
        min_lr_ratio: float | None = None,
        wer_every_n_val: int | None = None,
        tokenizer_files: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        given = dict(
            encoder=encoder,
            projector=projector,
            llm=llm,
            lora=lora,
            tokenizer=tokenizer,
            generation=generation,
            spec_augment=spec_augment,
            freeze=freeze,
            unfreeze=unfreeze,
            lr=lr,
            weight_decay=weight_decay,
            warmup_steps=warmup_steps,
            cosine=cosine,
            min_lr_ratio=min_lr_ratio,
            wer_every_n_val=wer_every_n_val,
        )
        values = {k: to_plain(v) if hasattr(v, "__dataclass_fields__") else v for k, v in given.items()}
        self.config: LalmModelConfig = model_config({k: v for k, v in values.items() if v is not None})
        self.save_hyperparameters(saved_hparams(self.config))

        # A trained-from-corpus tokenizer travels inside the checkpoint (see on_save_checkpoint).
        self._tokenizer_files = tokenizer_files
        if tokenizer_files:
            self.tokenizer = tokenizer_from_files(tokenizer_files)
        else:
            self.tokenizer = build_tokenizer(self.config.tokenizer, self.config.llm.path)
            if not (self.config.tokenizer.path or self.config.llm.path):
                self._tokenizer_files = tokenizer_to_files(self.tokenizer)

        self.model, self.feature_extractor = build_lalm(self.config, self.tokenizer)

        from torchmetrics.text import WordErrorRate

        self.val_wer = WordErrorRate()
        self.test_wer = WordErrorRate()
        self.data_settings: dict[str, Any] = {}
        self._val_epochs = 0
        # frozen weights of pretrained parts are not saved (they reload from their path)
        self.strict_loading = not self.model.reload_prefixes

    @property
    def generation(self) -> GenerationConfig:
        """Decoding settings of `transcribe_batch` (dev/test WER and `lalm-infer`)."""
        return self.config.generation

    @classmethod
    def validate_config(cls, node: Any) -> None:
        """Before any job starts: field types, model paths that cannot exist, contradicting options."""
        from lalm_framework.compat.legacy import to_target_form
        from lalm_framework.models.llm import check_quantization
        from lalm_framework.models.pretrained_parts import check_local_path
        from lalm_framework.models.projector import check_projector
        from lalm_framework.utils.plain_data import plain_dict

        # the arguments LalmModule gets: legacy target/params unwrapped, Hydra's own `_keys_` left out
        args = to_target_form(plain_dict(node))
        cfg = model_config({k: v for k, v in args.items() if not k.startswith("_")})
        for option, path in (("encoder", cfg.encoder.path), ("llm", cfg.llm.path), ("tokenizer", cfg.tokenizer.path)):
            check_local_path(path, f"model.{option}.path")
        check_quantization(cfg.llm)
        check_projector(cfg.projector)
        if cfg.tokenizer.corpus and not (cfg.tokenizer.path or cfg.llm.path):
            from lalm_framework.models.tokenizer import corpus_files

            corpus_files(cfg.tokenizer.corpus)  # raises when the globs match nothing

    # -- training -------------------------------------------------------------------------
    def forward(self, batch: LalmBatch) -> Any:
        return self.model(
            batch["input_features"],
            batch["feature_lengths"],
            batch["input_ids"],
            batch["attention_mask"],
            batch["labels"],
        )

    def training_loss(self, batch: LalmBatch) -> torch.Tensor:
        """The training objective of one batch (SpecAugment on the features when configured)."""
        aug = self.config.spec_augment
        if aug.freq_masks or aug.time_masks:
            masked = spec_augment(batch["input_features"], batch["feature_lengths"], aug)
            batch = {**batch, "input_features": masked}
        loss: torch.Tensor = self(batch).loss
        return loss

    def training_step(self, batch: LalmBatch, batch_idx: int) -> torch.Tensor:
        loss = self.training_loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["ids"]))
        return loss

    def validation_step(self, batch: LalmBatch, batch_idx: int) -> None:
        n = len(batch["ids"])
        self.log("val/loss", self(batch).loss, prog_bar=True, batch_size=n, sync_dist=True)
        if self._wer_this_epoch():
            self.val_wer.update(normalize_all(self.transcribe_batch(batch)), normalize_all(batch["texts"]))

    def on_validation_epoch_end(self) -> None:
        if not self._wer_this_epoch():
            self._val_epochs += not self.trainer.sanity_checking
            return
        wer = self.val_wer.compute()
        self.val_wer.reset()
        self.log("val/wer", wer, prog_bar=True, sync_dist=False)
        if not self.trainer.sanity_checking:
            self._val_epochs += 1  # the epoch's line on the console: training.reporting.EpochMetricsLog

    def test_step(self, batch: LalmBatch, batch_idx: int) -> None:
        """Test loss, and the test WER of greedy transcripts (the same decoding as `lalm-infer`)."""
        self.log("test/loss", self(batch).loss, batch_size=len(batch["ids"]), sync_dist=True)
        self.test_wer.update(normalize_all(self.transcribe_batch(batch)), normalize_all(batch["texts"]))

    def on_test_epoch_end(self) -> None:
        wer = self.test_wer.compute()
        self.test_wer.reset()
        self.log("test/wer", wer, sync_dist=False)
        self.print(f"test WER {100 * float(wer):.2f}%")

    def _wer_this_epoch(self) -> bool:
        every = self.config.wer_every_n_val
        return bool(every) and (self.trainer.sanity_checking or self._val_epochs % every == 0 or self._is_last_epoch())

    def _is_last_epoch(self) -> bool:
        max_epochs = self.trainer.max_epochs
        return max_epochs is not None and max_epochs > 0 and self.current_epoch >= max_epochs - 1

    def model_parts(self) -> ModelParts:
        """What the datamodule builds batches with (`data.seam`)."""
        return ModelParts(self.tokenizer, self.feature_extractor)

    # -- inference --------------------------------------------------------------------------
    @torch.no_grad()
    def transcribe_batch(self, batch: LalmBatch) -> list[str]:
        """The hypotheses of a batch as text (`generation` settings; greedy by default)."""
        return self.model.transcribe(batch, self.tokenizer, self.generation)

    # -- optimisation -----------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        params = [p for p in self.parameters() if p.requires_grad]
        if not params:
            raise UserError(
                "no trainable parameters: check model.encoder.freeze / model.llm.freeze / "
                "model.lora.enabled / model.freeze"
            )
        cfg = self.config
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        # unbounded runs (max_epochs=-1, no max_steps) have no end for the cosine to reach
        trainer = private_api.attached_trainer(self)
        steps = trainer.estimated_stepping_batches if trainer is not None else math.inf
        total = max(1, int(steps)) if math.isfinite(steps) else None
        warm, floor = max(0, int(cfg.warmup_steps)), float(cfg.min_lr_ratio)

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            if not cfg.cosine or total is None:
                return 1.0
            progress = min(1.0, (step - warm) / max(1, total - warm))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # -- checkpoints --------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        data = self._data_settings()
        if data:
            checkpoint[DATA_SETTINGS_KEY] = data
        if self._tokenizer_files:
            checkpoint.setdefault("hyper_parameters", {})["tokenizer_files"] = self._tokenizer_files
        keep = set(self.model.weights_to_save())
        checkpoint["state_dict"] = {
            k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("model.") or k[6:] in keep
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse, with the two shapes, a checkpoint of another model before Lightning loads it."""
        source = checkpoint.get(SOURCE_KEY, "the checkpoint")
        required = [f"model.{k}" for k in self.model.weights_to_save()]
        check_fits(self.state_dict(), checkpoint["state_dict"], f"Checkpoint {source}", required, self._fit_hint())
        self.data_settings = dict(checkpoint.get(DATA_SETTINGS_KEY) or {})

    def _fit_hint(self) -> str:
        bases = [
            f"model.{p}.path={getattr(self.config, p).path}" for p in ("encoder", "llm") if getattr(self.config, p).path
        ]
        base = f" and the same pretrained bases ({', '.join(bases)})" if bases else ""
        return (
            f"It was trained with another model configuration: use that configuration{base} "
            "(see its run's .hydra/config.yaml), or a checkpoint of this model."
        )

    def _data_settings(self) -> dict[str, Any]:
        """How the datamodule prompted and batched, so `lalm-infer` can do the same."""
        trainer = private_api.attached_trainer(self)
        dm = getattr(trainer, "datamodule", None) if trainer is not None else None
        if not isinstance(dm, HasCheckpointSettings):
            return dict(self.data_settings)
        return dm.checkpoint_settings()


def saved_hparams(cfg: LalmModelConfig) -> dict[str, Any]:
    """The hyperparameters a checkpoint keeps: plain Python values, the arguments of LalmModule.

    Not the dataset node the tokenizer learned from: the trained tokenizer itself is saved.
    """
    plain = to_plain(cfg)
    for key in ("_target_", "_recursive_"):
        plain.pop(key, None)
    plain["tokenizer"]["dataset"] = None
    return plain
