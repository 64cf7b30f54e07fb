"""Hydra's own launcher test suites, run against `hydra/launcher=lalm_pool`."""

import pytest
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.test_utils.launcher_common_tests import IntegrationTestSuite, LauncherTestSuite

from hydra_plugins.lalm_pool.lalm_pool_launcher import LalmPoolLauncher


def test_discovery() -> None:
    assert LalmPoolLauncher.__name__ in [p.__name__ for p in Plugins.instance().discover(Launcher)]


# the suites' tasks need no torch: no preload keeps them lean (test_pool_acceptance covers it)
@pytest.mark.parametrize("launcher_name, overrides", [("lalm_pool", ["hydra.launcher.preload=[]"])])
class TestLalmPoolLauncher(LauncherTestSuite):
    """Every job of these sweeps runs in a fresh worker process; results come back pickled."""


@pytest.mark.parametrize(
    "task_launcher_cfg, extra_flags",
    [
        (
            {
                "defaults": [
                    {"override hydra/launcher": "lalm_pool"},
                    {"override hydra/hydra_logging": "hydra_debug"},
                    {"override hydra/job_logging": "disabled"},
                ],
                "hydra": {"launcher": {"preload": []}},
            },
            ["-m"],
        )
    ],
)
class TestLalmPoolLauncherIntegration(IntegrationTestSuite):
    """Real `python task.py -m` apps using the plugin."""
