"""What a sweep leaves in its sweep dir: best params/value (YAML), all trials (CSV), plots (PNG + HTML).

Rewritten (atomically) at the end of every run of the study, so a resumed sweep's files describe
the whole study. Plots need at least one finished trial; a plot that cannot be drawn is skipped
with a warning, never failing the sweep.
"""

from __future__ import annotations

import csv
import io
import logging
import warnings
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf
from optuna.trial import FrozenTrial, TrialState

from lalm_framework.tuning.storage import dashboard_command
from lalm_framework.utils.files import atomic_write

log = logging.getLogger(__name__)

RESULTS_FILE = "optimization_results.yaml"
TRIALS_FILE = "trials.csv"
PLOTS_DIR = "plots"


def write_results(study: optuna.Study, sweep_dir: Path, storage_url: str, plots: bool = True) -> Path:
    """Write the results file, the trials CSV and (optionally) the plots; returns the results file."""
    trials = study.get_trials(deepcopy=False)
    results = sweep_dir / RESULTS_FILE
    atomic_write(results, OmegaConf.to_yaml(OmegaConf.create(best_summary(study, trials, storage_url))), masked=True)
    atomic_write(sweep_dir / TRIALS_FILE, trials_csv(trials, len(study.directions)), masked=True)
    if plots:
        write_plots(study, sweep_dir / PLOTS_DIR)
    return results


def best_summary(study: optuna.Study, trials: list[FrozenTrial], storage_url: str) -> dict[str, Any]:
    """Best params/value (single objective) or the Pareto front (several), plus state counts."""
    counts = {s.name: sum(t.state == s for t in trials) for s in TrialState if any(t.state == s for t in trials)}
    out: dict[str, Any] = {
        "name": "lalm_optuna",
        "study_name": study.study_name,
        "storage": storage_url,
        "dashboard": dashboard_command(storage_url),
        "directions": [d.name.lower() for d in study.directions],
        "trials": counts,
    }
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        out["best_params"] = None
        return out
    if len(study.directions) == 1:
        best = study.best_trial
        out.update(best_params=dict(best.params), best_value=best.value, best_trial=_trial_info(best))
    else:
        out["solutions"] = [dict(_trial_info(t), values=list(t.values)) for t in study.best_trials]
    return out


def _trial_info(trial: FrozenTrial) -> dict[str, Any]:
    return {"number": trial.number, "params": dict(trial.params), "job_dir": trial.user_attrs.get("job_dir")}


def trials_csv(trials: list[FrozenTrial], n_objectives: int) -> str:
    """All trials, one row each: number, state, value(s), duration, params_*, user attributes."""
    params = sorted({p for t in trials for p in t.params})
    attrs = sorted({a for t in trials for a in t.user_attrs if a != "overrides"})
    values = ["value"] if n_objectives == 1 else [f"values_{i}" for i in range(n_objectives)]
    header = [
        "number",
        "state",
        *values,
        "datetime_start",
        "datetime_complete",
        "duration_s",
        "last_step",
        *[f"params_{p}" for p in params],
        *attrs,
    ]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for t in trials:
        vals = list(t.values) if t.values is not None else []
        vals += [""] * (len(values) - len(vals))
        duration = t.duration.total_seconds() if t.duration is not None else ""
        writer.writerow(
            [
                t.number,
                t.state.name,
                *vals,
                t.datetime_start or "",
                t.datetime_complete or "",
                duration,
                t.last_step if t.last_step is not None else "",
                *[t.params.get(p, "") for p in params],
                *[t.user_attrs.get(a, "") for a in attrs],
            ]
        )
    return buf.getvalue()


def write_plots(study: optuna.Study, plots_dir: Path) -> list[Path]:
    """PNG (matplotlib) and HTML (plotly) of the optimisation history, importances, learning curves."""
    finished = [t for t in study.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    if not finished:
        return []
    plots_dir.mkdir(parents=True, exist_ok=True)
    single = len(study.directions) == 1
    complete = sum(t.state == TrialState.COMPLETE for t in finished)
    wanted = []
    if single and complete:
        wanted.append("optimization_history")
    if single and complete >= 2 and any(t.params for t in finished):
        wanted.append("param_importances")
    if any(t.intermediate_values for t in finished):
        wanted.append("intermediate_values")
    if not single and complete and len(study.directions) in (2, 3):
        wanted.append("pareto_front")
    written = []
    for name in wanted:
        written += _plot(study, name, plots_dir)
    return written


def _plot(study: optuna.Study, name: str, plots_dir: Path) -> list[Path]:
    written = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # matplotlib backends are "experimental" in Optuna
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            from optuna.visualization import matplotlib as mpl_vis

            ax = getattr(mpl_vis, f"plot_{name}")(study)
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            png = plots_dir / f"{name}.png"
            fig.savefig(png, bbox_inches="tight")
            plt.close(fig)
            written.append(png)
        except Exception as e:
            log.warning("Plot %s.png skipped: %s", name, e)
        try:
            from optuna import visualization as plotly_vis

            html = plots_dir / f"{name}.html"
            # plotly.min.js written once beside the pages: they open offline, stay small
            getattr(plotly_vis, f"plot_{name}")(study).write_html(str(html), include_plotlyjs="directory")
            written.append(html)
        except Exception as e:
            log.warning("Plot %s.html skipped: %s", name, e)
    return written
