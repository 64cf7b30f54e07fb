"""The runner builds what a job's config lists; launchers contribute through config nodes only."""

from __future__ import annotations

import ast
import inspect

import optuna
from hydra.utils import get_class
from lightning_fabric.plugins.environments import LightningEnvironment, SLURMEnvironment
from lightning_fabric.plugins.io import TorchCheckpointIO
from omegaconf import OmegaConf

import lalm_framework
from lalm_framework import runner
from lalm_framework.launching.slurm import launcher as slurm
from lalm_framework.launching.slurm.requeue import SaveOnTermination
from lalm_framework.trainer_addons.checkpoint_io import AtomicCheckpointIO
from lalm_framework.tuning.pruning import OptunaPruningCallback, TrialPruned
from lalm_framework.tuning.sweep import pruning_override


def _compose(*overrides: str):
    return lalm_framework.compose(["experiment=digits", "logger=none", *overrides])


def test_trainer_plugins_come_from_the_config():
    env = "{_target_:lightning_fabric.plugins.environments.LightningEnvironment}"
    _, plugins = runner.trainer_arguments(_compose(f"trainer.plugins=[{env}]"), with_loggers=False)
    assert [type(p) for p in plugins] == [LightningEnvironment, AtomicCheckpointIO]  # ours added
    io = "{_target_:lightning_fabric.plugins.io.TorchCheckpointIO}"
    trainer = runner._trainer(_compose(f"trainer.plugins=[{io}]"), [], [])  # one checkpoint IO: the config's
    assert type(trainer.strategy.checkpoint_io) is TorchCheckpointIO


def test_slurm_launcher_puts_its_requeue_hooks_into_the_job_config():
    cfg = _compose()
    seen = []

    class Launcher:  # what requeue_nodes_in_job needs of the submitit launcher: its task function
        task_function = staticmethod(seen.append)

    launcher = Launcher()
    with slurm.requeue_nodes_in_job(launcher):
        launcher.task_function(cfg)
    assert launcher.task_function is Launcher.task_function  # restored after the job
    (job_cfg,) = seen
    callbacks = [lalm_framework.instantiate(c) for c in job_cfg.callbacks.values()]
    assert any(isinstance(c, SaveOnTermination) for c in callbacks)
    assert callbacks[-1].checkpoint_dir == job_cfg.paths.checkpoint_dir
    _, plugins = runner.trainer_arguments(job_cfg, with_loggers=False)
    assert isinstance(plugins[0], SLURMEnvironment) and plugins[0].auto_requeue is False
    runner._trainer(job_cfg, callbacks, [])  # Lightning takes them
    slurm.add_requeue_nodes(job_cfg)  # idempotent
    assert len(job_cfg.trainer.plugins) == 1
    other = OmegaConf.create({"x": 1})  # another Hydra app's config is left alone
    slurm.add_requeue_nodes(other)
    assert OmegaConf.to_container(other) == {"x": 1}


def test_optuna_sweeper_adds_its_pruning_callback_through_the_trial_config():
    cfg = _compose(
        pruning_override(),
        "trial.storage=sqlite:///x.db",
        "trial.study_name=s",
        "trial.trial_number=3",
        "trial.pruning_monitor=val/loss",
    )
    node = cfg.callbacks.optuna_pruning
    assert get_class(node._target_) is OptunaPruningCallback
    assert (node.storage, node.study_name, node.trial_number, node.monitor) == ("sqlite:///x.db", "s", 3, "val/acc")
    callback = lalm_framework.instantiate(node)
    assert callback.monitor == "val/loss"  # trial.pruning_monitor wins over monitor


def test_attempts_are_classified_by_type():
    pruned = TrialPruned("pruned at step 1")
    assert isinstance(pruned, optuna.TrialPruned)  # the sweeper ends the trial PRUNED
    assert runner.attempt_status(pruned) == "pruned"
    assert runner.attempt_status(KeyboardInterrupt()) == "interrupted"
    assert runner.attempt_status(ValueError("x")) == "failed"


def test_the_runner_knows_no_launcher():
    """No names of sweepers or clusters in the runner's code, and no classification by class name."""
    tree = ast.parse(inspect.getsource(runner))
    docstrings = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, (ast.Module, ast.FunctionDef)) and isinstance(n.body[0], ast.Expr)
    }
    words = [
        str(n.value) if isinstance(n, ast.Constant) else getattr(n, "id", getattr(n, "attr", ""))
        for n in ast.walk(tree)
        if isinstance(n, (ast.Constant, ast.Name, ast.Attribute)) and id(n) not in docstrings
    ]
    code = " ".join(words).lower()
    for word in ("optuna", "trial", "slurm", "submitit", "pruned", "__name__("):
        assert word not in code
    assert not any(isinstance(n, ast.Attribute) and n.attr == "__name__" for n in ast.walk(tree))
