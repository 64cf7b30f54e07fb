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


# --- one source for every default: the schema dataclasses ------------------------------------
def test_defaults_come_from_the_schema_dataclasses(monkeypatch):
    """Change a default in the dataclass: the built model follows (no copy of it in the module)."""
    import dataclasses

    from tiny_lalm import TINY_ENCODER, TINY_LLAMA

    from lalm_framework.models.lalm_module import LalmModule
    from lalm_framework.models.schema import GenerationConfig, LalmModelConfig, LoraConfig, ProjectorConfig

    def build():
        return LalmModule(encoder={"config": TINY_ENCODER}, llm={"config": TINY_LLAMA}, lora={"enabled": True}, lr=1e-3)

    before = build()
    assert before.model.projector.stack == ProjectorConfig().stack
    assert before.configure_optimizers()["optimizer"].defaults["weight_decay"] == 0.0
    # edit the schema's defaults: a nested group's, and a scalar's
    fields = {f.name: f for f in dataclasses.fields(LalmModelConfig)}
    monkeypatch.setattr(fields["lora"], "default_factory", lambda: LoraConfig(r=3))
    monkeypatch.setattr(fields["projector"], "default_factory", lambda: ProjectorConfig(stack=2))
    monkeypatch.setattr(fields["generation"], "default_factory", lambda: GenerationConfig(max_new_tokens=5))
    monkeypatch.setattr(fields["weight_decay"], "default", 0.25)
    after = build()
    assert after.model.llm.peft_config["default"].r == 3
    assert after.model.projector.stack == 2 and after.generation.max_new_tokens == 5
    assert after.configure_optimizers()["optimizer"].defaults["weight_decay"] == 0.25
    assert after.hparams["lora"]["r"] == 3  # what a checkpoint keeps follows too


def test_saved_hyperparameters_are_plain_python():
    import pickle

    from tiny_lalm import tiny_kwargs

    cfg = _compose(["model=tiny"])
    from lalm_framework.compat.instantiate import instantiate

    # built the way the runner builds it: nested nodes arrive as DictConfigs
    module = instantiate(cfg.model, encoder=tiny_kwargs()["encoder"], llm=tiny_kwargs()["llm"])
    blob = pickle.dumps(dict(module.hparams))
    assert b"omegaconf" not in blob and b"lalm_framework" not in blob
    assert module.hparams["tokenizer"]["dataset"] is None  # the dataset node is not kept
    assert module.config.tokenizer.dataset["_target_"].endswith("LalmDataModule")  # but was used


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lora": {"r": "abc"}}, r"model\.lora\.r: .*abc"),
        ({"projector": {"stak": 3}}, r"model\.projector\.stak"),
        ({"llm": {"quantization": {"load_in_4bit": True}}}, r"needs a pretrained model\.llm\.path"),
        ({"projector": {"kind": "lstm"}}, r"use 'mlp' or 'conv'"),
    ],
)
def test_python_construction_gets_the_same_checks_and_messages(kwargs, message):
    """Built from Python, the module checks what compose and prelaunch check, with the same words."""
    from tiny_lalm import tiny_kwargs

    from lalm_framework.errors import UserError
    from lalm_framework.models.lalm_module import LalmModule

    with pytest.raises(UserError, match=message):
        LalmModule(**tiny_kwargs(**kwargs))


def test_the_4bit_error_is_written_once():
    import inspect

    import lalm_framework.models.lalm_module as module_src
    import lalm_framework.models.llm as llm_src

    needle = "needs a pretrained model.llm.path"
    assert inspect.getsource(llm_src).count(needle) == 1
    assert needle not in inspect.getsource(module_src)
