"""User-facing errors, and the one way every command words them: the problem and the fix, no traceback.

The bottom layer of the package: configs, data, launchers and the CLI all raise `UserError` and
format foreign exceptions with `describe`. `HYDRA_FULL_ERROR=1` shows full tracebacks instead.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterable
from typing import NoReturn

FULL_ERROR_HINT = "(set HYDRA_FULL_ERROR=1 for the full traceback)"
# Trainer arguments of Lightning 1.x that configs carry over, and what replaced them
RENAMED_KEYS = {
    "resume_from_checkpoint": "trainer.ckpt_path (the checkpoint fit resumes from)",
    "gpus": "trainer.devices (with trainer.accelerator=gpu)",
    "checkpoint_callback": "trainer.enable_checkpointing",
    "progress_bar_refresh_rate": "trainer.enable_progress_bar",
    "weights_summary": "trainer.enable_model_summary",
    "terminate_on_nan": "trainer.detect_anomaly",
}


class UserError(Exception):
    """A mistake in the user's config, data or command. The message names the problem and the fix."""


def suggest(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to `word`, if any is close enough to be a likely typo.

    >>> suggest("max_epoch", ["max_epochs", "min_epochs", "devices"])
    'max_epochs'
    """
    matches = difflib.get_close_matches(word, [str(c) for c in candidates], n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """' Did you mean 'x' or 'y'?' for the (up to two) closest candidates, or ''."""
    close = difflib.get_close_matches(word, [str(c) for c in candidates], n=2, cutoff=0.6)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def renamed_trainer_key(key: str) -> str | None:
    """The message for a Lightning 1.x Trainer argument (`trainer.resume_from_checkpoint`), else None."""
    name = key.removeprefix("trainer.")
    if not key.startswith("trainer.") or name not in RENAMED_KEYS:
        return None
    return f"'{key}' is a Lightning 1.x argument; Lightning 2 calls it {RENAMED_KEYS[name]}.\nUse that key instead."


def describe(ex: BaseException) -> str | None:
    """A short message for a user mistake, or None when `ex` is not one (a real crash)."""
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, MissingMandatoryValue, ValidationError

    cause = ex.__cause__
    if isinstance(ex, UserError):
        return str(ex)
    if isinstance(ex, MissingConfigException):
        first = str(ex).strip().splitlines()[0]
        missing = (ex.missing_cfg_file or "").rsplit("/", 1)[-1]
        options = list(ex.options or [])
        hint = did_you_mean(missing, options) if missing else ""
        listing = f"\nAvailable options: {', '.join(options)}" if options else ""
        return f"{first}.{hint}{listing}"
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and isinstance(ex, ConfigCompositionException):
        key = str(cause.full_key or cause.key)
        parent = cause.parent_node
        known = list(parent.keys()) if parent is not None and hasattr(parent, "keys") else []
        renamed = renamed_trainer_key(key)
        if renamed:
            return renamed
        hint = did_you_mean(str(cause.key), known)
        return (
            f"Unknown config key '{key}'.{hint}\n"
            f"List the keys with `--cfg job`; to add a new key on purpose use +{key}=..."
        )
    if isinstance(cause, ValidationError) and isinstance(ex, ConfigCompositionException):
        msg = str(cause).strip().splitlines()[0]
        return (
            f"Wrong type for '{cause.full_key}': {msg}\nPass a value of the type the schema declares (see `--cfg job`)."
        )
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


def exit_with_message(message: str) -> NoReturn:
    """Print a user mistake the one way all commands do, and exit 1."""
    sys.stderr.write(f"Error: {message}\n{FULL_ERROR_HINT}\n")
    sys.exit(1)


def exit_with(error: UserError) -> NoReturn:
    """Exit 1 with `error`'s message; its traceback too when HYDRA_FULL_ERROR=1."""
    if full_error_requested():
        import traceback

        traceback.print_exception(error)
    exit_with_message(str(error))
