"""Helpers of the model tests: a very small LALM config and real speech batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TINY_ENCODER = {
    "d_model": 32,
    "encoder_layers": 1,
    "encoder_attention_heads": 2,
    "encoder_ffn_dim": 64,
    "num_mel_bins": 80,
    "max_source_positions": 200,
}
TINY_LLAMA = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "max_position_embeddings": 256,
}


def tiny_kwargs(**over: Any) -> dict[str, Any]:
    """LalmModule arguments of a seconds-to-build random-init model."""
    kw: dict[str, Any] = dict(
        encoder={"config": dict(TINY_ENCODER)},
        projector={"kind": "mlp", "stack": 4},
        llm={"config": dict(TINY_LLAMA)},
        tokenizer={"vocab_size": 200},
        generation={"max_new_tokens": 6},
        lr=3e-3,
    )
    kw.update(over)
    return kw


def sample_files(split: str = "train", n: int = 4) -> list[Path]:
    from lalm_framework.samples import SAMPLE_ROOT

    files = sorted((SAMPLE_ROOT / split).glob("*/*/*.flac"))[:n]
    assert len(files) == n, f"bundled sample set missing under {SAMPLE_ROOT / split}"
    return files


def speech_batch(module: Any, split: str = "train", n: int = 4) -> dict[str, Any]:
    """A real LalmBatch: bundled espeak FLACs + transcripts through the data layer's collator."""
    from lalm_framework.data.audio import load_audio
    from lalm_framework.data.batch import AUDIO_TOKEN
    from lalm_framework.data.collate import LalmCollator

    examples = []
    for f in sample_files(split, n):
        spk, chapter, _ = f.stem.split("-")
        trans = dict(line.split(" ", 1) for line in (f.parent / f"{spk}-{chapter}.trans.txt").read_text().splitlines())
        examples.append({"id": f.stem, "audio": load_audio(f), "text": trans[f.stem], "prompt": None, "task": None})
    collate = LalmCollator(module.tokenizer, module.feature_extractor, f"{AUDIO_TOKEN} transcribe:")
    return collate(examples)


def save_checkpoint(module: Any, path: Path, data_settings: dict[str, Any] | None = None) -> Path:
    """Save `module` as Lightning does at the end of training (what lalm-train writes)."""
    import pytorch_lightning as pl

    from lalm_framework.trainer_addons.checkpoint_io import AtomicCheckpointIO

    module.data_settings = dict(data_settings or DATA_SETTINGS)
    trainer = pl.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        max_epochs=0,
        plugins=[AtomicCheckpointIO()],
    )
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path)
    return path


# what LalmDataModule(dataset=sample) stores in a checkpoint
DATA_SETTINGS: dict[str, Any] = {
    "prompt_template": "<|audio|>{prompt}",
    "prompts": {"transcribe": "Transcribe:"},
    "task": "transcribe",
    "eval_batch_size": 4,
}


def randomize_lora(module: Any, seed: int = 3) -> None:
    """Give the LoRA matrices random values (lora_B starts at zero: a fresh adapter changes nothing)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in module.named_parameters():
            if "lora_" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
