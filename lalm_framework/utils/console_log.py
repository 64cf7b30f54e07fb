"""The console of a `lalm-train` job: short log lines that never collide with the progress bar,
and the known third-party noise left out while our code runs.

`train_hydra.yaml` makes Hydra's console handler a `LiveStreamHandler` with a `ConsoleFormatter`
(the job's `train.log` keeps Hydra's full format). `quiet_known_noise()` is entered by the
runner around one job: it hides a fixed list of messages (nothing else), and only for that job,
so the user's own warnings and those of other libraries still show.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import warnings
from collections.abc import Iterator
from typing import IO, Any

# (message regex, why it is noise for our users); matched against warnings of any category
KNOWN_WARNINGS: tuple[tuple[str, str], ...] = (
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", "Lightning 2.6 calling torch's pytree, twice a run"),
    # on any machine with `srun` (a SLURM login node): our SLURM launchers submit through submitit
    (r"The `srun` command is available on your system but is not used", "Lightning's SLURM hint, not ours"),
    # its `Trainer(accelerator='gpu')` advice is not how our CLI picks a GPU (`trainer=gpu`), and
    # Lightning's "GPU available: True (cuda), used: False" line just before it stays
    (r"GPU available but not used", "Lightning's hint for its own Trainer API"),
)
# only while evaluating a checkpoint of another run (train=false): its callbacks' dirs differ by design
EVALUATION_WARNINGS: tuple[tuple[str, str], ...] = (
    (r"The dirpath has changed from", "ModelCheckpoint restoring state it does not use when not training"),
)
# log records (logger name, message regex)
KNOWN_LOG_RECORDS: tuple[tuple[str, str], ...] = (
    ("pytorch_lightning.utilities.rank_zero", r"Tip: For seamless cloud logging"),  # the litlogger ad
    ("pytorch_lightning.utilities.rank_zero", r"Trainer already configured with model summary"),  # ours
    ("pytorch_lightning.utilities.rank_zero", r"^TPU available: False"),  # on every machine without one
    ("pytorch_lightning.utilities.rank_zero", r"^Loading `train_dataloader` to estimate number of stepping"),
)


class LiveStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A `StreamHandler` that writes to `sys.stdout`/`sys.stderr` as they are at each record.

    Rich's live progress bar swaps `sys.stdout` for a proxy that prints above the bar; a handler
    holding the original stream (Hydra's default) writes into the bar's line instead.
    Example (dictConfig): `{"class": "lalm_framework.utils.console_log.LiveStreamHandler",
    "stream": "ext://sys.stdout"}`.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream)
        self._use_stderr = stream is sys.stderr or stream is sys.__stderr__

    @property
    def stream(self) -> IO[str]:
        return sys.stderr if self._use_stderr else sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__/setStream assign it
        pass


class ConsoleFormatter(logging.Formatter):
    """`[12:04:31] message` for INFO; `[12:04:31] WARNING logger: message` for other levels.

    Example, as the formatter of a dictConfig:
    `{"()": "lalm_framework.utils.console_log.ConsoleFormatter"}`.
    """

    def __init__(self) -> None:
        super().__init__("[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
        # other levels: a second formatter (a Formatter's format string is fixed at construction)
        self._detailed = logging.Formatter("[%(asctime)s] %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record) if record.levelno == logging.INFO else self._detailed.format(record)


class _DropRecords(logging.Filter):
    def __init__(self, pattern: str) -> None:
        super().__init__()
        self.pattern = re.compile(pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.search(record.getMessage())


@contextlib.contextmanager
def quiet_known_noise(evaluating: bool = False) -> Iterator[None]:
    """Hide `KNOWN_WARNINGS` and `KNOWN_LOG_RECORDS` (and, when `evaluating`, `EVALUATION_WARNINGS`).

    Example: `with quiet_known_noise(): trainer.fit(...)`; filters end with the block.
    """
    filters = []
    for name, pattern in KNOWN_LOG_RECORDS:
        drop = _DropRecords(pattern)
        logging.getLogger(name).addFilter(drop)
        filters.append((name, drop))
    try:
        with warnings.catch_warnings():
            for pattern, _why in KNOWN_WARNINGS + (EVALUATION_WARNINGS if evaluating else ()):
                warnings.filterwarnings("ignore", message=f".*{pattern}")
            yield
    finally:
        for name, drop in filters:
            logging.getLogger(name).removeFilter(drop)
