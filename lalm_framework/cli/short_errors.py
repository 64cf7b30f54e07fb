"""Short error reports for `@hydra.main` apps: the problem and the fix in a few lines, no traceback.

Hydra prints every error of a Hydra app through one function; `install()` wraps it so that config
and data mistakes read as one message (`lalm_framework.errors.describe`), while genuine crashes
keep Hydra's own (stripped) traceback. HYDRA_FULL_ERROR=1 still shows everything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from lalm_framework.compat.private_api import RunAndReport, wrap_run_and_report
from lalm_framework.errors import UserError, describe, exit_with_message, full_error_requested


def short_report(original: RunAndReport) -> RunAndReport:
    """Wrap Hydra's error reporter so user mistakes print as one short message."""

    def run_and_report(func: Callable[[], Any]) -> Any:
        try:
            return func()
        except Exception as ex:
            error = ex
            message = None if full_error_requested() else describe(_unwrap(error))
            if message is None:
                return original(lambda: _reraise(error))
            exit_with_message(message)

    return run_and_report


def _unwrap(ex: BaseException) -> BaseException:
    # a job's own exception arrives wrapped by hydra's launch machinery in some paths
    seen = 0
    while not isinstance(ex, UserError) and isinstance(ex.__cause__, UserError) and seen < 5:
        ex, seen = ex.__cause__, seen + 1
    return ex


def _reraise(ex: BaseException) -> NoReturn:
    raise ex


def install() -> None:
    """Route Hydra's error reporting through `short_report` (idempotent)."""
    wrap_run_and_report(short_report)
