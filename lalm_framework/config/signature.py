"""Type checks of `_target_` arguments against the target's signature, for any user class.

Structured schemas catch typos at compose time for our own components; a user's class has no
schema, so its annotated `__init__` is the schema: `dataset.batch_size=abc` fails before launch.
A range is checked only where the annotation declares one (``Annotated[int, AT_LEAST_1]``, see
`utils.ranges`), never guessed from an argument's name.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from lalm_framework.errors import UserError
from lalm_framework.utils.ranges import declared_range

_SCALARS = {int: "int", float: "float", bool: "bool", str: "str"}


def import_target(target: str, where: str) -> Any:
    """Import the class or function a `_target_` names; a UserError says what failed."""
    from hydra.utils import get_object

    try:
        return get_object(target)
    except Exception as e:
        cause = e.__cause__ or e
        raise UserError(
            f"{where}: cannot import '{target}' ({type(cause).__name__}: {cause}).\n"
            "Check the class path and that its package is installed."
        ) from e


def check_arguments(node: DictConfig | ListConfig, where: str) -> None:
    """Check `node`'s arguments (and nested `_target_` nodes') against annotated signatures."""
    from lalm_framework.compat.legacy import to_target_form

    container = to_target_form(OmegaConf.to_container(node, resolve=True, throw_on_missing=False))
    _check(container, where)


def _check(value: Any, where: str) -> None:
    if isinstance(value, list):
        for i, v in enumerate(value):
            _check(v, f"{where}[{i}]")
        return
    if not isinstance(value, dict):
        return
    target = value.get("_target_")
    if not isinstance(target, str):
        for key, arg in value.items():
            _check(arg, f"{where}.{key}")
        return
    obj = import_target(target, f"{where}._target_")
    hints, params = _signature(obj)
    for key, arg in value.items():
        if key.startswith("_"):
            continue
        if params is not None and key not in params:
            _unknown_argument(where, key, target, params)
        _check_value(hints, target, where, key, arg)
        _check(arg, f"{where}.{key}")


def check_values(obj: Any, values: dict[str, Any], where: str) -> None:
    """Check `values` (argument name -> value) against the types and ranges `obj`'s signature declares.

    Example: ``check_values(LalmDataModule, {"batch_size": 0}, "dataset")`` raises
    "dataset.batch_size=0: must be a whole number >= 1 (or null)."
    """
    hints, _ = _signature(obj)
    name = f"{obj.__module__}.{obj.__qualname__}"
    for key, arg in values.items():
        _check_value(hints, name, where, key, arg)


def _check_value(hints: dict[str, Any], target: str, where: str, key: str, arg: Any) -> None:
    expected = hints.get(key)
    if expected is None:
        return
    plain = _strip_annotated(expected)
    if not _conforms(arg, plain):
        raise UserError(
            f"{where}.{key}={arg!r}: {target.rsplit('.', 1)[-1]} expects {_name(plain)}.\n"
            f"Pass a value of that type, e.g. {where}.{key}=<{_name(plain)}>."
        )
    declared = declared_range(expected)
    if declared is not None:
        declared.check(where, key, arg)


def _strip_annotated(hint: Any) -> Any:
    """`hint` without its `Annotated` metadata (at any depth of a Union)."""
    if typing.get_origin(hint) is typing.Annotated:
        return _strip_annotated(typing.get_args(hint)[0])
    args = typing.get_args(hint)
    if args and (typing.get_origin(hint) is typing.Union or str(typing.get_origin(hint)) == "types.UnionType"):
        stripped = tuple(_strip_annotated(a) for a in args)
        return typing.Union[stripped]  # noqa: UP007  # rebuilt from a tuple of members
    return hint


def _signature(obj: Any) -> tuple[dict[str, Any], set[str] | None]:
    func = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return {}, None
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        params = None  # **kwargs: any name may be right
    else:
        params = {n for n in sig.parameters if n != "self"}
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:
        hints = {}
    return hints, params


def _unknown_argument(where: str, key: str, target: str, params: set[str]) -> None:
    from lalm_framework.errors import suggest

    best = suggest(key, params)
    hint = f" Did you mean '{best}'?" if best else ""
    raise UserError(
        f"{where}.{key}: {target.rsplit('.', 1)[-1]} takes no argument '{key}'.{hint} "
        f"Its arguments: {', '.join(sorted(params))}."
    )


def _conforms(value: Any, expected: Any) -> bool:
    """Conservative: only scalar annotations (and Optional/Union of them) are judged."""
    if value is None:
        return True  # None defaults are common for 'not set'; the class decides
    origin = typing.get_origin(expected)
    if origin is typing.Union or str(origin) == "types.UnionType":
        args = typing.get_args(expected)
        judged = [a for a in args if a in _SCALARS or a is type(None)]
        if len(judged) < len(args):
            return True
        return any(_conforms(value, a) for a in args if a is not type(None))
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is str:
        return isinstance(value, str)
    return True


def _name(expected: Any) -> str:
    return _SCALARS.get(expected, getattr(expected, "__name__", str(expected).replace("typing.", "")))
