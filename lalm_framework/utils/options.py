"""Checks of plugin options (launchers, sweepers): one short UserError naming the option and the fix."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from typing import Any, TypeVar

from lalm_framework.errors import UserError


def check_count(key: str, value: Any, minimum: int, hint: str = "", nullable: bool = False) -> Any:
    """`value` if it is an integer >= `minimum` (or None when `nullable`); else a UserError naming `key`."""
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        null = " or null" if nullable else ""
        why = f" ({hint})" if hint else ""
        raise UserError(f"{key}={value!r}: give an integer >= {minimum}{null}{why}.")
    return value


def check_flag(key: str, value: Any) -> bool:
    """`value` if it is a boolean; else a UserError naming `key`."""
    if not isinstance(value, bool):
        raise UserError(f"{key}={value!r}: give true or false.")
    return value


def check_names(plugin: str, given: Iterable[str], known: Iterable[str]) -> None:
    """UserError unless `given` are exactly the `known` option names (a plugin built by hand;
    Hydra's schema hands a plugin every field and refuses unknown ones itself)."""
    given, known = set(given), set(known)
    if given != known:
        raise UserError(f"{plugin} options: unknown {sorted(given - known)}, missing {sorted(known - given)}.")


CHECK_KEY = "lalm_check"  # the dataclass field metadata key of an option's check
Check = Callable[[str, Any], Any]  # (full key, given value) -> the checked value, or UserError
T = TypeVar("T")


def checked_by(check: Check) -> dict[str, Check]:
    """The `metadata` of an option field whose value `check(key, value)` judges (and types)."""
    return {CHECK_KEY: check}


def count(minimum: int, hint: str = "", nullable: bool = False) -> dict[str, Check]:
    """The `metadata` of an integer option >= `minimum` (`check_count`)."""
    return checked_by(lambda key, value: check_count(key, value, minimum, hint, nullable))


FLAG = checked_by(check_flag)


def from_options(conf: type[T], options: Mapping[str, Any], prefix: str, plugin: str) -> T:
    """A `conf` dataclass (a plugin's options) from what Hydra handed the plugin, every value checked.

    The dataclass is the one declaration of each option: its type, its default and (in the field's
    metadata, `checked_by`/`count`/`FLAG`) its check. Fields named `_x_` and Hydra's `defaults`
    list are Hydra's, not options. Example: ``from_options(LalmPoolLauncherConf, {...},
    "hydra.launcher", "lalm_pool")`` raises "hydra.launcher.n_jobs=0: give an integer >= 1 ...".
    """
    own = [f for f in fields(conf) if not _hydra_key(f.name)]  # type: ignore[arg-type]  # a dataclass
    opts = {k: v for k, v in options.items() if not _hydra_key(k)}
    check_names(plugin, opts, (f.name for f in own))
    values = {
        f.name: f.metadata[CHECK_KEY](f"{prefix}.{f.name}", opts[f.name]) if CHECK_KEY in f.metadata else opts[f.name]
        for f in own
    }
    return conf(**values)


def _hydra_key(name: str) -> bool:
    return name == "defaults" or (name.startswith("_") and name.endswith("_"))
