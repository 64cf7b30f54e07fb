"""The LightningModule of an audio LLM: builds the parts from config, trains, reports dev WER."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch

from lalm_framework.data.batch import AUDIO_TOKEN, LalmBatch
from lalm_framework.models.audio_encoder import build_audio_encoder, feature_extractor_for
from lalm_framework.models.lalm import LALM, set_trainable_by_regex
from lalm_framework.models.llm import add_lora, build_llm, torch_dtype
from lalm_framework.models.projector import Projector
from lalm_framework.models.spec_augment import spec_augment
from lalm_framework.models.tokenizer import build_tokenizer, tokenizer_from_files, tokenizer_to_files
from lalm_framework.training.wer import normalize_all
from lalm_framework.utils.config import plain_dict

log = logging.getLogger(__name__)

# checkpoint entry: the datamodule's prompt template/prompts/task/eval batch size at training
DATA_SETTINGS_KEY = "lalm_data_settings"


def _select(node: Any, key: str) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.select(node, key, default=None)


class LalmModule(pl.LightningModule):
    """Whisper-style encoder + projector + causal LM (optionally LoRA / QLoRA), trained on LalmBatch.

    Exposes `tokenizer` and `feature_extractor` right after construction: the datamodule
    builds its batches with them. The arguments mirror `lalm_framework.models.schema`.
    """

    def __init__(
        self,
        encoder: Mapping[str, Any] | None = None,
        projector: Mapping[str, Any] | None = None,
        llm: Mapping[str, Any] | None = None,
        lora: Mapping[str, Any] | None = None,
        tokenizer: Mapping[str, Any] | None = None,
        generation: Mapping[str, Any] | None = None,
        spec_augment: Mapping[str, Any] | None = None,
        freeze: list[str] | None = None,
        unfreeze: list[str] | None = None,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        cosine: bool = True,
        min_lr_ratio: float = 0.1,
        wer_every_n_val: int = 1,
        tokenizer_files: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        enc_cfg, proj_cfg, llm_cfg = plain_dict(encoder), plain_dict(projector), plain_dict(llm)
        lora_cfg, tok_cfg = plain_dict(lora), plain_dict(tokenizer)
        self.save_hyperparameters(
            {
                "encoder": enc_cfg,
                "projector": proj_cfg,
                "llm": llm_cfg,
                "lora": lora_cfg,
                "tokenizer": tok_cfg,
                "generation": plain_dict(generation),
                "spec_augment": plain_dict(spec_augment),
                "freeze": list(freeze or []),
                "unfreeze": list(unfreeze or []),
                "lr": float(lr),
                "weight_decay": weight_decay,
                "warmup_steps": warmup_steps,
                "cosine": cosine,
                "min_lr_ratio": min_lr_ratio,
                "wer_every_n_val": wer_every_n_val,
            }
        )

        # A trained-from-corpus tokenizer travels inside the checkpoint (see on_save_checkpoint).
        self._tokenizer_files = tokenizer_files
        if tokenizer_files:
            self.tokenizer = tokenizer_from_files(tokenizer_files)
        else:
            tok_path = tok_cfg.get("path") or llm_cfg.get("path")
            self.tokenizer = build_tokenizer(
                tok_path,
                tok_cfg.get("corpus") or (),
                tok_cfg.get("vocab_size", 256),
                tok_cfg.get("lowercase", True),
                option="model.tokenizer.path" if tok_cfg.get("path") else "model.llm.path",
            )
            if not tok_path:
                self._tokenizer_files = tokenizer_to_files(self.tokenizer)

        enc = build_audio_encoder(
            enc_cfg.get("path"),
            enc_cfg.get("config"),
            enc_cfg.get("freeze", False),
            torch_dtype(enc_cfg.get("dtype", "float32")),
        )
        self.feature_extractor = feature_extractor_for(enc, enc_cfg.get("path"))
        decoder = build_llm(
            self.tokenizer,
            llm_cfg.get("path"),
            llm_cfg.get("config"),
            llm_cfg.get("dtype", "float32"),
            llm_cfg.get("quantization"),
            llm_cfg.get("gradient_checkpointing", False),
        )
        if llm_cfg.get("freeze"):
            for p in decoder.parameters():
                p.requires_grad_(False)
        if lora_cfg.get("enabled"):
            decoder = add_lora(
                decoder,
                lora_cfg.get("r", 8),
                lora_cfg.get("alpha", 16),
                lora_cfg.get("dropout", 0.05),
                lora_cfg.get("target_modules", "all-linear"),
                lora_cfg.get("modules_to_save"),
            )
        proj = Projector(
            enc.config.d_model,
            decoder.get_input_embeddings().embedding_dim,
            stack=proj_cfg.get("stack", 4),
            kind=proj_cfg.get("kind", "mlp"),
            hidden_size=proj_cfg.get("hidden_size"),
            dropout=proj_cfg.get("dropout", 0.0),
        )
        self.model = LALM(enc, proj, decoder, self.tokenizer.convert_tokens_to_ids(AUDIO_TOKEN))
        set_trainable_by_regex(self.model, self.hparams.freeze, self.hparams.unfreeze)

        from torchmetrics.text import WordErrorRate

        self.val_wer = WordErrorRate()
        self.data_settings: dict[str, Any] = {}
        self._val_epochs = 0
        # frozen weights of pretrained parts are not saved (they reload from their path)
        self.strict_loading = not self._reloadable_prefixes()

    @classmethod
    def validate_config(cls, node: Any) -> None:
        """Before any job starts: model paths that cannot exist, contradicting options."""
        from lalm_framework.errors import UserError
        from lalm_framework.models.loading import check_local_path

        for option in ("encoder", "llm", "tokenizer"):
            check_local_path(_select(node, f"{option}.path"), f"model.{option}.path")
        if _select(node, "llm.quantization.load_in_4bit") and not _select(node, "llm.path"):
            raise UserError(
                "model.llm.quantization.load_in_4bit=true needs a pretrained model.llm.path "
                "(bitsandbytes quantizes weights while loading them)."
            )
        corpus = _select(node, "tokenizer.corpus")
        if corpus and not (_select(node, "tokenizer.path") or _select(node, "llm.path")):
            from lalm_framework.models.tokenizer import corpus_files

            corpus_files(list(corpus))  # raises when the globs match nothing
        if _select(node, "projector.kind") not in (None, "mlp", "conv"):
            raise UserError(f"model.projector.kind={_select(node, 'projector.kind')!r}: use 'mlp' or 'conv'.")

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
        aug = self.hparams.spec_augment
        if aug and (aug.get("freq_masks") or aug.get("time_masks")):
            batch = {**batch, "input_features": spec_augment(batch["input_features"], batch["feature_lengths"], **aug)}
        return self(batch).loss

    def training_step(self, batch: LalmBatch, batch_idx: int) -> torch.Tensor:
        loss = self.training_loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["ids"]))
        return loss

    def validation_step(self, batch: LalmBatch, batch_idx: int) -> None:
        n = len(batch["ids"])
        self.log("val/loss", self(batch).loss, prog_bar=True, batch_size=n, sync_dist=True)
        if self._wer_this_epoch():
            self.val_wer.update(normalize_all(self.transcribe(batch)), normalize_all(batch["texts"]))

    def on_validation_epoch_end(self) -> None:
        if not self._wer_this_epoch():
            self._val_epochs += not self.trainer.sanity_checking
            return
        wer = self.val_wer.compute()
        self.val_wer.reset()
        self.log("val/wer", wer, prog_bar=True, sync_dist=False)
        if not self.trainer.sanity_checking:
            self._val_epochs += 1
            self.print(
                f"epoch {self.current_epoch}: dev WER {100 * float(wer):.1f}% "
                f"(val/loss {float(self.trainer.callback_metrics.get('val/loss', float('nan'))):.3f})"
            )

    def _wer_this_epoch(self) -> bool:
        every = self.hparams.wer_every_n_val
        return bool(every) and (self.trainer.sanity_checking or self._val_epochs % every == 0 or self._is_last_epoch())

    def _is_last_epoch(self) -> bool:
        max_epochs = self.trainer.max_epochs
        return max_epochs is not None and max_epochs > 0 and self.current_epoch >= max_epochs - 1

    # -- inference --------------------------------------------------------------------------
    @torch.no_grad()
    def transcribe(self, batch: LalmBatch) -> list[str]:
        """Greedy generation for a batch: the hypotheses as text."""
        gen = dict(self.hparams.generation or {})
        out = self.model.generate(
            batch["input_features"],
            batch["feature_lengths"],
            batch["prompt_input_ids"],
            batch["prompt_attention_mask"],
            max_new_tokens=gen.get("max_new_tokens", 32),
            num_beams=gen.get("num_beams", 1),
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        return [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]

    # -- optimisation -----------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        params = [p for p in self.parameters() if p.requires_grad]
        if not params:
            from lalm_framework.errors import UserError

            raise UserError(
                "no trainable parameters: check model.encoder.freeze / model.llm.freeze / "
                "model.lora.enabled / model.freeze"
            )
        hp = self.hparams
        opt = torch.optim.AdamW(params, lr=hp.lr, weight_decay=hp.weight_decay)
        # unbounded runs (max_epochs=-1, no max_steps) have no end for the cosine to reach
        steps = self._trainer.estimated_stepping_batches if self._trainer is not None else math.inf
        total = max(1, int(steps)) if math.isfinite(steps) else None
        warm, floor = max(0, int(hp.warmup_steps)), float(hp.min_lr_ratio)

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            if not hp.cosine or total is None:
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
        skip = self._reloadable_prefixes()
        if skip:
            trainable = {n for n, p in self.named_parameters() if p.requires_grad}
            checkpoint["state_dict"] = {
                k: v for k, v in checkpoint["state_dict"].items() if k in trainable or not k.startswith(skip)
            }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.data_settings = dict(checkpoint.get(DATA_SETTINGS_KEY) or {})

    def _data_settings(self) -> dict[str, Any]:
        """How the datamodule prompted and batched, so `lalm-infer` can do the same."""
        dm = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        if dm is None:
            return dict(self.data_settings)
        keys = ("prompt_template", "prompts", "task", "eval_batch_size")
        return {k: getattr(dm, k) for k in keys if hasattr(dm, k)}

    def _reloadable_prefixes(self) -> tuple:
        """Module prefixes whose frozen weights come from a pretrained path (not saved)."""
        out = []
        if self.hparams.encoder.get("path"):
            out.append("model.encoder.")
        if self.hparams.llm.get("path"):
            out.append("model.llm.")
        return tuple(out)
