"""Checks of plugin options (launchers, sweepers): one short UserError naming the option and the fix."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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
