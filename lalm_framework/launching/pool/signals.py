"""Signalling job processes: shared by the launcher side (process_pool) and the template (worker).

Stdlib only: the template process imports it before anything else.
"""

from __future__ import annotations

import os

# how often the launcher and the template look for job starts and exits (seconds)
POLL_S = 0.005


def kill_group(pid: int, sig: int) -> None:
    """Send `sig` to the process group `pid` leads (a job and everything it started); gone is fine."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def pid_alive(pid: int) -> bool:
    """True while a process `pid` exists (a zombie counts until it is reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
