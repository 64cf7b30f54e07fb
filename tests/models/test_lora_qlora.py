"""LoRA and QLoRA (4-bit NF4 via bitsandbytes) on a locally saved tiny Llama: load, train a step."""

from __future__ import annotations

import pytest
import torch
from tiny_lalm import speech_batch, tiny_kwargs


def _one_step(module):
    opt = module.configure_optimizers()["optimizer"]
    batch = speech_batch(module, n=2)
    loss = module(batch).loss
    loss.backward()
    opt.step()
    opt.zero_grad()
    return loss


def test_qlora_loads_a_local_llama_in_4bit_with_lora_and_trains_a_step(saved_tiny_llama, tmp_path):
    # a plain import: bitsandbytes is a [dev] requirement, so a broken install must fail, not skip
    import bitsandbytes as bnb
    import pytorch_lightning as pl

    from lalm_framework.models.lalm_module import LalmModule

    module = LalmModule(
        **tiny_kwargs(
            llm={
                "path": str(saved_tiny_llama),
                "dtype": "float32",
                "quantization": {"load_in_4bit": True, "quant_type": "nf4", "compute_dtype": "float32"},
            },
            lora={"enabled": True, "r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"},
            tokenizer={},
        )
    )
    llm = module.model.llm
    four_bit = [n for n, m in llm.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert any("q_proj" in n for n in four_bit) and any("down_proj" in n for n in four_bit)
    q = next(m for n, m in llm.named_modules() if isinstance(m, bnb.nn.Linear4bit))
    assert q.weight.quant_state.quant_type == "nf4"
    trainable = {n for n, p in module.named_parameters() if p.requires_grad}
    llm_trainable = {n for n in trainable if n.startswith("model.llm.")}
    assert llm_trainable and all("lora_" in n for n in llm_trainable)
    assert any(n.startswith("model.encoder.") for n in trainable)  # the random-init encoder trains

    lora_b = {n: p.detach().clone() for n, p in module.named_parameters() if "lora_B" in n}
    loss = _one_step(module)
    assert torch.isfinite(loss)
    changed = [n for n, p in module.named_parameters() if n in lora_b and not torch.equal(p, lora_b[n])]
    assert changed, "no LoRA weight moved after one optimizer step"

    # The checkpoint keeps the adapters but not the frozen 4-bit base (it reloads from llm.path).
    trainer = pl.Trainer(
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, max_epochs=0
    )
    trainer.strategy.connect(module)
    trainer.save_checkpoint(tmp_path / "q.ckpt")
    saved = torch.load(tmp_path / "q.ckpt", weights_only=True)["state_dict"]
    assert any("lora_A" in k for k in saved)
    assert not any(k.startswith("model.llm.") and "lora_" not in k for k in saved)


def test_lora_on_a_random_init_llama_trains_adapters_and_saved_modules():
    from lalm_framework.models.lalm_module import LalmModule

    module = LalmModule(
        **tiny_kwargs(
            lora={
                "enabled": True,
                "r": 4,
                "alpha": 8,
                "target_modules": "all-linear",
                "modules_to_save": ["lm_head", "embed_tokens"],
            }
        )
    )
    trainable = [n for n, p in module.named_parameters() if p.requires_grad and n.startswith("model.llm.")]
    assert any("lora_A" in n and "q_proj" in n for n in trainable)
    assert any("lora_A" in n and "down_proj" in n for n in trainable)
    assert any("modules_to_save" in n and "lm_head" in n for n in trainable)
    assert not any("base_layer" in n for n in trainable)
    assert torch.isfinite(_one_step(module))


def test_adapter_saved_with_peft_loads_into_a_fresh_model(tmp_path):
    from lalm_framework.errors import UserError
    from lalm_framework.inference.trained_model import load_adapter, save_adapter
    from lalm_framework.models.lalm_module import LalmModule

    lora = {"enabled": True, "r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}
    torch.manual_seed(1)
    trained = LalmModule(**tiny_kwargs(lora=lora))
    with torch.no_grad():
        for n, p in trained.named_parameters():
            if "lora_" in n:
                p.normal_()
    save_adapter(trained, tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()

    torch.manual_seed(2)
    fresh = LalmModule(**tiny_kwargs(lora=lora))
    load_adapter(fresh, tmp_path / "adapter")
    lora_a = {n: p for n, p in trained.named_parameters() if "lora_" in n}
    lora_b = {n: p for n, p in fresh.named_parameters() if "lora_" in n}
    assert lora_a.keys() == lora_b.keys()
    for n in lora_a:
        torch.testing.assert_close(lora_a[n], lora_b[n], msg=n)

    with pytest.raises(UserError, match="no LoRA layers"):
        load_adapter(LalmModule(**tiny_kwargs()), tmp_path / "adapter")
