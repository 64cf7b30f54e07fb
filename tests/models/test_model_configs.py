"""The `model` group: typed schema checks at compose time, presets with overridable paths."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException


def _compose(overrides):
    with initialize_config_module("lalm_framework.conf", version_base="1.3"):
        return compose("train", overrides=overrides)


def test_bad_lora_rank_fails_at_compose_time():
    with pytest.raises(ConfigCompositionException) as e:
        _compose(["model=whisper_llama_lora", "model.lora.r=abc"])
    assert "r" in str(e.value.__cause__ or e.value) and "abc" in str(e.value.__cause__ or e.value)


def test_unknown_model_field_fails_at_compose_time():
    with pytest.raises(ConfigCompositionException):
        _compose(["model=tiny", "model.projector.stak=3"])


def test_presets_take_model_paths_from_the_environment(monkeypatch):
    monkeypatch.setenv("LALM_LLM_PATH", "/models/my-llama")
    monkeypatch.delenv("LALM_ENCODER_PATH", raising=False)
    cfg = _compose(["experiment=whisper_llama_qlora"])
    assert cfg.model.llm.path == "/models/my-llama"
    assert cfg.model.encoder.path == "openai/whisper-small"
    assert cfg.model.llm.quantization.load_in_4bit is True
    assert cfg.model.lora.enabled is True and cfg.model.lora.target_modules == "all-linear"
    assert cfg.model.lr == cfg.lr


def test_tiny_is_a_random_init_model_with_all_parts_training():
    cfg = _compose(["model=tiny"])
    assert cfg.model._target_ == "lalm_framework.models.lalm_module.LalmModule"
    assert cfg.model.encoder.path is None and cfg.model.llm.path is None
    assert not cfg.model.encoder.freeze and not cfg.model.lora.enabled


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model=whisper_llama_lora", "model.llm.path=/no/such/llama"], r"model\.llm\.path=.*no such directory"),
        (["model=whisper_llama_lora", "model.encoder.path=./nowhere/whisper"], r"model\.encoder\.path=.*no such"),
        (["model=tiny", "model.llm.quantization.load_in_4bit=true"], r"needs a pretrained model\.llm\.path"),
        (["model=tiny", "model.projector.kind=lstm"], r"use 'mlp' or 'conv'"),
        (["model=tiny", "model.tokenizer.corpus=[/no/such/*.txt]"], r"tokenizer\.corpus=.*matches no file"),
    ],
)
def test_model_config_mistakes_fail_before_building(overrides, message):
    from lalm_framework.errors import UserError
    from lalm_framework.models.lalm_module import LalmModule

    cfg = _compose(overrides)
    with pytest.raises(UserError, match=message):
        LalmModule.validate_config(cfg.model)


def test_hub_ids_are_left_to_load_time():
    from lalm_framework.models.lalm_module import LalmModule

    LalmModule.validate_config(_compose(["model=whisper_llama_qlora"]).model)  # no network needed
