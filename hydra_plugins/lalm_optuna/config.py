"""Config of the `lalm_optuna` sweeper and its `sampler` / `pruner` groups (no optuna import here).

`hydra/sweeper=lalm_optuna`, then e.g. `hydra/sweeper/sampler=random hydra/sweeper/pruner=hyperband`.
Each sampler / pruner option is the keyword arguments of the Optuna class it names. Declared once,
with their checks, in `lalm_framework.tuning.settings`; stored here for Hydra.
"""

from hydra.core.config_store import ConfigStore

from lalm_framework.tuning.settings import (
    PRUNERS,
    SAMPLERS,
    CmaEsSamplerConf,
    GPSamplerConf,
    GridSamplerConf,
    HyperbandPrunerConf,
    LalmOptunaSweeperConf,
    MedianPrunerConf,
    NopPrunerConf,
    NSGAIISamplerConf,
    RandomSamplerConf,
    SuccessiveHalvingPrunerConf,
    TPESamplerConf,
)

__all__ = [
    "LalmOptunaSweeperConf",
    "TPESamplerConf",
    "RandomSamplerConf",
    "CmaEsSamplerConf",
    "GPSamplerConf",
    "NSGAIISamplerConf",
    "GridSamplerConf",
    "MedianPrunerConf",
    "SuccessiveHalvingPrunerConf",
    "HyperbandPrunerConf",
    "NopPrunerConf",
]
PROVIDER = "lalm_optuna"

_cs = ConfigStore.instance()
_cs.store(group="hydra/sweeper", name="lalm_optuna", node=LalmOptunaSweeperConf, provider=PROVIDER)
for _name, _node in SAMPLERS.items():
    _cs.store(group="hydra/sweeper/sampler", name=_name, node=_node, provider=PROVIDER)
for _name, _node in PRUNERS.items():
    _cs.store(group="hydra/sweeper/pruner", name=_name, node=_node, provider=PROVIDER)
