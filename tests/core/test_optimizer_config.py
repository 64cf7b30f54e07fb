"""Optimizers and schedulers inside a component's config: unbuilt config, or a partial on request."""

from __future__ import annotations

import functools

import torch
from omegaconf import DictConfig, OmegaConf

from lalm_framework import instantiate
from tests.core.legacy_models import Holder

MODEL = "lalm_framework.digits.model.DigitsClassifier"


def test_optimizer_node_reaches_the_module_as_a_config():
    cfg = OmegaConf.create({"_target_": MODEL, "hidden": 8, "optimizer": {"_target_": "torch.optim.Adam", "lr": 1e-3}})
    module = instantiate(cfg)  # before: "Adam.__init__() missing ... 'params'"
    assert isinstance(module.hparams.optimizer, DictConfig)
    optimizer = module.configure_optimizers()  # instantiate(self.hparams.optimizer, params=self.parameters())
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.param_groups[0]["lr"] == 1e-3


def test_partial_optimizer_arrives_as_a_partial():
    node = {"_target_": "torch.optim.SGD", "lr": 0.1, "_partial_": True}
    module = instantiate({"_target_": MODEL, "optimizer": node})
    assert isinstance(module.hparams.optimizer, functools.partial)
    assert isinstance(module.configure_optimizers(), torch.optim.SGD)


def test_schedulers_at_any_depth_stay_configs_and_other_nodes_are_built():
    held = instantiate(
        {
            "_target_": "tests.core.legacy_models.Holder",
            "value": {"_target_": "tests.core.legacy_models.Encoder", "dim": 4},
            "items": {"sched": [{"_target_": "torch.optim.lr_scheduler.StepLR", "step_size": 2}]},
        }
    )
    assert held.value.dim == 4  # an ordinary nested node is built as before
    (sched,) = held.items["sched"]
    assert isinstance(sched, DictConfig) and sched.step_size == 2


def test_the_node_being_built_is_built():
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(instantiate({"_target_": "torch.optim.SGD", "lr": 0.1}, params=params), torch.optim.SGD)
    assert isinstance(instantiate(OmegaConf.create({"_target_": "tests.core.legacy_models.Holder"})), Holder)
