"""User-facing errors, and the one way every command words them: the problem and the fix, no traceback.

The bottom layer of the package: configs, data, launchers and the CLI all raise `UserError` and
format foreign exceptions with `describe`. `HYDRA_FULL_ERROR=1` shows full tracebacks instead.
"""

from __future__ import annotations

import difflib
import errno
import os
import re
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


MAX_LINES = 12  # with "Error: " and the hint line, and Hydra's one-line job header: <= 15
MAX_LINE_CHARS = 400


def describe(ex: BaseException) -> str | None:
    """A short message for a user mistake, or None when `ex` is not one (a real crash).

    Every message is at most `MAX_LINES` lines; unknown composition errors are shortened too.
    """
    for rule in _RULES:
        message = rule(ex)
        if message is not None:
            return _clamp(message)
    return None


def _user_error(ex: BaseException) -> str | None:
    # a UserError a framework tripped over while cleaning up (Lightning's teardown) is still the cause
    found = next((e for e in _chain(ex) if isinstance(e, UserError)), None)
    return str(found) if found is not None else None


def _missing_config(ex: BaseException) -> str | None:
    from hydra.errors import MissingConfigException

    if not isinstance(ex, MissingConfigException):
        return None
    first = str(ex).strip().splitlines()[0]
    missing = (ex.missing_cfg_file or "").rsplit("/", 1)[-1]
    options = list(ex.options or [])
    hint = did_you_mean(missing, options) if missing else ""
    listing = f"\nAvailable options: {', '.join(options)}" if options else ""
    return f"{first}.{hint}{listing}"


def _unknown_key(ex: BaseException) -> str | None:
    from hydra.errors import ConfigCompositionException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    cause = ex.__cause__
    if not (isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and isinstance(ex, ConfigCompositionException)):
        return None
    key = str(cause.full_key or cause.key)
    parent = cause.parent_node
    known = list(parent.keys()) if parent is not None and hasattr(parent, "keys") else []
    renamed = renamed_trainer_key(key)
    if renamed:
        return renamed
    hint = did_you_mean(str(cause.key), known)
    return (
        f"Unknown config key '{key}'.{hint}\nList the keys with `--cfg job`; to add a new key on purpose use +{key}=..."
    )


def _wrong_type(ex: BaseException) -> str | None:
    from hydra.errors import ConfigCompositionException
    from omegaconf.errors import ValidationError

    cause = ex.__cause__
    if not (isinstance(cause, ValidationError) and isinstance(ex, ConfigCompositionException)):
        return None
    msg = str(cause).strip().splitlines()[0]
    return f"Wrong type for '{cause.full_key}': {msg}\nPass a value of the type the schema declares (see `--cfg job`)."


def _missing_value(ex: BaseException) -> str | None:
    from omegaconf.errors import MissingMandatoryValue

    err = ex if isinstance(ex, MissingMandatoryValue) else ex.__cause__
    if not isinstance(err, MissingMandatoryValue):
        return None
    key = getattr(err, "full_key", "") or "?"
    return f"Missing mandatory value '{key}'.\nSet it on the command line ({key}=...) or in your config."


# what an override value may leave open, checked in this order
_OPENERS = (
    ("${", "}", "an interpolation '${' is not closed with '}'"),
    ("[", "]", "a list '[' is not closed with ']'"),
    ("(", ")", "a '(' is not closed with ')'"),
    ("{", "}", "a dict '{' is not closed with '}'"),
)


def _override_syntax(ex: BaseException) -> str | None:
    from hydra.errors import OverrideParseException

    if not isinstance(ex, OverrideParseException):
        return None
    override = ex.override
    parser = _parser_message(str(ex))
    if "=" not in override:
        lines = [f"Cannot read the override '{override}': it has no '=' (an override is key=value)."]
    else:
        problem = _unbalanced(override)
        lines = [f"Cannot read the override '{override}': {problem or parser}."]
        if problem:
            lines.append(f"(parser: {parser})")
    lines.append(
        "Close every bracket and interpolation (key=[1,2], key='${other.key}'), quote values with spaces or"
        " special characters, and quote the whole override for the shell. Syntax:"
        " https://hydra.cc/docs/advanced/override_grammar/basic/"
    )
    return "\n".join(lines)


def _parser_message(text: str) -> str:
    """The parser's own complaint in one line, without Hydra's wrapping and token lists."""
    for line in text.splitlines():
        line = line.strip()
        if not line or "hydra.cc" in line or line.startswith(("Error parsing override", "^")):
            continue
        if line.startswith("LexerNoViableAltException"):
            return "an unexpected character"
        return re.sub(r"expecting \{[^}]*\}", "expecting a value", line)
    return "not valid override syntax"


def _unbalanced(override: str) -> str | None:
    """What an override's value leaves open (`${`, `[`, `(`, `{`, a quote), if anything."""
    value = override.split("=", 1)[-1]
    for opening, closing, what in _OPENERS:
        if value.count(opening) > value.count(closing):
            return what
    for quote in ("'", '"'):
        if value.count(quote) % 2:
            return f"a quote {quote} is not closed"
    return None


def _interpolation(ex: BaseException) -> str | None:
    from omegaconf.errors import (
        GrammarParseError,
        InterpolationKeyError,
        InterpolationResolutionError,
        UnsupportedInterpolationType,
    )

    err = next((e for e in _chain(ex) if isinstance(e, (InterpolationResolutionError, GrammarParseError))), None)
    if err is None:
        return None
    key = str(getattr(err, "full_key", "") or getattr(err, "key", "") or "?")
    raw = _raw_value(err)
    where = f"'{key}'" + (f" (= {raw})" if raw else "")
    first = str(err).strip().splitlines()[0]
    env = re.search(r"Environment variable '([^']+)' not found", first)
    if env:
        var = env.group(1)
        return (
            f"{where} reads the environment variable {var}, which is not set.\n"
            f"Set it (export {var}=...), or give a default in the interpolation: ${{oc.env:{var},default}}"
            f" (${{oc.env:{var},null}} for none)."
        )
    if isinstance(err, InterpolationKeyError):
        ref = re.search(r"Interpolation key '([^']+)' not found", first)
        target = ref.group(1) if ref else "?"
        return (
            f"{where} refers to '{target}', which is not a key of the config.\n"
            f"Fix the reference (list the keys with `--cfg job`), or add the key (+{target}=...)."
        )
    if isinstance(err, UnsupportedInterpolationType):
        name = first.rsplit(" ", 1)[-1]
        return (
            f"{where} uses the resolver '{name}', which is not registered.\n"
            "Built-in resolvers: oc.env, oc.select, oc.decode, oc.create, oc.deprecated, now, hydra;"
            " register others with OmegaConf.register_new_resolver."
        )
    if isinstance(err, GrammarParseError):
        return (
            f"{where} is not a valid interpolation: {first}.\n"
            "Close every '${' with '}' (e.g. ${model.lr}); write a literal '${' as '\\${'."
        )
    return f"Cannot resolve {where}: {first}\nFix the interpolation or the value it refers to (see `--cfg job`)."


def _raw_value(err: BaseException) -> str | None:
    child = getattr(err, "child_node", None)
    if child is not None:
        try:
            text = str(child)
        except Exception:  # a node that cannot even print itself: leave it out of the message
            return None
        return text if "${" in text else None
    return None


def _yaml_syntax(ex: BaseException) -> str | None:
    import yaml

    err = next((e for e in _chain(ex) if isinstance(e, yaml.MarkedYAMLError)), None)
    if not isinstance(err, yaml.MarkedYAMLError):
        return None
    mark = err.problem_mark or err.context_mark
    where = f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "a config file"
    what = " ".join(p for p in (err.context, err.problem) if p)
    return (
        f"YAML syntax error in {where}: {what}.\n"
        "Fix the file: indent nested keys by two spaces under their parent, close every [ and {, and quote"
        " values that contain ': ' or start with a special character."
    )


_ENV_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "it is on a read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
}


def _disk_or_permissions(ex: BaseException) -> str | None:
    err = next((e for e in _chain(ex) if isinstance(e, OSError) and e.errno in _ENV_ERRNOS), None)
    if not isinstance(err, OSError) or err.errno is None:
        return None
    target = f"'{err.filename}'" if err.filename else "to the disk"
    what = _ENV_ERRNOS[err.errno]
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"Cannot write {target}: {what}.\n"
            "Checkpoints are written atomically, so the last complete one is kept: free some space (or"
            " move the run dir to a disk with room: hydra.run.dir=...), then rerun the same command to resume."
        )
    return (
        f"Cannot write {target}: {what}.\n"
        "Write outputs to a directory you can write to: hydra.run.dir=<dir> (sweeps: hydra.sweep.dir=<dir>)."
    )


def _config_access(ex: BaseException) -> str | None:
    """Any other OmegaConf error (a config read or set the config does not allow), named by key."""
    from omegaconf.errors import OmegaConfBaseException

    if not isinstance(ex, OmegaConfBaseException):
        return None
    key = getattr(ex, "full_key", None) or getattr(ex, "key", None)
    first = str(ex).strip().splitlines()[0] if str(ex).strip() else type(ex).__name__
    where = f" at '{key}'" if key else ""
    parent = getattr(ex, "parent_node", None)
    known = list(parent.keys()) if parent is not None and hasattr(parent, "keys") else []
    hint = did_you_mean(str(getattr(ex, "key", "") or ""), known) if known else ""
    return (
        f"Config error{where}: {first}.{hint}\n"
        "Check that key in your config and overrides (`--cfg job` prints the config)."
    )


def _composition_fallback(ex: BaseException) -> str | None:
    """Any other composition error, shortened to a few lines that name the overrides involved."""
    from hydra.errors import ConfigCompositionException, OverrideParseException

    if not isinstance(ex, (ConfigCompositionException, OverrideParseException)):
        return None
    lines = [line for line in str(ex).strip().splitlines() if line.strip()][:3]
    cause = ex.__cause__
    if isinstance(cause, Exception) and str(cause).strip():
        lines.append(str(cause).strip().splitlines()[0])
    text = "\n".join(lines) or type(ex).__name__
    overrides = [a for a in sys.argv[1:] if "=" in a and not a.startswith("-")]
    named = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") in text]
    if overrides and not named:
        text += f"\nCheck these overrides: {' '.join(overrides)}"
    return text


def _chain(ex: BaseException) -> list[BaseException]:
    """`ex` and the exceptions it was raised from or while handling, nearest first."""
    out: list[BaseException] = []
    current: BaseException | None = ex
    while current is not None and current not in out and len(out) < 10:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _clamp(message: str) -> str:
    lines = [
        line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 3] + "..." for line in message.splitlines()
    ]
    if len(lines) > MAX_LINES:
        lines = [*lines[: MAX_LINES - 1], f"... ({len(lines) - MAX_LINES + 1} more lines)"]
    return "\n".join(lines)


_RULES = (
    _user_error,
    _missing_config,
    _unknown_key,
    _wrong_type,
    _missing_value,
    _override_syntax,
    _interpolation,
    _yaml_syntax,
    _disk_or_permissions,
    _composition_fallback,
    _config_access,
)


def full_error_requested() -> bool:
    """True when the user asked for full tracebacks (HYDRA_FULL_ERROR=1), in any of our commands."""
    return os.environ.get("HYDRA_FULL_ERROR", "") not in ("", "0")


def exit_with_message(message: str) -> NoReturn:
    """Print a user mistake the one way all commands do, and exit 1."""
    from lalm_framework.masking import mask_text

    sys.stderr.write(f"Error: {mask_text(message)}\n{FULL_ERROR_HINT}\n")
    sys.exit(1)


def exit_with(error: UserError) -> NoReturn:
    """Exit 1 with `error`'s message; its traceback too when HYDRA_FULL_ERROR=1."""
    if full_error_requested():
        import traceback

        traceback.print_exception(error)
    exit_with_message(str(error))
