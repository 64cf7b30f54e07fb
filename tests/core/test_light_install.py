"""lalm-framework-core (packaging/core): the torch-free surfaces, on every Python we claim.

CI runs `pytest -m "torchfree and not slow"` in a lalm-framework-core venv on 3.10, 3.12 and 3.13,
where torch is not installed; on 3.11 these run in the full install with the rest of the suite.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.helpers import REPO, cli_env, run_cli
from tests.tuning.toy_study import load_study, run_toy

pytestmark = pytest.mark.torchfree

# what the full install adds to lalm-framework-core's dependencies
ML_STACK = {
    "torch",
    "pytorch-lightning",
    "torchmetrics",
    "transformers",
    "peft",
    "safetensors",
    "tokenizers",
    "tensorboard",
    "lhotse",
}


def _names(specs: list[str]) -> dict[str, str]:
    import re

    return {re.split(r"[<>=!~ ;\[]", s, maxsplit=1)[0]: s for s in specs}


def test_core_dependencies_are_the_full_ones_minus_the_ml_stack() -> None:
    tomllib = pytest.importorskip("tomllib")  # 3.11+
    full = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = tomllib.loads((REPO / "packaging" / "core" / "pyproject.toml").read_text())["project"]
    want = {n: s for n, s in _names(full["dependencies"]).items() if n not in ML_STACK}
    assert _names(core["dependencies"]) == want
    assert set(_names(full["dependencies"])) - set(want) == ML_STACK  # every name listed is a real dependency
    for extra in ("tuning", "postgres"):
        assert core["optional-dependencies"][extra] == full["optional-dependencies"][extra]
    assert core["scripts"] == full["scripts"] and core["version"] == full["version"]
    assert core["requires-python"] == full["requires-python"]


def test_our_plugins_are_discovered() -> None:
    probe = textwrap.dedent("""
        from hydra.core.plugins import Plugins
        from hydra.plugins.launcher import Launcher
        from hydra.plugins.search_path_plugin import SearchPathPlugin
        from hydra.plugins.sweeper import Sweeper
        kinds = (SearchPathPlugin, Launcher, Sweeper)
        print(sorted(p.__name__ for kind in kinds for p in Plugins.instance().discover(kind)))
    """)
    out = subprocess.run([sys.executable, "-c", probe], env=cli_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    for name in ("LalmSearchPathPlugin", "LalmPoolLauncher", "LalmOptunaSweeper", "JoblibLauncher"):
        assert name in out.stdout, out.stdout


def test_composition_and_a_bad_override_gives_one_short_error(tmp_path: Path) -> None:
    job = run_cli("lalm-train", ["--cfg", "job", "experiment=digits", "trainer.max_epochs=3"], tmp_path, check=True)
    assert OmegaConf.create(job.stdout).trainer.max_epochs == 3
    bad = run_cli("lalm-train", ["experiment=digits", "trainer.max_epoch=3"], tmp_path)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "Unknown config key 'trainer.max_epoch'" in bad.stderr and "max_epochs" in bad.stderr
    assert not (tmp_path / "outputs").exists()  # refused before any job dir


def test_convert_config_rewrites_target_params(tmp_path: Path) -> None:
    src = tmp_path / "legacy.yaml"
    src.write_text("model:\n  target: my.pkg.Model\n  params:\n    hidden: 8\n")
    run_cli("lalm-convert-config", [str(src), "-o", str(tmp_path / "new.yaml")], tmp_path, check=True)
    node = OmegaConf.load(tmp_path / "new.yaml")
    assert node.model == {"_target_": "my.pkg.Model", "hidden": 8}


TOY_APP = textwrap.dedent("""
    from pathlib import Path
    import hydra
    from hydra.core.hydra_config import HydraConfig

    @hydra.main(version_base=None, config_path=None, config_name=None)
    def main(cfg):
        Path(HydraConfig.get().runtime.output_dir, "done.txt").write_text(str(cfg.x * 10))

    if __name__ == "__main__":
        main()
""")


def test_lalm_pool_runs_a_basic_sweep_of_a_toy_app(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(TOY_APP)
    cmd = [sys.executable, "app.py", "-m", "hydra.sweep.dir=sweep", "hydra/launcher=lalm_pool"]
    cmd += ["hydra.launcher.preload=[]", "hydra.launcher.n_jobs=2", "+x=1,2,3"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert sorted((d / "done.txt").read_text() for d in (tmp_path / "sweep").iterdir() if d.is_dir()) == [
        "10",
        "20",
        "30",
    ]


def test_lalm_optuna_on_lalm_pool_fills_a_study(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    run_toy(
        sweep,
        "hydra/launcher=lalm_pool",
        "hydra.launcher.preload=[]",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.n_jobs=2",
        "hydra/sweeper/pruner=none",
        "epochs=2",
    )
    study = load_study(sweep)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    assert json.loads(json.dumps(study.best_params))["x"] == pytest.approx(study.best_params["x"])
