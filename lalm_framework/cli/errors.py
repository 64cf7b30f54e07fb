"""Short error reports for the CLI: the problem and the fix in a few lines, no traceback.

Hydra prints user errors through `hydra._internal.utils.run_and_report`; we wrap that one
function so that config and data mistakes read as one message with a suggestion, while genuine
crashes keep Hydra's own (stripped) traceback. HYDRA_FULL_ERROR=1 still shows everything.
"""
from __future__ import annotations

import difflib
import os
import sys
from typing import Any, Callable, Iterable, Optional

from lalm_framework.errors import UserError

FULL_ERROR_HINT = "(set HYDRA_FULL_ERROR=1 for the full traceback)"


def suggest(word: str, candidates: Iterable[str]) -> Optional[str]:
    """The closest candidate to `word`, if any is close enough to be a likely typo."""
    matches = difflib.get_close_matches(word, [str(c) for c in candidates], n=1, cutoff=0.6)
    return matches[0] if matches else None


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, [str(c) for c in candidates], n=2, cutoff=0.6)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def describe(ex: BaseException) -> Optional[str]:
    """A short message for a user mistake, or None when `ex` is not one (a real crash)."""
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
    from omegaconf.errors import (ConfigAttributeError, ConfigKeyError, MissingMandatoryValue,
                                  ValidationError)

    cause = ex.__cause__
    if isinstance(ex, UserError):
        return str(ex)
    if isinstance(ex, MissingConfigException):
        first = str(ex).strip().splitlines()[0]
        missing = (ex.missing_cfg_file or "").rsplit("/", 1)[-1]
        options = list(ex.options or [])
        hint = _did_you_mean(missing, options) if missing else ""
        listing = f"\nAvailable options: {', '.join(options)}" if options else ""
        return f"{first}.{hint}{listing}"
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and isinstance(ex, ConfigCompositionException):
        key = str(cause.full_key or cause.key)
        parent = cause.parent_node
        known = list(parent.keys()) if parent is not None and hasattr(parent, "keys") else []
        hint = _did_you_mean(str(cause.key), known)
        return (f"Unknown config key '{key}'.{hint}\n"
                f"List the keys with `--cfg job`; to add a new key on purpose use +{key}=...")
    if isinstance(cause, ValidationError) and isinstance(ex, ConfigCompositionException):
        msg = str(cause).strip().splitlines()[0]
        return f"Wrong type for '{cause.full_key}': {msg}\nPass a value of the type the schema declares (see `--cfg job`)."
    if isinstance(ex, MissingMandatoryValue) or isinstance(cause, MissingMandatoryValue):
        err = ex if isinstance(ex, MissingMandatoryValue) else cause
        key = getattr(err, "full_key", "") or "?"
        return f"Missing mandatory value '{key}'.\nSet it on the command line ({key}=...) or in your config."
    if isinstance(ex, (OverrideParseException, ConfigCompositionException)):
        text = str(ex).strip()
        if isinstance(cause, Exception) and str(cause).strip():
            text += "\n" + str(cause).strip().splitlines()[0]
        return text
    return None


def full_error_requested() -> bool:
    """True when the user asked for full tracebacks (HYDRA_FULL_ERROR=1), in any of our commands."""
    return os.environ.get("HYDRA_FULL_ERROR", "") not in ("", "0")


def exit_with_message(message: str) -> None:
    """Print a user mistake the one way all commands do, and exit 1."""
    sys.stderr.write(f"Error: {message}\n{FULL_ERROR_HINT}\n")
    sys.exit(1)


def short_report(original: Callable[[Callable[[], Any]], Any]) -> Callable[[Callable[[], Any]], Any]:
    """Wrap Hydra's `run_and_report` so user mistakes print as one short message."""

    def run_and_report(func: Callable[[], Any]) -> Any:
        try:
            return func()
        except Exception as ex:  # noqa: BLE001 - we re-raise what we do not recognise
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


def _reraise(ex: BaseException) -> Any:
    raise ex


def install() -> None:
    """Route Hydra's error reporting through `short_report` (idempotent)."""
    import hydra._internal.utils as hydra_utils

    if not getattr(hydra_utils.run_and_report, "_lalm_short", False):
        wrapped = short_report(hydra_utils.run_and_report)
        wrapped._lalm_short = True  # type: ignore[attr-defined]
        hydra_utils.run_and_report = wrapped
