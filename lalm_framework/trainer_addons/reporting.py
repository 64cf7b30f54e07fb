"""What a run tells its user and its records: per-epoch metrics, the closing summary, the data used.

- `EpochMetricsLog` (a callback in train.yaml): each epoch's metrics through Python logging, so
  they reach the console and the job's log file (`train.log` under lalm-train).
- `EpochHistory` (added by the runner): each epoch's metrics as a row for run.json (`curves.png`,
  `lalm-runs`).
- `DataFingerprint` (added by the runner): the datamodule's `data_fingerprint()` once its data is
  set up, for run.json. A datamodule MAY define `data_fingerprint(self) -> dict[str, Any]`: per
  split name ("train", "val", "test"), e.g. `{"source": path, "kind": "folder", "utterances": int,
  "files": int, "bytes": int, "sha256": hash of the sorted utterance list}` (docs/user-guide.md);
  two runs on different data then differ there (keys named `drawn_*` count what one attempt drew
  and are left out of that comparison). Without one, the runner's `fallback` gives the
  files and folders the dataset config names (`lalm_framework.utils.path_versions`).
- `summary_lines` / `record_checkpoint`: the run's closing lines and the best checkpoint's path
  in the experiment loggers (an MLflow tag, a W&B summary field).
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

log = logging.getLogger(__name__)


class _EpochEnd(pl.Callback):
    """Each training epoch's scalar metrics (rank 0), for `epoch_ended`; val/* only when it validated."""

    validated = False  # whether this epoch ran validation (else its val/* values are an older epoch's)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.validated = self.validated or not trainer.sanity_checking

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        validated, self.validated = self.validated, False
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        metrics = {}
        for name, value in sorted(trainer.callback_metrics.items()):
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if validated or not name.startswith("val"):
                metrics[name] = number
        self.epoch_ended(trainer, metrics)

    def epoch_ended(self, trainer: pl.Trainer, metrics: dict[str, float]) -> None:
        raise NotImplementedError


class EpochMetricsLog(_EpochEnd):
    """Log every scalar metric at the end of each training epoch (rank 0), one line per epoch.

    Example line: `epoch 3/79: train/loss 1.234  val/loss 1.456  val/wer 21.3%` (error rates,
    `*wer`/`*cer`, in percent; `metric_text` formats each value). The default run's line fits 80
    columns at every epoch (a wider one would wrap under the progress bar); steps are in run.json.
    """

    def epoch_ended(self, trainer: pl.Trainer, metrics: dict[str, float]) -> None:
        values = [t for k, v in metrics.items() if (t := metric_text(k, v))]
        if values:
            # counted from 0 like the progress bar's `Epoch 3/79` and the checkpoints' `epoch003`
            of = f"/{trainer.max_epochs - 1}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
            log.info("epoch %d%s: %s", trainer.current_epoch, of, "  ".join(values))


class EpochHistory(_EpochEnd):
    """Hand each epoch's row (`epoch`, `step`, `seconds` since fit started, the metrics) to `report`.

    The runner adds it: rows go to run.json, which `curves.png` and `lalm-runs` read.
    Example: `EpochHistory(rows.append)`.
    """

    def __init__(self, report: Callable[[dict[str, float]], None]) -> None:
        self.report = report
        self.started = time.monotonic()

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.started = time.monotonic()

    def epoch_ended(self, trainer: pl.Trainer, metrics: dict[str, float]) -> None:
        row = {"epoch": trainer.current_epoch, "step": trainer.global_step, "seconds": time.monotonic() - self.started}
        self.report({**row, **metrics})


def metric_text(name: str, value: Any) -> str | None:
    """`val/wer 21.3%`, `val/loss 1.456`; None for a value that is not a number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if name.rsplit("/", 1)[-1].endswith(("wer", "cer")):
        return f"{name} {100 * number:.1f}%"
    return f"{name} {number:.4g}"


class DataFingerprint(pl.Callback):
    """Hand the datamodule's `data_fingerprint()` to `report` once, after its data is set up (rank 0)."""

    def __init__(
        self, report: Callable[[dict[str, Any]], None], fallback: Callable[[], dict[str, Any]] | None = None
    ) -> None:
        self.report = report
        self.fallback = fallback  # for datamodules without data_fingerprint(): computed once
        self._fallback_value: dict[str, Any] | None = None
        self.done = False

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # Lightning calls the datamodule's setup before the callbacks' setup
        if not self.done:
            self.done = self._report(trainer)

    # what training drew from each source changes as it goes: the record follows at each epoch's
    # end, each checkpoint, the end, and when an attempt stops (a SIGKILL keeps the last)
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._report(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._report(trainer)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        self._report(trainer)  # a killed attempt's record then matches the checkpoint it resumes from

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._report(trainer)

    def _report(self, trainer: pl.Trainer) -> bool:
        datamodule = getattr(trainer, "datamodule", None)  # set by fit/validate/test(datamodule=...)
        fingerprint = getattr(datamodule, "data_fingerprint", None)
        if not trainer.is_global_zero:
            return False
        if callable(fingerprint):
            self.report(fingerprint())
            return True
        if self.fallback is None:
            return False
        if self._fallback_value is None:
            self._fallback_value = self.fallback()
        self.report(self._fallback_value)
        return True


def summary_lines(
    job_dir: Path,
    monitor: str,
    best: tuple[str, float] | None,
    last: float | None,
    infer_inputs: Sequence[str] | None,
) -> list[str]:
    """The closing lines of a run: where it is, its best checkpoint, and how to use that checkpoint."""
    lines = [f"Run finished. Output dir: {job_dir}"]
    if best is not None:
        lines.append(f"Best checkpoint: {best[0]} ({monitor}={best[1]:.6g})")
    if last is not None:
        lines.append(f"Last {monitor}: {last:.6g}")
    if best is not None and infer_inputs:
        lines.append("Transcribe with it: " + shlex.join(["lalm-infer", best[0], *infer_inputs]))
    return lines


def best_metrics_lines(validation: dict[str, Any] | None, tested: dict[str, float]) -> list[str]:
    """The best checkpoint's own metrics, one line per evaluation set.

    `validation`: what the checkpoint keeps of the validation before it was saved
    (`{"epoch", "global_step", "metrics"}`); `tested`: the `test/...` metrics of testing it.
    Example: `  dev clean (epoch 51, step 2496): WER 29.91%  loss 0.4760`.
    """
    lines = []
    if validation and validation.get("metrics"):
        when = f" (epoch {validation.get('epoch')}, step {validation.get('global_step')})"
        lines += _set_lines(validation["metrics"], "val", when)
    lines += _set_lines(tested, "test", "")
    return lines


def _set_lines(metrics: dict[str, float], split: str, when: str) -> list[str]:
    from lalm_framework.scoring import format_metric
    from lalm_framework.trainer_addons.eval_sets import SPLIT_LABELS, split_metrics

    lines = []
    groups = split_metrics(metrics, split)
    for name, values in groups.items():
        # the error rates and scores first, the loss last
        shown = sorted(values.items(), key=lambda kv: (kv[0] == "loss", kv[0]))
        label = f"{SPLIT_LABELS[split]} {name or ('(all sets)' if len(groups) > 1 else '')}".rstrip()
        lines.append(f"  {label}{when}: " + "  ".join(format_metric(k, v) for k, v in shown))
    return lines


def where_to_look_lines(job_dir: Path, curves: Path | None, loggers: Sequence[Any]) -> list[str]:
    """Where to look at the run: its curves, `lalm-runs`, the TensorBoard command for its logs."""
    from pytorch_lightning.loggers import TensorBoardLogger

    lines = [f"Curves: {curves}"] if curves else []
    lines.append("Compare runs: lalm-runs (--compare DIR DIR, --plot DIR DIR)")
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            root = Path(logger.root_dir)
            lines.append("TensorBoard: " + shlex.join(["tensorboard", "--logdir", str(root)]))
    return lines


def data_lines(fingerprint: dict[str, Any]) -> list[str]:
    """What training drew from each train source, and the utterances left out as too long."""
    lines = []
    train = fingerprint.get("train") or {}
    for i, src in enumerate(train.get("sources") or []):
        if "drawn_cuts" in src:
            weight = f", weight {src['weight']:g}" if src.get("weight") is not None else ""
            lines.append(
                f"Train source {i} ({src.get('kind')} {src.get('source')}, task {src.get('task')}{weight}): "
                f"drew {src['drawn_cuts']} cuts, {src['drawn_hours']:.3g} h"
            )
    for split, node in fingerprint.items():
        sets = node.get("sets") if isinstance(node, dict) else None
        for name, entry in (sets or {"": node}).items():
            if isinstance(entry, dict) and entry.get("long_audio_dropped"):
                where = f"{split}/{name}" if name else split
                n = entry["long_audio_dropped"]
                lines.append(f"{where}: {n} utterances longer than the encoder window dropped (long_audio=drop)")
    return lines


def record_checkpoint(loggers: Sequence[Any], path: str) -> None:
    """Leave the best checkpoint's path with each experiment logger that can hold a text value."""
    from pytorch_lightning.loggers import MLFlowLogger, WandbLogger

    for logger in loggers:
        if isinstance(logger, MLFlowLogger):
            logger.experiment.set_tag(logger.run_id, "best_checkpoint", path)
        elif isinstance(logger, WandbLogger):
            logger.experiment.summary["best_checkpoint"] = path
