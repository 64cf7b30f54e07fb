"""Every private API of another library that we touch (lalm_framework.compat.private_api), exercised.

When an upstream release moves or changes one of them, these tests fail here, by name, instead
of a launcher or a job failing far from the cause.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from lalm_framework.compat import private_api


def _quiet_trainer(tmp_path: Path, **options: Any) -> Any:
    """A Lightning Trainer that writes nothing but its root dir and prints no bar or summary."""
    import pytorch_lightning as pl

    return pl.Trainer(
        default_root_dir=tmp_path,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **options,
    )


def test_job_return_value_gives_the_exception_without_raising():
    ret = JobReturn()
    boom = ValueError("boom")
    ret.return_value = boom
    ret.status = JobStatus.FAILED
    assert private_api.job_return_value(ret) is boom
    with pytest.raises(ValueError):  # why the private field is needed: the property re-raises
        _ = ret.return_value
    ret.return_value, ret.status = 0.5, JobStatus.COMPLETED
    assert private_api.job_return_value(ret) == 0.5


def test_hydra_reports_errors_through_the_function_we_wrap():
    import hydra._internal.utils as hydra_utils

    # Hydra must look the reporter up as a module global at call time, or wrapping it does nothing
    assert callable(hydra_utils.run_and_report)
    assert "run_and_report" in hydra_utils._run_hydra.__code__.co_names


def test_wrap_run_and_report_wraps_once(monkeypatch):
    import hydra._internal.utils as hydra_utils

    original = hydra_utils.run_and_report
    monkeypatch.setattr(hydra_utils, "run_and_report", original)
    calls = []

    def make(orig):
        def wrapper(func):
            calls.append(1)
            return orig(func)

        return wrapper

    private_api.wrap_run_and_report(make)
    private_api.wrap_run_and_report(make)  # idempotent
    assert hydra_utils.run_and_report(lambda: 7) == 7
    assert calls == [1]


def test_resolvers_travel_to_another_registry():
    OmegaConf.register_new_resolver("lalm_test_twice", lambda x: 2 * int(x), replace=True)
    try:
        stored = private_api.custom_resolvers()
        assert "lalm_test_twice" in stored and "oc.env" in stored
        OmegaConf.clear_resolver("lalm_test_twice")
        assert not OmegaConf.has_resolver("lalm_test_twice")
        private_api.install_resolver("lalm_test_twice", stored["lalm_test_twice"])
        assert OmegaConf.create({"a": "${lalm_test_twice:21}"}).a == 42
    finally:
        OmegaConf.clear_resolver("lalm_test_twice")


def test_saved_hydra_config_answers_hydra_interpolations(tmp_path: Path):
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import setup_globals

    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.yaml").write_text("where: ${hydra:runtime.output_dir}\nname: ${hydra:job.name}\n")
    with initialize_config_dir(str(tmp_path / "conf"), version_base="1.3", job_name="saved"):
        cfg = compose("app", return_hydra_config=True)
    setup_globals()
    hydra_node = OmegaConf.to_container(cfg.hydra, resolve=False)
    hydra_node["runtime"]["output_dir"] = str(tmp_path / "out")  # as a job's saved hydra.yaml has it
    OmegaConf.save({"hydra": hydra_node}, tmp_path / "hydra.yaml")
    job = OmegaConf.create({"where": "${hydra:runtime.output_dir}", "name": "${hydra:job.name}"})
    full = OmegaConf.merge(job, OmegaConf.load(tmp_path / "hydra.yaml"))
    before = HydraConfig.instance().cfg
    try:
        private_api.set_hydra_config_unvalidated(full)
        assert job.where == str(tmp_path / "out") and job.name == "saved"
    finally:
        HydraConfig.instance().cfg = before


def test_dump_checkpoint_returns_the_full_training_state(tmp_path: Path):
    from pytorch_lightning.demos.boring_classes import BoringModel

    trainer = _quiet_trainer(tmp_path, max_steps=2, limit_val_batches=0)
    trainer.fit(BoringModel())
    state = private_api.dump_checkpoint(trainer)
    assert state["global_step"] == 2
    assert {"state_dict", "optimizer_states", "loops", "epoch"} <= set(state)


def test_config_search_path_has_the_user_dir_first_then_our_package(tmp_path: Path):
    import hydra_plugins.lalm_searchpath.lalm_searchpath  # noqa: F401  (our plugin: registers schemas)

    sources = private_api.config_sources(private_api.config_search_path([str(tmp_path)]))
    paths = [s.full_path() for s in sources]
    assert any(str(tmp_path) in p for p in paths)
    assert any("lalm_framework.conf" in p for p in paths)


def test_basic_sweep_expansion_is_hydras_cartesian_order():
    from hydra.core.plugins import Plugins
    from hydra.plugins.sweeper import Sweeper

    assert private_api.basic_sweep_jobs(["a=1,2", "b=x,y"]) == [
        ["a=1", "b=x"],
        ["a=1", "b=y"],
        ["a=2", "b=x"],
        ["a=2", "b=y"],
    ]
    assert private_api.basic_sweeper_class() in Plugins.instance().discover(Sweeper)


def test_overrides_dirname_is_the_text_hydra_composes():
    from hydra import compose, initialize_config_module
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = ["seed=3", "lr=1e-3", "+extra=a"]
    with initialize_config_module("lalm_framework.conf", version_base=None):
        cfg = compose(
            "train", overrides + ["hydra.job.config.override_dirname.exclude_keys=[seed]"], return_hydra_config=True
        )
    parsed = OverridesParser.create().parse_overrides(overrides)
    assert private_api.overrides_dirname(parsed, cfg) == cfg.hydra.job.override_dirname == "+extra=a,lr=1e-3"


def test_lightning_loop_progress_and_trainer_settings_we_read_and_set(tmp_path: Path):
    """The fit loop's epoch/batch counters, `reload_dataloaders_every_n_epochs`, `overfit_batches`,
    and a module's `_trainer`, as the datamodule and LalmModule use them."""
    import pytorch_lightning as pl
    from pytorch_lightning.demos.boring_classes import BoringModel

    seen: list[tuple[int, int]] = []

    class Probe(pl.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            seen.append((private_api.fit_epochs_processed(trainer), private_api.fit_batches_processed(trainer)))

    module = BoringModel()
    assert private_api.attached_trainer(module) is None  # `module.trainer` would raise here
    trainer = _quiet_trainer(
        tmp_path, max_epochs=2, limit_train_batches=3, limit_val_batches=0, overfit_batches=0, callbacks=[Probe()]
    )
    assert private_api.overfit_batches(trainer) == 0
    assert trainer.reload_dataloaders_every_n_epochs == 0
    private_api.reload_train_loader_every_epoch(trainer)
    assert trainer.reload_dataloaders_every_n_epochs == 1
    trainer.fit(module)
    assert private_api.attached_trainer(module) is trainer
    # within an epoch: the batches processed so far count up; the epoch counter is the running epoch
    assert seen == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3)]
    assert private_api.overfit_batches(pl.Trainer(overfit_batches=2, logger=False)) == 2


# (hook, epoch, batch_idx or None): where a checkpoint is saved in a 3-epoch fit of 3 batches each
SAVE_POINTS = [
    ("on_train_batch_end", 0, 1),  # mid-epoch
    ("on_train_batch_end", 0, 2),  # the epoch's last batch (every_n_train_steps landing on it)
    ("on_validation_start", 0, None),  # the epoch's batches done, Lightning's epoch not yet
    ("on_validation_batch_end", 0, 0),  # SIGTERM stops validation here
    ("on_validation_end", 0, None),
    ("on_train_epoch_end", 0, None),  # the default last.ckpt, and SIGTERM's save just after it
    ("on_train_batch_start", 1, 0),
    ("on_before_optimizer_step", 1, 1),  # inside a batch (a warning signal lands anywhere)
    ("on_before_optimizer_step", 1, 2),  # inside the epoch's last batch: trained again
]


@pytest.mark.slow
@pytest.mark.parametrize("iteration_based", [False, True], ids=["max_epochs", "max_steps"])
def test_fit_resume_position_is_where_lightning_resumes(tmp_path: Path, iteration_based: bool):
    """The data position saved in a checkpoint (`fit_resume_position`) is the epoch and batch that
    Lightning trains first when it resumes from that checkpoint, with `limit_train_batches`
    shorter than the loader (issue 19 §2)."""
    import pytorch_lightning as pl
    from pytorch_lightning.demos.boring_classes import BoringModel

    limit, epochs = 3, 3

    class SaveAt(pl.Callback):
        def __init__(self, hook: str, epoch: int, batch: int | None) -> None:
            self.at, self.position = (hook, epoch, batch), (-1, -1)

        def _save(self, trainer: pl.Trainer, hook: str, batch: int | None = None) -> None:
            if (hook, trainer.current_epoch, batch) == self.at:
                self.position = private_api.fit_resume_position(trainer)
                trainer.save_checkpoint(tmp_path / "at.ckpt")

        def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
            self._save(trainer, "on_train_batch_start", batch_idx)

        def on_before_optimizer_step(self, trainer, module, optimizer) -> None:
            self._save(trainer, "on_before_optimizer_step", trainer.fit_loop.epoch_loop.batch_idx)

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            self._save(trainer, "on_train_batch_end", batch_idx)

        def on_validation_start(self, trainer, module) -> None:
            self._save(trainer, "on_validation_start")

        def on_validation_batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
            self._save(trainer, "on_validation_batch_end", batch_idx)

        def on_validation_end(self, trainer, module) -> None:
            self._save(trainer, "on_validation_end")

        def on_train_epoch_end(self, trainer, module) -> None:
            self._save(trainer, "on_train_epoch_end")

    class Trained(pl.Callback):
        def __init__(self) -> None:
            self.batches: list[tuple[int, int]] = []

        def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
            self.batches.append((trainer.current_epoch, batch_idx))

    def trainer(callback: pl.Callback) -> pl.Trainer:
        return _quiet_trainer(
            tmp_path,
            max_epochs=-1 if iteration_based else epochs,
            max_steps=epochs * limit if iteration_based else -1,
            limit_train_batches=limit,  # of BoringModel's 32
            limit_val_batches=2,
            num_sanity_val_steps=0,
            callbacks=[callback],
        )

    for hook, epoch, batch in SAVE_POINTS:
        saver = SaveAt(hook, epoch, batch)
        trainer(saver).fit(BoringModel())
        trained = Trained()
        resumed = trainer(trained)
        resumed.fit(BoringModel(), ckpt_path=tmp_path / "at.ckpt")
        assert trained.batches[0] == saver.position, (hook, epoch, batch)
        assert resumed.global_step == epochs * limit, (hook, epoch, batch)


def test_own_global_hydra_clears_then_restores_the_callers_context(tmp_path: Path):
    from hydra import compose, initialize, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.version import VersionBase

    (tmp_path / "mine.yaml").write_text("x: 1\n")
    before = VersionBase.instance().version_base
    try:
        with initialize_config_dir(config_dir=str(tmp_path), version_base="1.1"):
            with private_api.own_global_hydra():
                assert not GlobalHydra.instance().is_initialized()
                with initialize(config_path=None, version_base="1.3"):
                    assert str(VersionBase.instance().version_base) == "1.3"
            assert compose("mine").x == 1  # the caller's composition goes on, from its dir
            assert str(VersionBase.instance().version_base) == "1.1"
    finally:
        VersionBase.instance().version_base = before


def test_run_exit_handlers_runs_atexit_before_os_exit(tmp_path: Path):
    import subprocess
    import sys

    marker = tmp_path / "flushed"
    code = (
        "import atexit, os, pathlib\n"
        f"atexit.register(pathlib.Path({str(marker)!r}).write_text, 'yes')\n"
        "from lalm_framework.compat.private_api import run_exit_handlers\n"
        "run_exit_handlers()\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert marker.read_text() == "yes"


def test_inherited_finalizers_skip_the_exit_and_new_ones_run(tmp_path: Path):
    import subprocess
    import sys

    code = (
        "import atexit, os, pathlib, weakref\n"
        "class Thing: pass\n"
        "old, new = Thing(), Thing()\n"
        f"weakref.finalize(old, pathlib.Path({str(tmp_path / 'old')!r}).write_text, 'ran')\n"
        "from lalm_framework.compat.private_api import run_exit_handlers, skip_inherited_finalizers_at_exit\n"
        "skip_inherited_finalizers_at_exit()\n"
        f"weakref.finalize(new, pathlib.Path({str(tmp_path / 'new')!r}).write_text, 'ran')\n"
        "run_exit_handlers()\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert (tmp_path / "new").read_text() == "ran" and not (tmp_path / "old").exists()


def test_sigterm_of_rank_zero_stops_the_fit_and_other_ranks_only_log(tmp_path: Path):
    import os
    import signal
    import types

    import pytorch_lightning as pl
    from pytorch_lightning.demos.boring_classes import BoringModel
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    class SigtermAtStep2(pl.Callback):
        def on_train_start(self, trainer, pl_module):
            private_api.stop_on_sigterm_of_rank_zero(trainer)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if batch_idx == 1:
                os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    trainer = _quiet_trainer(tmp_path, max_steps=10, limit_val_batches=0, callbacks=[SigtermAtStep2()])
    with pytest.raises(SIGTERMException):  # the flag we set is the one Lightning's loops read
        trainer.fit(BoringModel())
    assert trainer.global_step == 2
    assert signal.getsignal(signal.SIGTERM) == before  # Lightning's teardown restored the handler

    other_rank = types.SimpleNamespace(_signal_connector=types.SimpleNamespace(received_sigterm=False), global_rank=1)
    try:
        private_api.stop_on_sigterm_of_rank_zero(other_rank)
        os.kill(os.getpid(), signal.SIGTERM)
        assert other_rank._signal_connector.received_sigterm is False  # rank 0's broadcast decides
    finally:
        signal.signal(signal.SIGTERM, before)
