"""Per-epoch curves as a PNG: the losses in one panel, each other metric in its own.

matplotlib is imported when a plot is drawn (Agg: no display needed), never at module import.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lalm_framework.runs.records import CURVES_NAME, Run

# per-epoch row fields that are not metrics
_NOT_METRICS = ("epoch", "step", "seconds")


def panels(histories: Sequence[Sequence[dict[str, float]]]) -> list[list[str]]:
    """Metric names per panel: every `*loss` together first, then one panel per other metric."""
    names = sorted({k for rows in histories for row in rows for k in row if k not in _NOT_METRICS})
    losses = [n for n in names if n.rsplit("/", 1)[-1].endswith("loss")]
    return ([losses] if losses else []) + [[n] for n in names if n not in losses]


def plot_curves(runs: Sequence[tuple[str, Sequence[dict[str, float]]]], out: Path, title: str = "") -> Path | None:
    """Draw each (label, per-epoch rows) of `runs` into `out`; None (nothing written) without epochs.

    Example: `plot_curves([("lr=3e-4", run.epochs)], Path("curves.png"))`.
    """
    histories = [rows for _, rows in runs]
    groups = panels(histories)
    if not groups:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    cols = min(len(groups), 3)
    nrows = math.ceil(len(groups) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.5 * cols, 3.4 * nrows), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, names in zip(axes.flat, groups, strict=False):
        for i, (label, rows) in enumerate(runs):
            for j, name in enumerate(names):
                points = [(row["epoch"], row[name]) for row in rows if name in row and math.isfinite(row[name])]
                if not points:
                    continue
                x, y = zip(*points, strict=True)
                style: dict[str, Any] = {"marker": "." if len(points) < 30 else None}
                if len(runs) > 1:  # a colour per run, a line style per metric
                    style.update(color=colours[i % len(colours)], linestyle=("-", "--", ":", "-.")[j % 4])
                    shown = f"{label} {name}" if len(names) > 1 else label
                else:
                    shown = name
                ax.plot(x, y, label=shown, **style)
        ax.set_title(" / ".join(names) if len(names) < 3 else "loss")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    for ax in list(axes.flat)[len(groups) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    from lalm_framework.utils.files import atomic_write

    atomic_write(out, lambda f: fig.savefig(f, format="png", dpi=100))  # a reader never sees half a PNG
    plt.close(fig)
    return out


def write_run_curves(run: Run) -> Path | None:
    """`curves.png` in the run's dir from its record's per-epoch metrics (None without epochs)."""
    return plot_curves([(run.task, run.epochs)], run.job_dir / CURVES_NAME, title=str(run.job_dir.name))
