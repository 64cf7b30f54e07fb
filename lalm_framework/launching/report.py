"""What a launcher shows while it runs (the pool's status line) and after (a summary table)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from lalm_framework.errors import UserError

log = logging.getLogger(__name__)


class JobFailed(UserError):
    """A job of a sweep did not complete: names the job, why, and its log.

    A launcher hands it to the sweeper in place of the job's own exception (kept as `__cause__`),
    so `lalm-train -m` ends with its summary table and this short message, not the job's traceback
    (the traceback is in the job's log).
    """


@dataclass
class JobRow:
    """One line of the summary table."""

    idx: int
    overrides: Sequence[str]
    status: str
    metric: Any
    duration_s: float
    log_path: str
    attempts: int = 1


class StatusLine:
    """`running N | done N | failed N | queued N`: redrawn in place on a terminal, logged otherwise."""

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self._last = ""
        self._t0 = time.monotonic()

    def update(self, running: int, done: int, failed: int, queued: int | None) -> None:
        if not self.enabled:
            return
        text = f"[lalm_pool] running {running} | done {done} | failed {failed}"
        if queued is not None:
            text += f" | queued {queued}"
        if text == self._last:
            return
        self._last = text
        if self.tty:
            self.stream.write(f"\r\x1b[2K{text}  ({time.monotonic() - self._t0:.0f} s)")
            self.stream.flush()
        else:
            log.info(text)

    def close(self) -> None:
        if self.tty and self._last:
            self.stream.write("\n")
            self.stream.flush()


def error_line(exc: Any, limit: int = 120) -> str:
    """`Type: first line of the message` of an exception (anything else as text), cut to `limit`."""
    if not isinstance(exc, BaseException):
        return str(exc)
    text = (f"{type(exc).__name__}: {exc}".strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt_metric(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.6g}"
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."


def summary_table(rows: list[JobRow], stream: TextIO | None = None, title: str = "lalm_pool summary") -> str:
    """Print the table (job, overrides, status, metric, duration, log) and return it as text."""
    # rich costs ~0.15 s to import; the sweepers import this module for `error_line` at start-up
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for name, justify in (
        ("job", "right"),
        ("overrides", "left"),
        ("status", "left"),
        ("metric", "right"),
        ("duration", "right"),
        ("log", "left"),
    ):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for r in sorted(rows, key=lambda r: r.idx):
        status = r.status if r.attempts <= 1 else f"{r.status} ({r.attempts} tries)"
        style = "red" if r.status != "COMPLETED" else None
        table.add_row(
            str(r.idx),
            " ".join(r.overrides) or "-",
            status,
            _fmt_metric(r.metric),
            f"{r.duration_s:.1f} s",
            r.log_path,
            style=style,
        )
    stream = stream or sys.stderr
    # in a log file or pipe, one row per line (greppable); on a terminal, fit its width
    width = Console(file=stream).width if stream.isatty() else 1000
    console = Console(file=stream, width=width, soft_wrap=False)
    with console.capture() as cap:
        console.print(table)
    text = cap.get()
    stream.write(text)
    stream.flush()
    return text
