"""Load a trained LALM: a training checkpoint (read safely) or an export folder; LoRA adapters."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lalm_framework.errors import UserError


def load_model(source: str | Path, adapter: str | Path | None = None, device: str = "cpu") -> Any:
    """The model of a training checkpoint (a LalmModule) or of an export folder (a PretrainedLalm),
    in eval mode on `device`; `adapter`: a peft LoRA adapter folder loaded over its LoRA weights."""
    source = Path(source)
    if source.is_dir():
        from lalm_framework.inference.pretrained import load_pretrained

        model: Any = load_pretrained(source, device="cpu")
    else:
        model = load_checkpoint_model(source)
    if adapter is not None:
        load_adapter(model, adapter)
    return model.eval().to(device)


def load_checkpoint_model(checkpoint: str | Path) -> Any:
    """The LalmModule a lalm-train checkpoint holds, read safely (weights only), on the CPU.

    The checkpoint's kind is checked before any model is built: a checkpoint of another model
    (e.g. the digits example) is refused with a message, not turned into a default-size LLM.
    """
    from lalm_framework.trainer_addons.checkpoint_io import read_checkpoint

    ckpt = read_checkpoint(checkpoint, map_location="cpu")
    hparams = ckpt.get("hyper_parameters")
    from lalm_framework.models.lalm_module import HPARAM_KEYS, LalmModule

    if not isinstance(hparams, Mapping) or not all(k in hparams for k in HPARAM_KEYS):
        raise UserError(_not_an_lalm(Path(checkpoint), hparams, ckpt["state_dict"]))
    module = LalmModule(**hparams)
    module.on_load_checkpoint(ckpt)  # refuses weights that do not fit, naming both shapes
    module.load_state_dict(ckpt["state_dict"], strict=module.strict_loading)
    return module


def _not_an_lalm(path: Path, hparams: Any, state: Mapping[str, Any]) -> str:
    names = ", ".join(list(hparams)[:6]) if isinstance(hparams, Mapping) and hparams else "none"
    weights = ", ".join(list(state)[:3]) or "none"
    return (
        f"{path} is not a checkpoint of an audio LLM (lalm-train's LalmModule): its hyperparameters "
        f"are {names}; its weights {weights}. lalm-infer and lalm-export need a checkpoint of a LALM "
        "(model=tiny, whisper_llama_lora, ...); evaluate other models with "
        "`lalm-train train=false test=true trainer.ckpt_path=...`."
    )


def load_adapter(module: Any, adapter: str | Path) -> None:
    """Load a peft LoRA adapter folder (`--adapter`) into the LoRA layers of `module`'s LLM."""
    from lalm_framework.models.llm import load_adapter as load_into

    load_into(module.model.llm, Path(adapter), f"--adapter {adapter}")


def save_adapter(module: Any, out_dir: str | Path) -> None:
    """Save the LoRA adapter of `module` with peft's `save_pretrained` (for `--adapter`)."""
    module.model.llm.save_pretrained(str(out_dir), save_embedding_layers=False)
