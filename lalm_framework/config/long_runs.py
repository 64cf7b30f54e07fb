"""A notice before a sweep or logger command that would train every job for the full default epochs.

It changes nothing that runs: it says, once, how much that is and how to try a short one first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

# trainer.max_epochs of train.yaml, and what an epoch of the default job (model=tiny on
# dataset=sample) takes on one core of a 2-vCPU machine (README: ~10 min for 80 epochs)
DEFAULT_MAX_EPOCHS = 80
DEFAULT_EPOCH_S = 7.5


def long_default_notice(jobs: Sequence[DictConfig], overrides: Sequence[Sequence[str]]) -> str | None:
    """`3 jobs × 80 epochs, ~30 min ...` when every job trains the default epochs; else None.

    Example: `long_default_notice(composed, [["lr=1e-4"], ["lr=3e-4"]])`.
    """
    if not jobs or any(_sets_epochs(o) for o in overrides):
        return None
    if any(not j.get("train", True) or j.trainer.get("max_epochs") != DEFAULT_MAX_EPOCHS for j in jobs):
        return None
    default_job = not any(o.split("=", 1)[0] in ("model", "dataset", "experiment") for j in overrides for o in j)
    seconds = measured_epoch_seconds(jobs[0]) or (DEFAULT_EPOCH_S if default_job else None)
    n = len(jobs)
    about = f", ~{max(1, round(n * DEFAULT_MAX_EPOCHS * seconds / 60))} min on this machine" if seconds else ""
    return (
        f"{n} job{'s' if n != 1 else ''} × {DEFAULT_MAX_EPOCHS} epochs (the default){about}; "
        "for a short try add trainer.max_epochs=5 (or debug=limit_batches)"
    )


def _sets_epochs(overrides: Sequence[str]) -> bool:
    keys = ("trainer.max_epochs", "trainer.max_steps", "debug")
    return any(o.lstrip("+~").split("=", 1)[0] in keys for o in overrides)


def measured_epoch_seconds(job: DictConfig) -> float | None:
    """Seconds per epoch of earlier completed runs of the same model and data under the launch dir."""
    from omegaconf import OmegaConf

    from lalm_framework.runs.records import find_runs

    try:
        model = OmegaConf.to_container(job.model, resolve=True)
        data = OmegaConf.to_container(job.dataset, resolve=True)
    except Exception:
        return None
    rates = []
    for run in find_runs([Path(d) for d in ("outputs", "multirun") if Path(d).is_dir()])[-50:]:
        epochs = run.epochs
        if run.config.get("model") == model and run.config.get("dataset") == data and len(epochs) >= 2:
            rates.append((epochs[-1]["seconds"] - epochs[0]["seconds"]) / (len(epochs) - 1))
    return sorted(rates)[len(rates) // 2] if rates else None
