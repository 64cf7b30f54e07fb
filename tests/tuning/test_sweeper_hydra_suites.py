"""Hydra's own sweeper/launcher test suites, run with `hydra/sweeper=lalm_optuna`."""

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.test_utils.launcher_common_tests import BatchedSweeperTestSuite, LauncherTestSuite
from pytest import fixture, mark

from hydra_plugins.lalm_optuna.lalm_optuna_sweeper import LalmOptunaSweeper

# the suites' task functions return None (not an objective): those trials FAIL, the sweep goes on
_SWEEPER = ["hydra/sweeper=lalm_optuna", "hydra.sweeper.max_failure_rate=1.0", "hydra.sweeper.plots=false"]


@fixture(autouse=True)
def _suite_defaults():
    """The suites assume Hydra's pre-1.2 defaults (jobs chdir into their dirs); an app run earlier in
    this process may have set version_base=1.3 (the tuning conftest restores it afterwards)."""
    from hydra.version import VersionBase, _get_version

    VersionBase.instance().setbase(_get_version("1.1"))


def test_discovery() -> None:
    assert LalmOptunaSweeper.__name__ in [x.__name__ for x in Plugins.instance().discover(Sweeper)]


@mark.parametrize("launcher_name, overrides", [("basic", _SWEEPER + ["hydra/sweeper/sampler=grid"])])
class TestLalmOptunaLauncherSuite(LauncherTestSuite):
    pass


# grid sampler + batches of 2: the 6 jobs of `group1=file1,file2 bar=100,200,300` in Hydra's order
@mark.parametrize(
    "launcher_name, overrides", [("basic", _SWEEPER + ["hydra/sweeper/sampler=grid", "hydra.sweeper.n_jobs=2"])]
)
class TestLalmOptunaBatchedSuite(BatchedSweeperTestSuite):
    pass
