"""Typed options of the user's project, registered in Hydra's ConfigStore next to ours."""

from dataclasses import dataclass

from lalm_framework import register


@dataclass
class MyDigitsConfig:
    _target_: str = "my_project.data.NoisyDigitsDataModule"
    batch_size: int = 32
    noise: float = 0.1
    seed: int = 0


register(MyDigitsConfig, group="dataset", name="my_digits")
