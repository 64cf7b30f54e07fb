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


def test_recursive_false_hands_the_optimizer_node_over_as_the_user_wrote_it():
    # the Lightning + Hydra blog: `+model._recursive_=false`; before: the held-optimizer wrapper
    # reached the module and `instantiate(self.hparams.optimizer, params=...)` raised
    # TypeError("as_config() got multiple values for argument 'node'")
    node = {"_target_": "torch.optim.Adam", "lr": 1e-3}
    for top in ({"_target_": MODEL, "_recursive_": False, "optimizer": node}, {"_target_": MODEL, "optimizer": node}):
        module = instantiate(OmegaConf.create(top))
        assert OmegaConf.to_container(module.hparams.optimizer) == node
        assert isinstance(module.configure_optimizers(), torch.optim.Adam)
    nested = instantiate(
        {
            "_target_": "tests.core.legacy_models.Holder",
            "value": {"_target_": "tests.core.legacy_models.Holder", "_recursive_": False, "value": node},
        }
    )
    assert OmegaConf.to_container(nested.value.value) == node  # a nested non-recursive node too


def test_lalm_train_with_recursive_false_on_a_model_with_an_optimizer(tmp_path):
    from tests.helpers import run_cli

    args = ["experiment=digits", "logger=none", "trainer.max_epochs=1", "trainer.limit_train_batches=2"]
    args += ["+model._recursive_=false", "+model.optimizer={_target_: torch.optim.SGD, lr: 0.05}", "hydra.run.dir=r"]
    proc = run_cli("lalm-train", args, tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = torch.load(tmp_path / "r" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["optimizer_states"][0]["param_groups"][0]["lr"] == 0.05
