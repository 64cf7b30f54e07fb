"""`hparams_search=` presets: they select lalm_optuna and search keys the LALM config really has."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from lalm_framework.tuning.space import parse_search_space

PRESETS = sorted(
    p.stem for p in (Path(__file__).resolve().parents[2] / "lalm_framework" / "conf" / "hparams_search").glob("*.yaml")
)


def test_presets_exist():
    assert {"lalm_lr", "lalm_lora", "lalm_projector"} <= set(PRESETS)


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_searches_existing_keys(preset):
    with initialize_config_module("lalm_framework.conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"hparams_search={preset}"], return_hydra_config=True)
    assert cfg.hydra.sweeper._target_.endswith("LalmOptunaSweeper")
    space = parse_search_space(OmegaConf.to_container(cfg.hydra.sweeper.params), [])
    assert space.distributions and not space.fixed
    for key in space.distributions:
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
        assert node is not None and leaf in node, f"{preset}: the config has no key {key}"
    assert cfg.monitor and cfg.trial.pruning_monitor
