"""`lalm-runs`: past runs and sweeps from their `run.json`, as a table, CSV or JSON; compare and plot.

lalm-runs                              # every run under ./outputs and ./multirun
lalm-runs multirun/train/2026-12-07 --status completed --where lr=3e-4 --sort best
lalm-runs --format csv > runs.csv
lalm-runs --compare DIR_A DIR_B        # config differences and metrics side by side
lalm-runs --plot DIR_A DIR_B DIR_C     # per-epoch curves of the runs overlaid (runs.png)
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lalm_framework.errors import UserError, exit_with
from lalm_framework.runs.records import DEFAULT_ROOTS, Run, find_runs
from lalm_framework.runs.select import differing_overrides, parse_where, select, sort_runs

COLUMNS = ("time", "task", "status", "overrides", "best", "epochs", "dir")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `lalm-runs`."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.compare is not None:
            return _compare([_one_run(d) for d in args.compare])
        if args.plot is not None:
            return _plot([_one_run(d) for d in args.plot], args.out)
        roots = [Path(d) for d in args.dirs] or None
        for root in roots or []:
            if not root.exists():
                raise UserError(f"{root}: no such directory.\nGive a run or sweep dir, e.g. lalm-runs outputs/")
        runs = select(find_runs(roots), args.status or (), parse_where(args.where or ()))
        runs = sort_runs(runs, args.sort, reverse=args.reverse)
    except UserError as e:
        exit_with(e)
    if not runs:
        where = ", ".join(args.dirs) or " and ".join(f"./{d}" for d in DEFAULT_ROOTS)
        sys.stderr.write(f"No runs (run.json) found under {where}" + (" that match." if args.where else ".") + "\n")
        return 0
    rows = table_rows(runs)
    if args.format == "json":
        json.dump(rows, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    elif args.format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    else:
        _print_table(rows, runs)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lalm-runs", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dirs", nargs="*", help="run or sweep dirs to list (default: ./outputs and ./multirun)")
    parser.add_argument("--status", action="append", help="only runs whose last attempt ended so (repeatable)")
    parser.add_argument("--where", action="append", metavar="KEY=VALUE", help="config key, override or metric")
    parser.add_argument("--sort", default="time", help="column, config key or metric (default: time)")
    parser.add_argument("--reverse", action="store_true", help="descending order")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.add_argument("--compare", nargs="+", metavar="DIR", help="two or more job dirs side by side")
    parser.add_argument("--plot", nargs="+", metavar="DIR", help="overlay the per-epoch curves of job dirs")
    parser.add_argument("--out", type=Path, default=Path("runs.png"), help="image of --plot (default: runs.png)")
    return parser


def _one_run(path: str) -> Run:
    job_dir = Path(path)
    if job_dir.name == "run.json":
        job_dir = job_dir.parent
    run = Run.load(job_dir)
    if run is None:
        raise UserError(f"{path}: no readable run.json there.\nGive a job dir (the last column of lalm-runs).")
    return run


def table_rows(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """One plain row per run (the table, CSV and JSON all show these fields)."""
    keys = differing_overrides(runs)
    rows = []
    for run in runs:
        overrides = run.overrides
        rows.append(
            {
                "time": run.started.replace("T", " ")[5:16],  # MM-DD HH:MM: narrow terminals
                "task": run.task,
                "status": run.status,
                "overrides": " ".join(f"{k}={overrides[k]}" for k in keys if k in overrides),
                "monitor": run.monitor,
                "best": run.best,
                "epochs": run.epoch_count,
                "dir": _shown_path(run.job_dir),
            }
        )
    return rows


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _number(value: Any) -> str:
    return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def _print_table(rows: list[dict[str, Any]], runs: Sequence[Run]) -> None:
    from rich.console import Console
    from rich.table import Table

    monitors = {r["monitor"] for r in rows}
    best = f"best {monitors.pop()}" if len(monitors) == 1 else "best"
    table = Table(title=f"{len(rows)} run(s)", title_justify="left", expand=False)
    styles = {"completed": "green", "failed": "red", "killed": "red", "interrupted": "yellow", "pruned": "yellow"}
    for name in COLUMNS:
        header = best if name == "best" else name
        table.add_column(header, justify="right" if name in ("best", "epochs") else "left", overflow="fold")
    for row in rows:
        status = row["status"]
        cells = [_number(row[c]) for c in COLUMNS]
        cells[COLUMNS.index("status")] = f"[{styles.get(status, 'cyan')}]{status}[/]"
        table.add_row(*cells)
    Console().print(table)


def _compare(runs: list[Run]) -> int:
    from rich.console import Console
    from rich.table import Table

    from lalm_framework.runs.compare import config_differences, metrics_side_by_side

    if len(runs) < 2:
        raise UserError("--compare needs two or more job dirs, e.g. lalm-runs --compare DIR_A DIR_B")
    console = Console()
    names = [_shown_path(r.job_dir) for r in runs]
    for i, name in enumerate(names):
        console.print(f"[bold]{chr(65 + i) if i < 26 else i}[/]: {name} ({runs[i].status})")
    labels = [chr(65 + i) if i < 26 else str(i) for i in range(len(runs))]
    config = Table(title="config differences", title_justify="left")
    config.add_column("key")
    for label in labels:
        config.add_column(label, overflow="fold")
    differences = config_differences(runs)
    for key, values in differences:
        config.add_row(key, *(json.dumps(v, default=str) if not isinstance(v, str) else v for v in values))
    console.print(config if differences else "config: no differences")
    metrics = Table(title="metrics", title_justify="left")
    metrics.add_column("metric")
    for label in labels:
        metrics.add_column(label, justify="right")
    for name, values in metrics_side_by_side(runs):
        metrics.add_row(name, *(_number(v) for v in values))
    console.print(metrics)
    return 0


def _plot(runs: list[Run], out: Path) -> int:
    from lalm_framework.runs.curves import plot_curves

    keys = differing_overrides(runs)
    labels = []
    for i, run in enumerate(runs):
        shown = " ".join(f"{k}={run.overrides[k]}" for k in keys if k in run.overrides)
        labels.append(shown or run.job_dir.name or str(i))
    written = plot_curves(list(zip(labels, (r.epochs for r in runs), strict=True)), out)
    if written is None:
        raise UserError("These runs recorded no per-epoch metrics (run.json 'epochs'; older runs have none).")
    print(f"Wrote {written} ({len(runs)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
