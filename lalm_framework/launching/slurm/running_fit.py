"""The fit running in this SLURM job, for submitit's `checkpoint()` hook (light: no Lightning).

`requeue.SaveOnTermination` registers itself here when a fit starts and leaves when it ends;
`launcher.save_for_requeue` (called by the signal handler) saves through whoever is registered.
The job's launcher side never imports Lightning for this: no fit registered, nothing to save.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lalm_framework.launching.protocol import FitSaver

log = logging.getLogger(__name__)

# the saver of the fit running in this process (one fit at a time)
_running: FitSaver | None = None


def hold(saver: FitSaver) -> None:
    """`saver`'s fit has started: a warning signal from now on saves through it."""
    global _running
    _running = saver


def release(saver: FitSaver) -> None:
    """`saver`'s fit has ended (a later fit may already have taken its place)."""
    global _running
    if _running is saver:
        _running = None


def save(why: str) -> Path | None:
    """Save the running fit's state (None when no fit runs: set-up, testing, no Lightning)."""
    if _running is None:
        log.warning("%s: no training running, nothing to save before the requeue", why)
        return None
    return _running.save(why)
