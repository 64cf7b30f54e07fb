"""Every use of another library's private API, in one place.

Each function names the upstream version it was written against and why no public API serves.
`tests/core/test_private_api.py` exercises each one against the installed versions, so an
upstream change fails loudly there instead of deep inside a launcher or a job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from hydra.core.config_search_path import ConfigSearchPath
    from hydra.core.utils import JobReturn
    from omegaconf import DictConfig

# hydra-core 1.3.2-1.3.8, omegaconf 2.3, pytorch-lightning 2.2-2.6
RunAndReport = Callable[[Callable[[], Any]], Any]


def job_return_value(ret: JobReturn) -> Any:
    """A job's return value, or the exception a failed job raised, without raising it.

    hydra-core 1.3: the public `JobReturn.return_value` re-raises a failed job's exception; the
    stored value or exception is `_return_value`.
    """
    return ret._return_value


def wrap_run_and_report(make_wrapper: Callable[[RunAndReport], RunAndReport]) -> None:
    """Replace `hydra._internal.utils.run_and_report` by `make_wrapper(original)` (once per process).

    hydra-core 1.3: every exception of `@hydra.main` (composition, the task, a callback) reaches
    the user through this function, and Hydra has no public hook for how errors are printed.
    """
    import hydra._internal.utils as hydra_utils

    if not getattr(hydra_utils.run_and_report, "_lalm_wrapped", False):
        wrapped = make_wrapper(hydra_utils.run_and_report)
        wrapped._lalm_wrapped = True  # type: ignore[attr-defined]
        hydra_utils.run_and_report = wrapped  # type: ignore[assignment]  # the point of this function


@contextmanager
def own_global_hydra() -> Iterator[None]:
    """A cleared `GlobalHydra` for the block; the caller's (and its `version_base`) come back after.

    hydra-core 1.3: `hydra.initialize` saves and restores the global Hydra with
    `get_gh_backup`/`restore_gh_from_backup`, not exported from `hydra`; the version_base a caller's
    `initialize(version_base=...)` set lives in the `VersionBase` singleton, whose `setbase` takes
    only a `Version`, not the "unset" marker a fresh process holds (assigned back directly).
    """
    from hydra.core.global_hydra import GlobalHydra
    from hydra.initialize import get_gh_backup, restore_gh_from_backup
    from hydra.version import VersionBase

    backup = get_gh_backup()
    base = VersionBase.instance().version_base
    GlobalHydra.instance().clear()
    try:
        yield
    finally:
        restore_gh_from_backup(backup)
        VersionBase.instance().version_base = base


def run_exit_handlers() -> None:
    """Run this process's `atexit` handlers now (a forked child about to `os._exit`).

    CPython 3.10-3.13: `atexit._run_exitfuncs` is undocumented and the only way to run them; a
    forked pool child leaves by `os._exit` (no unwinding into the worker's own loop), which skips
    them, and the job's libraries (loggers, writers) flush in them.
    """
    import atexit

    atexit._run_exitfuncs()


def skip_inherited_finalizers_at_exit() -> None:
    """In a forked child: the `weakref.finalize` callbacks alive now (its parent's) skip its exit.

    CPython 3.10-3.13: `weakref.finalize._registry` (undocumented) holds the live finalizers; each
    one's `atexit` flag is public. A pool job is forked from the template, whose finalizers
    (torch.library's ~170 `Library` teardowns: ~20 ms a job) tear down the template's state, not
    the job's; the finalizers the job creates itself still run at its exit.
    """
    import weakref

    for finalizer in list(weakref.finalize._registry):  # type: ignore[attr-defined]
        finalizer.atexit = False


def custom_resolvers() -> dict[str, Callable[..., Any]]:
    """The OmegaConf resolvers registered in this process, as stored (to ship to fresh processes).

    omegaconf 2.3: `OmegaConf.register_new_resolver` wraps the user's function; the wrapped
    callables live in `BaseContainer._resolvers`, and no public API lists or copies them.
    """
    from omegaconf.basecontainer import BaseContainer

    return dict(BaseContainer._resolvers)


def install_resolver(name: str, resolver: Callable[..., Any]) -> None:
    """Register a resolver taken from `custom_resolvers()` of another process (if `name` is free)."""
    from omegaconf.basecontainer import BaseContainer

    BaseContainer._resolvers.setdefault(name, resolver)


def set_hydra_config_unvalidated(full: DictConfig) -> None:
    """Make `HydraConfig.get()` and `${hydra:...}` answer from a job's saved `hydra` node.

    hydra-core 1.3: `HydraConfig.set_config` re-validates the node against HydraConf, which a
    saved (plain YAML) `.hydra/hydra.yaml` merged into its job config does not pass; this does
    what it does without that check. omegaconf 2.3: `masked_copy` keeps no parent, so `_set_parent`
    re-attaches the hydra node for interpolations into the job config.
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    OmegaConf.set_readonly(full.hydra, True)
    masked = OmegaConf.masked_copy(full, "hydra")
    masked.hydra._set_parent(full)
    HydraConfig.instance().cfg = masked  # type: ignore[assignment]


def dump_checkpoint(trainer: Any) -> dict[str, Any]:
    """The full training state Lightning would save now (weights, optimizer, loops, callbacks).

    pytorch-lightning 2.2-2.6: `trainer.save_checkpoint` waits at a barrier for every rank; on
    SLURM's warning signal only rank 0 runs the handler, so the state comes from the checkpoint
    connector directly.
    """
    state: dict[str, Any] = trainer._checkpoint_connector.dump_checkpoint(weights_only=False)
    return state


def stop_on_sigterm_of_rank_zero(trainer: Any) -> None:
    """Let SIGTERM stop a multi-rank fit through rank 0 alone; Lightning passes rank 0's flag on.

    pytorch-lightning 2.5-2.6: its handler sets `received_sigterm` on every rank that gets the
    signal and broadcasts from inside the handler. SLURM signals all ranks at once, so one rank can
    stop at its own batch end (or its in-handler broadcast can meet another rank's gradient
    all-reduce) while rank 0 waits in that all-reduce: rank 0 fails with "Connection closed by peer"
    and never saves. With only rank 0 noting the signal, no collective runs inside a handler; rank 0
    stops at its next boundary, and the others when its flag reaches them (the broadcast Lightning
    runs at the start of each training step) or when rank 0 leaves. Lightning's teardown puts the
    earlier handlers back.
    """
    import logging
    import signal

    connector = trainer._signal_connector
    rank = trainer.global_rank

    def note(signum: int, frame: Any) -> None:
        logging.getLogger(__name__).info("Received SIGTERM (rank %d)", rank)
        if rank == 0:
            connector.received_sigterm = True

    signal.signal(signal.SIGTERM, note)


def config_search_path(config_dirs: list[str]) -> ConfigSearchPath:
    """The search path `lalm-train --config-dir D` composes from (plugins included), in order.

    lalm-train passes the user's dir as the app's main config dir, so it comes before the
    search-path plugins' dirs (ours): a user option wins over ours of the same group and name.
    hydra-core 1.3: built by `hydra._internal.utils.create_config_search_path`; no public API.
    """
    from pathlib import Path

    from hydra._internal.utils import create_config_search_path
    from hydra.core.config_search_path import SearchPathQuery

    dirs = [f"file://{Path(d).resolve()}" for d in config_dirs]
    search_path = create_config_search_path(dirs[0] if dirs else None)
    for d in dirs[1:]:  # lalm-doctor takes several dirs: each before the plugins' dirs too
        search_path.prepend("main", d, anchor=SearchPathQuery(provider="lalm-framework"))
    return search_path


def config_sources(search_path: ConfigSearchPath) -> list[Any]:
    """The `ConfigSource`s of `search_path`, in search order (hydra-core 1.3: `ConfigRepository`)."""
    from hydra._internal.config_repository import ConfigRepository

    return list(ConfigRepository(search_path).get_sources())


def hydra_args_parser() -> argparse.ArgumentParser:
    """The argument parser of every `@hydra.main` app (its flags: --cfg, -m, --config-dir, ...).

    hydra-core 1.3: `hydra._internal.utils.get_args_parser`; no public API lists the flags.
    """
    from hydra._internal.utils import get_args_parser

    return get_args_parser()


def basic_sweeper_class() -> type:
    """Hydra's default sweeper class (hydra-core 1.3: `hydra._internal.core_plugins.basic_sweeper`)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    return BasicSweeper


def basic_sweep_jobs(arguments: list[str]) -> list[list[str]]:
    """The jobs Hydra's BasicSweeper makes of `arguments`, in order, as override lists.

    hydra-core 1.3: `BasicSweeper.split_arguments` is the only implementation of the sweep
    expansion (cartesian product, ranges, globs); no public function exposes it.
    """
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(arguments)
    batches = BasicSweeper.split_arguments(parsed, None)
    return [list(job) for batch in batches for job in batch]


def overrides_dirname(overrides: list[Any], config: DictConfig) -> str:
    """`hydra.job.override_dirname` of a job with these task overrides (parsed `Override`s).

    hydra-core 1.3: the config loader computes it with `get_overrides_dirname` from
    `hydra._internal.config_loader_impl`; `JobConfigs` sets a job's values into an already
    composed config and must write the same text Hydra would.
    """
    from hydra._internal.config_loader_impl import get_overrides_dirname

    node = config.hydra.job.config.override_dirname
    return get_overrides_dirname(
        overrides=overrides,
        exclude_keys=list(node.exclude_keys),
        item_sep=str(node.item_sep),
        kv_sep=str(node.kv_sep),
    )


# --- Lightning's loop progress and trainer settings (pytorch-lightning 2.2-2.6) ----------------
def fit_epochs_processed(trainer: Any) -> int:
    """The epoch Lightning's fit loop is about to run (what it passes to `set_epoch`).

    `trainer.fit_loop.epoch_progress` is a public attribute, but its counters are `_ProcessedTracker`
    fields, not declared API; the datamodule needs them before Lightning calls `set_epoch` to count
    the train loader's batches for this epoch.
    """
    return int(trainer.fit_loop.epoch_progress.current.processed)


def fit_batches_processed(trainer: Any) -> int:
    """The batches of the current training epoch processed so far (restored on resume).

    `trainer.fit_loop.epoch_loop.batch_progress.current.processed` (a `_ProcessedTracker`): the
    loaders prefetch, so the sampler's own count is ahead of what was trained.
    """
    return int(trainer.fit_loop.epoch_loop.batch_progress.current.processed)


def fit_resume_position(trainer: Any) -> tuple[int, int]:
    """(epoch, batches of it trained): the batch a resume from a checkpoint saved now trains first.

    pytorch-lightning 2.2-2.6: `FitLoop.reset` and `_TrainingEpochLoop.reset` decide this from the
    saved `epoch_progress` / `batch_progress` counters, and no public API says what they decide.
    With no epoch in progress (`started == processed`: saved in or after `on_train_epoch_end`, or
    as the next epoch starts) the resume starts epoch `processed`, whatever the batch counters
    hold (with `limit_train_batches` they stop short of the data's epoch). With all of the
    epoch's batches processed (`on_train_batch_end` of its last batch, its end-of-epoch
    validation) it trains none more of it: the next epoch's first batch comes next. Inside a
    batch it trains that batch again, elsewhere it goes on after the batches it processed.
    """
    fit = trainer.fit_loop
    epochs = fit.epoch_progress.current
    if epochs.started <= epochs.processed:
        return int(epochs.processed), 0
    batches = fit.epoch_loop.batch_progress
    done = int(batches.current.processed)
    total = trainer.num_training_batches
    between_batches = batches.current.ready == done
    if between_batches and (done >= total or (total == float("inf") and batches.is_last_batch)):
        return int(epochs.processed) + 1, 0
    return int(epochs.processed), done


def reload_train_loader_every_epoch(trainer: Any) -> None:
    """Make Lightning ask for the train loader (and its len()) again each epoch.

    `reload_dataloaders_every_n_epochs` is set by `Trainer.__init__` but is no declared attribute:
    batches by duration differ in number per epoch, and Lightning reads len() only when it loads.
    """
    trainer.reload_dataloaders_every_n_epochs = 1


def overfit_batches(trainer: Any) -> float:
    """`Trainer(overfit_batches=...)` as the trainer holds it (set in `__init__`, not declared)."""
    return float(getattr(trainer, "overfit_batches", 0) or 0)


def attached_trainer(module: Any) -> Any:
    """The Trainer a LightningModule is attached to, or None (without raising).

    `LightningModule.trainer` raises when the module has no trainer; the private `_trainer` is
    what Lightning itself tests (pytorch-lightning 2.x).
    """
    return module._trainer
