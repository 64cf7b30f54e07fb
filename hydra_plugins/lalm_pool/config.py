"""Options of `hydra/launcher=lalm_pool` (set them as `hydra.launcher.<name>=...`).

Declared once, with their checks, in `lalm_framework.launching.pool.settings`; stored here for Hydra.
"""

from hydra.core.config_store import ConfigStore

from lalm_framework.launching.pool.settings import LalmPoolLauncherConf

__all__ = ["LalmPoolLauncherConf"]

ConfigStore.instance().store(
    group="hydra/launcher", name="lalm_pool", node=LalmPoolLauncherConf, provider="lalm-framework"
)
