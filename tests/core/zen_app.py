"""A hydra-zen project on top of lalm-framework (run by tests/core/test_hydra_zen.py)."""

import json
import sys

import pytorch_lightning as pl
from hydra_zen import builds, launch, make_config, store

import lalm_framework
from lalm_framework.digits.model import DigitsClassifier

# zen dataclasses in our groups, and an experiment at the global package
store(
    builds(pl.Trainer, populate_full_signature=True, max_epochs=1, accelerator="cpu", enable_progress_bar=False),
    group="trainer",
    name="zen_cpu",
)
store(builds(DigitsClassifier, hidden=16, lr="${lr}"), group="model", name="zen_mlp")
store(
    make_config(
        hydra_defaults=["_self_", {"override /model": "zen_mlp"}, {"override /dataset": "digits"}],
        task_name="zen",
        monitor="val/acc",
        mode="max",
        lr=0.01,
    ),
    group="experiment",
    name="zen_digits",
    package="_global_",
)
store.add_to_hydra_store()

Config = make_config(hydra_defaults=["train", {"override /logger": "none"}, "_self_"])

if __name__ == "__main__":
    multirun = sys.argv[1] == "-m"
    overrides = sys.argv[2:] if multirun else sys.argv[1:]
    out = launch(Config, lalm_framework.run, overrides=overrides, multirun=multirun, version_base="1.3")
    values = [r.return_value for r in out[0]] if multirun else [out.return_value]
    print("RESULT " + json.dumps(values))
