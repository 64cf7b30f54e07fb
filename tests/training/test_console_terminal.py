"""The console of the default `lalm-train` run, as a real terminal shows it at 80 and 120 columns.

Lightning and Rich behave differently on a terminal than on a pipe (a live progress bar redrawn
with carriage returns and cursor moves, output wrapped to the width), so the README's first
command runs here on a pseudo-terminal of each width, as a user types it (no PYTHONWARNINGS, no
COLUMNS), shortened to `trainer.max_epochs=2`. Its bytes are rendered by a terminal emulator
(pyte) twice: at the real width (what the user sees) and at a width nothing reaches, where each
printed line is one row (tmux's `capture-pane -J`): a line that soft-wraps on the real terminal
is then one row wider than the columns, and a line that Rich broke in two is two rows.

Every line must be one of: a timestamped log record `[12:04:31] ...` (INFO: no level shown), a row
of Rich's model summary table, its `Params:`/`Modules:` lines, or the progress bar and its metric
rows. Anything else (a Python or Lightning warning, a traceback, half a line wrapped by Rich) fails,
so a new warning of a future library version fails this test too, and so does any line that looks
like a warning (`ALLOWED_WARNING_LIKE` lists the accepted ones: none today). Only a line holding an
absolute path may be wider than the terminal (a path cannot be shortened), and only if it fits
without its paths.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lalm_framework.trainer_addons.reporting import EpochMetricsLog
from lalm_framework.utils.console_log import ConsoleFormatter, quiet_known_noise
from tests.helpers import VENV_BIN

pyte = pytest.importorskip("pyte")

# the terminal tests are slow: two short trainings, about 1.5 minutes each on 2 loaded cores

EPOCHS = 2
ROWS = 50
UNWRAPPED = 2000  # columns of the second rendering: no line of the run reaches them
STAMP = r"\[\d\d:\d\d:\d\d\] "
# third-party lines that are no warning but noise in our console (litlogger ad, TPU line, ...)
KNOWN_NOISE = (
    r"litlogger|lightning\.ai|Tip: ",
    r"\bv_num\b",
    r"FLOPs",
    r"(TPU|HPU) available",
    r"GPU available but not used",
    r"log_every_n_steps",
    r"does not have many workers",
    r"LeafSpec|_pytree",
    r"srun",
    r"Loading `train_dataloader`",
)
WARNING_LIKE = re.compile(r"(?i)warn|deprecat|\bhint\b|traceback|error|exception")
ALLOWED_WARNING_LIKE: tuple[str, ...] = ()  # regexes of warning-looking lines we accept, with why
BOX = "┏┃┡│└"  # the rows of Rich's model summary table
BAR = re.compile(r"^Epoch \d+/\d+ .*━")  # Lightning's Rich progress bar, left after training
# a record's time after other text; Hydra's own format too (`...val/wer: 1.000[2026-12-06 21:04:12,049][...`)
GLUED = r"\S.*\[(\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d(,\d+)?\]"
BAR_FRAGMENT = r"━ *\d+/\d+|\d+/\d+ \d+:\d\d:\d\d|\d it/s"  # its blocks, count, times or speed
BAR_METRICS = re.compile(r"^\s+(\S+: \S+\s*)+$")  # the bar's metrics that Rich moved to rows below it
SUMMARY = (  # the run's closing lines, after the last epoch
    "Run finished. Output dir: ",
    "Best checkpoint: ",
    "Transcribe with it: lalm-infer ",
    "Curves: ",
    "TensorBoard: tensorboard --logdir ",
)


@dataclass
class Console:
    columns: int
    returncode: int
    seconds: float
    screen: list[str]  # the rows as the terminal shows them, history included
    lines: list[str]  # each printed line on one row (rendered without wrapping)


def _render(data: str, columns: int) -> list[str]:
    screen = pyte.HistoryScreen(columns, ROWS, history=100_000)
    pyte.Stream(screen).feed(data)
    rows = [line for line in screen.history.top] + [screen.buffer[y] for y in range(ROWS)]
    text = ["".join(row[x].data for x in range(columns)).rstrip() for row in rows]
    while text and not text[-1]:
        text.pop()
    return text


def run_on_terminal(args: list[str], cwd: Path, columns: int, timeout: float = 600) -> Console:
    """Run `lalm-train args` from `cwd` on a pseudo-terminal `columns` wide, as on a new machine
    (an empty cache: the first run's console); what the terminal shows."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR")}
    env.pop("PYTHONWARNINGS", None)  # a user's shell shows every warning
    env.pop("HYDRA_FULL_ERROR", None)
    env.update({"TERM": "xterm-256color", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    env["LALM_CACHE_DIR"] = str(cwd / "cache")
    start = time.monotonic()
    proc = subprocess.Popen(
        [str(VENV_BIN / "lalm-train"), *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=cwd,
        env=env,
        start_new_session=True,  # its own session: the pty becomes its controlling terminal
    )
    os.close(slave)
    out = bytearray()
    try:
        while True:
            if time.monotonic() - start > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                raise AssertionError(f"lalm-train ran over {timeout}s:\n{out[-3000:].decode(errors='replace')}")
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
        proc.wait(timeout=60)
    data = out.decode("utf-8", errors="replace")
    return Console(columns, proc.returncode, time.monotonic() - start, _render(data, columns), _render(data, UNWRAPPED))


@pytest.fixture(scope="module", params=[80, 120], ids=lambda c: f"{c}cols")
def console(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Console:
    cwd = tmp_path_factory.mktemp(f"console{request.param}")
    got = run_on_terminal([f"trainer.max_epochs={EPOCHS}"], cwd, request.param)
    print(f"\n{request.param} columns: {got.seconds:.0f}s, exit {got.returncode}")
    assert got.returncode == 0, "\n".join(got.screen[-60:])
    return got


def _shown(console: Console) -> str:
    return f"--- the terminal at {console.columns} columns ---\n" + "\n".join(console.screen)


def _kind(line: str) -> str | None:
    if re.match(STAMP, line):
        return "record"
    if line[:1] in BOX:
        return "table"
    if line.startswith(("Params: ", "Modules: ")):
        return "summary"
    if BAR.match(line):
        return "bar"
    if BAR_METRICS.match(line):
        return "bar metrics"
    return None


@pytest.mark.slow
def test_every_line_is_ours_a_record_or_richs(console: Console) -> None:
    """No warning, traceback or stray fragment: each line is of a kind we print."""
    kinds = [_kind(line) for line in console.lines]
    strays = [line for line, kind in zip(console.lines, kinds, strict=True) if kind is None]
    assert not strays, f"lines of no known kind (a warning? half a wrapped line?): {strays}\n{_shown(console)}"
    for i, kind in enumerate(kinds):  # the bar's metric rows only right under the bar
        if kind == "bar metrics":
            assert kinds[i - 1] in ("bar", "bar metrics"), f"{console.lines[i]!r}\n{_shown(console)}"
    assert kinds.count("bar") == 1, _shown(console)  # the final bar stays; the validation bars go
    assert kinds.count("table") >= 4 and kinds.count("summary") == 2, _shown(console)


@pytest.mark.slow
def test_no_known_third_party_noise_and_no_warning(console: Console) -> None:
    for line in console.lines:
        noise = [p for p in KNOWN_NOISE if re.search(p, line)]
        assert not noise, f"known third-party noise {noise}: {line!r}\n{_shown(console)}"
        if WARNING_LIKE.search(line) and not any(re.search(p, line) for p in ALLOWED_WARNING_LIKE):
            raise AssertionError(f"a warning-looking line: {line!r}\n{_shown(console)}")
        if re.match(STAMP, line):  # INFO shows no level; any other level is a warning or worse
            assert not re.match(STAMP + r"(WARNING|ERROR|CRITICAL) ", line), f"{line!r}\n{_shown(console)}"


@pytest.mark.slow
def test_one_metrics_line_per_epoch_each_on_one_row(console: Console) -> None:
    epochs = [re.match(STAMP + r"epoch (\d+)/(\d+): ", line) for line in console.lines]
    found = [(int(m[1]), int(m[2])) for m in epochs if m]
    assert found == [(e, EPOCHS - 1) for e in range(EPOCHS)], _shown(console)
    for line in console.lines:
        if re.match(STAMP + r"epoch \d+/\d+: ", line):
            assert "train/loss " in line and "val/loss " in line and re.search(r"val/wer [\d.]+%$", line), line
            assert len(line) <= console.columns, f"the epoch line wraps: {line!r}"
    on_screen = [row for row in console.screen if re.match(STAMP + r"epoch \d+/\d+: ", row)]
    assert on_screen == [line for line in console.lines if re.match(STAMP + r"epoch \d+/\d+: ", line)]


@pytest.mark.slow
def test_no_glued_lines(console: Console) -> None:
    """Two records, or a record and the bar, never share a line (on the screen or as printed)."""
    for line in console.lines + console.screen:
        assert not re.search(GLUED, line), f"two lines glued into one: {line!r}\n{_shown(console)}"
        if re.match(STAMP, line) or _kind(line) in ("table", "summary"):
            assert not re.search(BAR_FRAGMENT, line), f"the bar in a line: {line!r}\n{_shown(console)}"


@pytest.mark.slow
def test_lines_fit_the_width_but_for_paths(console: Console) -> None:
    """A wider line soft-wraps mid-word: only a path, which cannot be shortened, may cause it."""
    for line in console.lines:
        if len(line) > console.columns:
            without_paths = re.sub(r"(?<!\S)/\S+", "", line)
            assert without_paths != line and len(without_paths) <= console.columns, (
                f"a line of {len(line)} characters on a {console.columns}-column terminal: {line!r}"
            )


@pytest.mark.slow
def test_the_run_ends_with_its_summary(console: Console) -> None:
    last_epoch = max(i for i, line in enumerate(console.lines) if re.match(STAMP + r"epoch \d+/", line))
    after = [re.sub(STAMP, "", line) for line in console.lines[last_epoch + 1 :]]
    for start in SUMMARY:
        assert any(line.startswith(start) for line in after), f"no {start!r} after the last epoch\n{_shown(console)}"
    assert any(re.match(r"  dev \(epoch \d+, step \d+\): WER ", line) for line in after), _shown(console)


def test_the_default_runs_epoch_line_fits_80_columns_at_its_last_epoch(caplog: pytest.LogCaptureFixture) -> None:
    """The terminal tests see epochs 0-1; the default runs 80, and a wider line would wrap under the bar."""
    import pytorch_lightning as pl

    with quiet_known_noise():  # as the runner builds it
        trainer = pl.Trainer(max_epochs=80, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.fit_loop.epoch_progress.current.completed = 79
    metrics = {"train/loss": 0.01234, "val/loss": 0.5678, "val/wer": 1.0}  # the widest values of each
    with caplog.at_level("INFO", logger="lalm_framework.trainer_addons.reporting"):
        EpochMetricsLog().epoch_ended(trainer, metrics)
    (record,) = [r for r in caplog.records if r.name == "lalm_framework.trainer_addons.reporting"]
    line = ConsoleFormatter().format(record)
    assert re.fullmatch(STAMP + r"epoch 79/79: train/loss 0.01234  val/loss 0.5678  val/wer 100.0%", line), line
    assert len(line) <= 80
