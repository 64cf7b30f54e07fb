"""Makes lalm-framework's configs and schemas visible to every Hydra app in this environment."""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

from lalm_framework.config.store import register_configs

# Hydra imports every plugin module before composing: the schemas are in ConfigStore by then.
register_configs()


class LalmSearchPathPlugin(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        # the app's own ConfigStore entries are in by now (hydra-zen stores before it composes)
        register_configs()
        search_path.append(provider="lalm-framework", path="pkg://lalm_framework.conf")
