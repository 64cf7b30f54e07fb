"""The task function of `lalm-train`: one job, the same under every launcher.

validate -> instantiate -> fit -> evaluate -> record. The runner builds what the job's config
lists: `model`, `dataset`, every `callbacks.<name>` and `logger.<name>` node, and the
`trainer.plugins` nodes (plus our atomic checkpoint IO). Whoever launches a job and needs
Lightning callbacks or plugins in it (a hyperparameter sweeper's pruning callback, a cluster
launcher's requeue hooks) puts them into that job's config; the runner knows no launcher.
"""

from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from lalm_framework.config.resolvers import pin_paths
from lalm_framework.config.validate import validate
from lalm_framework.errors import UserError
from lalm_framework.masking import guard
from lalm_framework.run_record import AttemptEnded, RankRecord, RunRecord
from lalm_framework.utils.console_log import quiet_known_noise
from lalm_framework.utils.plain_data import typed_overrides

log = logging.getLogger(__name__)

Record = RunRecord | RankRecord


def run(cfg: DictConfig) -> float | None:
    """Train/validate/test one job described by `cfg`; return `cfg.monitor`'s value (or None).

    Inside a Hydra app the job's output dir is Hydra's; elsewhere a fresh `outputs/<task>/<time>`.

    Example:
        >>> from lalm_framework import compose, run
        >>> val_loss = run(compose(["experiment=digits", "trainer.max_epochs=1"]))
    """
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():  # a script or notebook: one fresh output dir for this run
        pin_paths(cfg)
    guard(OmegaConf.to_container(cfg, resolve=False))  # what the job prints and logs, secrets masked
    validate(cfg)
    job_dir = _job_dir(cfg)
    with _owned(cfg, job_dir):
        record = _start_record(cfg, job_dir)
        try:
            with quiet_known_noise(evaluating=not cfg.train):  # a fixed list of third-party messages
                metrics = _run_job(cfg, job_dir, record)
        except BaseException as e:
            record.finish(attempt_status(e), {}, error=e)
            raise
        objective = _objective(cfg, metrics)
        record.finish("completed", metrics, objective=objective)  # a resumed sweep records the trial from it
    return objective


def _job_dir(cfg: DictConfig) -> Path:
    try:
        out = cfg.paths.output_dir
    except Exception as e:
        raise UserError(
            "paths.output_dir cannot be resolved: set it, e.g. paths.output_dir=<dir>, or compose the "
            "config with lalm_framework.compose(...)"
        ) from e
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _global_rank() -> int:
    """This process's rank in multi-process training (0 when alone), as Lightning sees it."""
    from lightning_fabric.utilities.rank_zero import rank_zero_only

    return int(getattr(rank_zero_only, "rank", 0))


def _owned(cfg: DictConfig, job_dir: Path) -> Any:
    """Rank 0 holds the job dir for the job (lock, same-job check, leftovers cleaned: `job_dir`)."""
    if _global_rank() != 0:
        return contextlib.nullcontext()
    from lalm_framework.job_dir import owned

    return owned(job_dir, cfg, Path(cfg.paths.checkpoint_dir))


def _start_record(cfg: DictConfig, job_dir: Path) -> Record:
    from hydra.core.hydra_config import HydraConfig

    from lalm_framework.job_dir import job_key
    from lalm_framework.utils.paths import resolve_path

    if _global_rank() != 0:
        return RankRecord()  # rank 0 alone writes the job's record

    overrides: list[str] = []
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(resolved, dict)
    plain = {str(k): v for k, v in resolved.items()}
    if HydraConfig.initialized() and _is_this_job(job_dir):
        from lalm_framework.config.prelaunch import mask_hydra_files

        overrides = typed_overrides(HydraConfig.get().overrides.task)
        # HydraConfig.get() is typed HydraConf but is the live DictConfig node
        mask_hydra_files(cast(DictConfig, HydraConfig.get()), plain)  # also done before launch (prelaunch)
    return RunRecord(job_dir, resolve_path("."), plain, overrides, job_key=job_key(cfg))


def _is_this_job(job_dir: Path) -> bool:
    """Whether Hydra's runtime belongs to this job (not to an app that ran earlier in the process)."""
    from hydra.core.hydra_config import HydraConfig

    runtime = HydraConfig.get().runtime
    return not OmegaConf.is_missing(runtime, "output_dir") and Path(runtime.output_dir).resolve() == job_dir.resolve()


def attempt_status(e: BaseException) -> str:
    """How an attempt ended: stopped from outside (Ctrl-C, SIGTERM, requeue), on purpose, or failed."""
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    if isinstance(e, (KeyboardInterrupt, SystemExit, SIGTERMException)):
        return "interrupted"
    if isinstance(e, AttemptEnded):
        return e.status  # a component (e.g. a pruning callback) ended the attempt on purpose
    return "failed"


def _run_job(cfg: DictConfig, job_dir: Path, record: Record) -> dict[str, float]:
    import pytorch_lightning as pl

    from lalm_framework.compat.instantiate import instantiate
    from lalm_framework.config.monitors import with_monitor_fallback
    from lalm_framework.launching.pool.threads import set_job_cpu_threads
    from lalm_framework.trainer_addons.console import console_callbacks
    from lalm_framework.trainer_addons.reporting import DataFingerprint, EpochHistory

    if cfg.seed is not None:
        pl.seed_everything(cfg.seed, workers=True)
    set_job_cpu_threads(cfg.trainer.get("accelerator"), cfg.trainer.get("devices"))  # unless OMP_NUM_THREADS=...
    model = instantiate(cfg.model)
    datamodule = instantiate(cfg.dataset)
    callbacks = [instantiate(c) for c in with_monitor_fallback(cfg)]
    callbacks.append(
        DataFingerprint(
            lambda fingerprint: _same_data_recorded(job_dir, record, fingerprint),
            fallback=lambda: _dataset_paths_version(cfg),
        )
    )
    callbacks.append(EpochHistory(lambda row: _record_epoch(record, row)))
    callbacks += console_callbacks(cfg.trainer, callbacks)
    loggers = [instantiate(c) for c in cfg.logger.values() if c]
    trainer = _trainer(cfg, callbacks, loggers)
    _apply_legacy_learning_rate(cfg, model, trainer, record)
    if loggers and isinstance(record, RunRecord):
        for logger in loggers:  # the whole run config, secrets masked (not only the model's arguments)
            logger.log_hyperparams(record.masked_config())

    metrics: dict[str, float] = {}
    if cfg.train:
        ckpt_path = resume_checkpoint(cfg)
        record.update(resumed_from=ckpt_path)
        if ckpt_path:
            log.info("Resuming from %s", ckpt_path)
        with _ddp_env(trainer, job_dir):
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        metrics.update(_scalars(trainer.callback_metrics))
        best = _best_checkpoint(trainer, cfg.monitor)
        if best is not None:
            metrics[f"{cfg.monitor}_best"] = best[1]
    eval_ckpt = evaluation_checkpoint(cfg, trainer)
    if (cfg.validate or cfg.test) and not cfg.train:
        record.update(evaluated=eval_ckpt)
        log.info("Evaluating %s", eval_ckpt or "the untrained weights (evaluate_untrained=true)")
    elif (cfg.validate or cfg.test) and (best := _best_checkpoint(trainer, cfg.monitor)) is not None:
        record.update(evaluated=best[0])  # the file "best" names: its own metrics (lalm-export's card)
    if cfg.validate:
        trainer.validate(model, datamodule=datamodule, ckpt_path=eval_ckpt)
        metrics.update(_scalars(trainer.callback_metrics))
    if cfg.test:
        trainer.test(model, datamodule=datamodule, ckpt_path=eval_ckpt)
        metrics.update(_scalars(trainer.callback_metrics))
    metrics["global_step"] = float(trainer.global_step)
    _summarise(cfg, job_dir, (model, datamodule), trainer, metrics, loggers, record)
    return metrics


def _dataset_paths_version(cfg: DictConfig) -> dict[str, Any]:
    """The data version of a datamodule without `data_fingerprint()`: the paths its config names."""
    from lalm_framework.compat.legacy import to_target_form
    from lalm_framework.utils.path_versions import config_paths_fingerprint

    node = to_target_form(OmegaConf.to_container(cfg.dataset, resolve=True))
    return config_paths_fingerprint(node if isinstance(node, dict) else {})


def _same_data_recorded(job_dir: Path, record: Record, fingerprint: dict[str, Any]) -> None:
    """Refuse to resume on other data than the dir's earlier attempts had; record this attempt's."""
    if isinstance(record, RunRecord):
        from lalm_framework.job_dir import check_same_data

        check_same_data(job_dir, record.data["attempts"][:-1], fingerprint)
    record.update(data=fingerprint)


def _record_epoch(record: Record, row: dict[str, float]) -> None:
    """One epoch's metrics into this attempt's record (what curves.png and `lalm-runs` read)."""
    if isinstance(record, RunRecord):
        record.update(epochs=[*record.attempt.get("epochs", []), row])


def _trainer(cfg: DictConfig, callbacks: list[Any], loggers: list[Any]) -> Any:
    """The Trainer of `cfg.trainer`, with the callbacks, loggers and plugins the config lists."""
    from lalm_framework.compat.instantiate import instantiate

    node, plugins = trainer_arguments(cfg, with_loggers=bool(loggers))
    return instantiate(node, callbacks=callbacks, logger=loggers or False, plugins=plugins)


def trainer_arguments(cfg: DictConfig, with_loggers: bool) -> tuple[dict[str, Any], list[Any]]:
    """`cfg.trainer` as Trainer arguments, and its `plugins` built (plus our atomic checkpoint IO)."""
    import inspect

    from lightning_fabric.plugins.io.checkpoint_io import CheckpointIO
    from pytorch_lightning import Trainer

    from lalm_framework.compat.instantiate import instantiate
    from lalm_framework.trainer_addons.checkpoint_io import AtomicCheckpointIO

    container = OmegaConf.to_container(cfg.trainer, resolve=True)
    assert isinstance(container, dict)
    node = {str(k): v for k, v in container.items()}
    for key in ("ckpt_path", "callbacks", "logger"):
        node.pop(key, None)
    plugins = [instantiate(p) for p in node.pop("plugins", None) or []]
    node["strategy"] = _own_fsdp(node.get("strategy"))
    if not any(isinstance(p, CheckpointIO) for p in plugins):
        plugins.append(AtomicCheckpointIO())
    accepted = inspect.signature(Trainer.__init__).parameters
    for key in [k for k, v in node.items() if v is None and k not in accepted]:
        del node[key]  # an argument of a newer Lightning, left at null
    if node.get("enable_autolog_hparams") is None and "enable_autolog_hparams" in accepted:
        node["enable_autolog_hparams"] = not with_loggers  # the runner logs the whole config instead
    return node, plugins


def _own_fsdp(strategy: Any) -> Any:
    """Lightning's FSDP names (`trainer.strategy=fsdp`) as our FSDP strategy: layer-wise wrapping,
    full checkpoints read safely (trainer_addons/fsdp.py)."""
    from lalm_framework.config.strategies import FSDP_NAMES, FSDP_TARGET

    if isinstance(strategy, str) and strategy.lower() in FSDP_NAMES:
        return {"_target_": FSDP_TARGET, "cpu_offload": strategy.lower() == "fsdp_cpu_offload"}
    return strategy


def _apply_legacy_learning_rate(cfg: DictConfig, model: Any, trainer: Any, record: Record) -> None:
    """`base_learning_rate`/`scale_lr` beside a legacy `target`/`params` model: set `model.learning_rate`."""
    from lalm_framework.compat.legacy import learning_rate_keys, legacy_learning_rate

    batch_size = _batch_size(cfg)
    lr = legacy_learning_rate(
        cfg.model,
        batch_size=batch_size,
        accumulate_grad_batches=int(trainer.accumulate_grad_batches),
        num_devices=int(trainer.num_devices),
        num_nodes=int(trainer.num_nodes),
    )
    if lr is not None:
        model.learning_rate = lr
        record.update(learning_rate=lr)
        scale = learning_rate_keys(cfg.model)[1]
        log.info("model.learning_rate = %g (from model.base_learning_rate, scale_lr=%s)", lr, scale)


def _batch_size(cfg: DictConfig) -> int | None:
    from lalm_framework.compat.legacy import to_target_form

    node = to_target_form(OmegaConf.to_container(cfg.dataset, resolve=True))
    value = node.get("batch_size") if isinstance(node, dict) else None
    return int(value) if isinstance(value, int) else None


def _ddp_env(trainer: Any, job_dir: Path) -> Any:
    """Multi-process training re-launches this command per rank; tell those ranks their job."""
    if trainer.world_size <= 1:
        return contextlib.nullcontext()
    from lalm_framework.launching.ddp import ddp_job_env

    return ddp_job_env(job_dir)


def resume_checkpoint(cfg: DictConfig) -> str | None:
    """The checkpoint `fit` resumes from: explicit `trainer.ckpt_path`, else this job's last.ckpt."""
    from lalm_framework.utils.paths import resolve_path

    explicit = cfg.trainer.get("ckpt_path")
    last = Path(cfg.paths.checkpoint_dir) / "last.ckpt"
    if explicit == "last" or (explicit is None and last.is_file()):
        return str(last) if last.is_file() else None
    return str(resolve_path(explicit)) if explicit else None


def evaluation_checkpoint(cfg: DictConfig, trainer: Any) -> str | None:
    """The weights validate/test evaluate: the best (or final) ones of this fit, or trainer.ckpt_path.

    Without training, `validate()`/`test()` would otherwise evaluate the freshly built model;
    `config.validate` refuses that unless `evaluate_untrained=true`.
    """
    if cfg.train:
        return "best" if _best_checkpoint(trainer, cfg.monitor) is not None else None
    return resume_checkpoint(cfg)


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            continue
    return out


def _best_checkpoint(trainer: Any, monitor: str) -> tuple[str, float] | None:
    """(path, score) of the best checkpoint saved on `monitor`, if a checkpoint callback kept one."""
    from pytorch_lightning.callbacks import ModelCheckpoint

    for cb in trainer.callbacks:
        if isinstance(cb, ModelCheckpoint) and cb.monitor == monitor and cb.best_model_score is not None:
            return str(cb.best_model_path), float(cb.best_model_score)
    return None


def _summarise(
    cfg: DictConfig,
    job_dir: Path,
    parts: tuple[Any, Any],
    trainer: Any,
    metrics: dict[str, float],
    loggers: list[Any],
    record: Record,
) -> None:
    """The run's closing lines (console and the job's log file) and the loggers' checkpoint record."""
    from lalm_framework.trainer_addons.reporting import (
        best_metrics_lines,
        data_lines,
        record_checkpoint,
        summary_lines,
        where_to_look_lines,
    )

    if not trainer.is_global_zero:
        return
    best = _best_checkpoint(trainer, cfg.monitor) if cfg.train else None
    infer = _inference_inputs(*parts, record) if best else None
    for line in summary_lines(job_dir, str(cfg.monitor), best, metrics.get(str(cfg.monitor)), infer):
        log.info(line)
    if best:
        tested = {k: v for k, v in metrics.items() if k.startswith("test/")} if cfg.test else {}
        validation = _saved_validation(best[0])
        for line in best_metrics_lines(validation, tested):
            log.info(line)
        if validation or tested:
            record.update(best_checkpoint_metrics={**((validation or {}).get("metrics") or {}), **tested})
    curves = _write_curves(job_dir, record) if cfg.train else None
    for line in where_to_look_lines(job_dir, curves, loggers):
        log.info(line)
    data = record.attempt.get("data") if isinstance(record, RunRecord) else None
    for line in data_lines(data or {}):
        log.info(line)
    if best:
        record.update(best_checkpoint=best[0])
        record_checkpoint(loggers, best[0])


def _saved_validation(checkpoint: str) -> dict[str, Any] | None:
    """The validation metrics a checkpoint keeps (LalmModule's), None for other models' checkpoints."""
    from lalm_framework.models.lalm_module import CHECKPOINT_METRICS_KEY
    from lalm_framework.trainer_addons.checkpoint_io import read_checkpoint

    try:
        saved = read_checkpoint(checkpoint).get(CHECKPOINT_METRICS_KEY)
    except UserError:  # another model's checkpoint with types our safe reader refuses: no metrics to show
        return None
    return saved if isinstance(saved, dict) else None


def _write_curves(job_dir: Path, record: Record) -> Path | None:
    """curves.png from the per-epoch metrics of every attempt in run.json (None: no epoch ended)."""
    from lalm_framework.runs.curves import write_run_curves
    from lalm_framework.runs.records import Run

    if not isinstance(record, RunRecord):
        return None
    try:
        return write_run_curves(Run(job_dir, record.data))
    except Exception as e:  # a plotting failure must not fail a finished run
        log.warning("curves.png not written: %s", e)
        return None


def _inference_inputs(model: Any, datamodule: Any, record: Record) -> list[str] | None:
    """The dev data of an audio LLM run (what `lalm-infer` scores), None for models that do not decode."""
    from lalm_framework.data.seam import HasInferenceInputs, Transcriber

    if not isinstance(model, Transcriber):
        return None
    inputs = datamodule.inference_inputs() if isinstance(datamodule, HasInferenceInputs) else None
    # lalm-infer reads split folders and JSONL manifests; Lhotse cuts and Shar shards it does not
    return inputs or ["<audio folder or manifest.jsonl>"]


def _objective(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """Best value of the monitored metric over the run (last value if nothing checkpointed on it)."""
    value = metrics.get(f"{cfg.monitor}_best", metrics.get(cfg.monitor))
    if value is None:
        log.warning("monitor '%s' was never logged; logged metrics: %s", cfg.monitor, sorted(metrics))
        return None
    if not math.isfinite(value):
        log.warning("monitor '%s' is %s", cfg.monitor, value)
    return value
