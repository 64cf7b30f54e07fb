"""The LightningModule of an audio LLM: builds the parts from config, trains, scores each dev/test set.

Each evaluation set (the datamodule's `val_set_names` / `test_set_names`, one loader each) is
scored with its task's metric (`lalm_framework.scoring`, the datamodule's `normalizer` and
`metrics`): `val/<name>/wer`, `val/<name>/loss`, ... (the one unnamed set: `val/wer`, `val/loss`).
Every checkpoint keeps the metrics of the validation before it (`CHECKPOINT_METRICS_KEY`), so an
export of a non-last checkpoint can show that checkpoint's own numbers.
"""

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
from lalm_framework.data.steps import stepping_batches
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
from lalm_framework.trainer_addons.eval_sets import SetOutputs, batch_tasks, metric_key, set_names
from lalm_framework.utils.ranges import AT_LEAST_0, LEARNING_RATE

log = logging.getLogger(__name__)

# checkpoint entry: the datamodule's prompt template/prompts/task/eval batch size at training
DATA_SETTINGS_KEY = "lalm_data_settings"
# hyperparameter keys of a LALM checkpoint (how `lalm-infer` tells it from other models')
HPARAM_KEYS = ("encoder", "projector", "llm", "lora", "tokenizer")
# checkpoint entry: the metrics of the last validation before the save ({"epoch", "global_step", "metrics"})
CHECKPOINT_METRICS_KEY = "lalm_eval_metrics"


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

        self.data_settings: dict[str, Any] = {}
        # per split, per loader: what the sets produced this epoch (scored at the epoch's end)
        self._outputs: dict[str, dict[int, SetOutputs]] = {"val": {}, "test": {}}
        self._last_validation: dict[str, Any] | None = None  # saved with each checkpoint
        self.checkpoint_record: dict[str, Any] = {}  # set when a checkpoint is loaded
        self._val_epochs = 0
        # frozen weights of pretrained parts are not saved (they reload from their path)
        self.strict_loading = not self.model.reload_prefixes
        # the weights a checkpoint must fit, as shapes: a sharded (FSDP) model's own state dict is
        # a collective, and its parameter names carry the wrappers' prefixes
        self._weight_shapes = {
            k: torch.empty(v.shape, dtype=v.dtype, device="meta") for k, v in self.state_dict().items()
        }

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

    def validation_step(self, batch: LalmBatch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluation_step("val", batch, dataloader_idx, decode=self._wer_this_epoch())

    def on_validation_epoch_end(self) -> None:
        metrics = self._evaluation_epoch_end("val")
        if not self.trainer.sanity_checking:
            # the epoch's line on the console: trainer_addons.reporting.EpochMetricsLog
            self._val_epochs += 1
            self._last_validation = {
                "epoch": int(self.current_epoch),
                "global_step": int(self.global_step),
                "metrics": metrics,
            }

    def test_step(self, batch: LalmBatch, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Test loss, and the set's metrics on generated text (the same decoding as `lalm-infer`)."""
        self._evaluation_step("test", batch, dataloader_idx, decode=True)

    def on_test_epoch_end(self) -> None:
        metrics = self._evaluation_epoch_end("test")
        from lalm_framework.scoring import format_metric

        for key, value in metrics.items():
            if not key.endswith("/loss"):
                self.print(format_metric(key, value))

    def _evaluation_step(self, split: str, batch: LalmBatch, dataloader_idx: int, decode: bool) -> None:
        n = len(batch["ids"])
        outputs = self._outputs[split].setdefault(dataloader_idx, SetOutputs())
        if not any(batch.get("counted") or [True]):
            # Lhotse's copies that give every DDP rank a batch at the end of a set (each rank then
            # holds one example): the original is scored on its own rank
            return
        outputs.add_loss(self(batch).loss, n)
        if decode:
            outputs.add_texts(self.transcribe_batch(batch), batch["texts"], batch_tasks(batch))

    def _evaluation_epoch_end(self, split: str) -> dict[str, float]:
        """Score each set of `split` (all ranks together), log its metrics, return them."""
        from lalm_framework.scoring import DEFAULT_NORMALIZER, score

        settings = self._data_settings()
        normalizer = str(settings.get("normalizer") or DEFAULT_NORMALIZER)
        produced, self._outputs[split] = self._outputs[split], {}
        names = set_names(self.trainer, split)
        metrics: dict[str, float] = {}
        examples, loss_sum = 0, 0.0
        for i, name in enumerate(names):
            out = produced.get(i, SetOutputs()).gathered()  # every rank, each set in order
            if out.loss is not None:
                metrics[metric_key(split, name, "loss")] = out.loss
                examples, loss_sum = examples + out.examples, loss_sum + out.loss * out.examples
            if out.hypotheses:
                scores = score(out.hypotheses, out.references, out.tasks, normalizer, settings.get("metrics"))
                metrics.update({metric_key(split, name, m): v for m, v in scores.items()})
        if len(names) > 1 and examples:
            metrics[f"{split}/loss"] = loss_sum / examples  # all sets together (a monitor for `val/loss`)
        first_wer = metric_key(split, names[0], "wer") if names else None
        for key, value in metrics.items():
            shown = key in (f"{split}/loss", first_wer) and split == "val"
            self.log(key, value, prog_bar=shown, sync_dist=False)  # the same value on every rank
        return metrics

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
        steps = stepping_batches(trainer) if trainer is not None else math.inf
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
        if self._last_validation is not None:
            checkpoint[CHECKPOINT_METRICS_KEY] = self._last_validation
        if self._tokenizer_files:
            checkpoint.setdefault("hyper_parameters", {})["tokenizer_files"] = self._tokenizer_files
        state = checkpoint["state_dict"]  # empty on ranks > 0 of FSDP (gathered on rank 0)
        keep = set(self.model.weights_to_save(k[6:] for k in state if k.startswith("model.")))
        checkpoint["state_dict"] = {k: v for k, v in state.items() if not k.startswith("model.") or k[6:] in keep}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse, with the two shapes, a checkpoint of another model before Lightning loads it."""
        self.check_checkpoint(checkpoint)
        self.data_settings = dict(checkpoint.get(DATA_SETTINGS_KEY) or {})
        self._last_validation = checkpoint.get(CHECKPOINT_METRICS_KEY)  # a resumed run's, until it validates
        # where the loaded weights stand, and what they measured (lalm-export's model card)
        self.checkpoint_record = {
            "epoch": checkpoint.get("epoch"),
            "global_step": checkpoint.get("global_step"),
            "validation": self._last_validation,
        }

    def check_checkpoint(self, checkpoint: Mapping[str, Any]) -> None:
        """UserError unless `checkpoint` holds this model's weights (the FSDP strategy asks first)."""
        source = checkpoint.get(SOURCE_KEY, "the checkpoint")
        own = [k[6:] for k in self._weight_shapes if k.startswith("model.")]
        required = [f"model.{k}" for k in self.model.weights_to_save(own)]
        check_fits(self._weight_shapes, checkpoint["state_dict"], f"Checkpoint {source}", required, self._fit_hint())

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
