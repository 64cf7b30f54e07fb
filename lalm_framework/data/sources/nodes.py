"""Source nodes as users write them -> `Source` objects.

`{source: <kind>, <the kind's keys>..., task: ..., weight: ...}`: `<kind>` names a module of this
package (its `SOURCE` class), or a user's `Source` subclass by class path. `dataset.train` is a
list of such nodes (or one); `dataset.val`/`test` a mapping set name -> node, or one node (one
unnamed set, name "").
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Mapping
from typing import Any

from lalm_framework.data.sources.base import Source
from lalm_framework.errors import UserError

_NOT_KINDS = ("base", "nodes")


def source_kinds() -> list[str]:
    """The kinds this package ships (one module each)."""
    from lalm_framework.data import sources

    return sorted(m.name for m in pkgutil.iter_modules(sources.__path__) if m.name not in _NOT_KINDS)


def source_class(name: Any, where: str) -> type[Source]:
    """The `Source` subclass of `source: <name>` (a kind of this package, or a class path)."""
    if not isinstance(name, str) or not name:
        raise UserError(f"{where}.source={name!r}: name the kind of source: one of {', '.join(source_kinds())}.")
    if "." in name:
        module, _, attr = name.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise UserError(f"{where}.source={name!r}: cannot import it ({type(e).__name__}: {e}).") from None
    elif name in source_kinds():
        cls = importlib.import_module(f"{__package__}.{name}").SOURCE
    else:
        raise UserError(
            f"{where}.source={name!r}: not a kind of source.\n"
            f"Use one of {', '.join(source_kinds())}, or the class path of your own Source subclass."
        )
    if not (isinstance(cls, type) and issubclass(cls, Source)):
        raise UserError(f"{where}.source={name!r}: not a Source subclass (lalm_framework.data.sources.Source).")
    return cls


def node_options(cls: type[Source]) -> dict[str, str]:
    """Node key -> dataclass field of `cls` (the kind's own names first, e.g. `path`)."""
    common = ("task", "weight")  # every kind's, listed last
    fields = [f.name for f in dataclasses.fields(cls) if f.init and f.name not in ("where", *common)]
    renamed = set(cls.node_keys.values())
    return {**cls.node_keys, **{f: f for f in fields if f not in renamed}, **{f: f for f in common}}


def source_from_node(node: Any, where: str) -> Source:
    """The `Source` of one node; a wrong key, a missing one or a bad weight is one UserError."""
    node = _plain(node)
    if isinstance(node, Source):
        return node
    if not isinstance(node, Mapping) or "source" not in node:
        raise UserError(
            f"{where}: expected a source node such as {{source: librispeech, root: /data/LibriSpeech, "
            f"split: dev-clean}}, got {node!r}."
        )
    cls = source_class(node["source"], where)
    options = node_options(cls)
    unknown = [k for k in node if k != "source" and k not in options]
    if unknown:
        raise UserError(
            f"{where}: source '{node['source']}' has no option {', '.join(map(str, unknown))}.\n"
            f"Its options: {', '.join(options)}."
        )
    required = [f.name for f in dataclasses.fields(cls) if f.init and _required(f)]
    given = {options[k]: v for k, v in node.items() if k != "source"}
    missing = [k for k, f in options.items() if f in required and f not in given]
    if missing:
        raise UserError(f"{where}: source '{node['source']}' needs {', '.join(missing)}.")
    weight = given.get("weight")
    if weight is not None and (isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0):
        raise UserError(f"{where}.weight={weight!r}: a mixing weight must be a number > 0 (or null).")
    task = given.get("task")
    if task is not None and (not isinstance(task, str) or not task):
        raise UserError(f"{where}.task={task!r}: name a task (e.g. transcribe, caption).")
    try:
        return cls(**given, where=where)
    except UserError:
        raise
    except (TypeError, ValueError) as e:
        raise UserError(f"{where}: {e}") from None


def train_sources(value: Any, where: str = "dataset.train") -> list[Source]:
    """The sources of `dataset.train`: a list of nodes, or one node."""
    value = _plain(value)
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    if not items:
        raise UserError(f"{where}: an empty list; give at least one source, or null for no training data.")
    listed = isinstance(value, list)
    return [source_from_node(item, f"{where}[{i}]" if listed else where) for i, item in enumerate(items)]


def eval_sets(value: Any, where: str) -> dict[str, Source]:
    """The named sets of `dataset.val`/`test`: {name: node}, or one node (the one unnamed set "")."""
    value = _plain(value)
    if value is None:
        return {}
    if isinstance(value, Source) or (isinstance(value, Mapping) and "source" in value):
        return {"": source_from_node(value, where)}
    if not isinstance(value, Mapping) or not value:
        raise UserError(
            f"{where}: give named sets ({{clean: {{source: ...}}, other: {{source: ...}}}}) or one source node, "
            f"got {value!r}."
        )
    sets: dict[str, Source] = {}
    for name, node in value.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise UserError(f"{where}: set name {name!r} must be a non-empty name without '/'.")
        sets[name] = source_from_node(node, f"{where}.{name}")
    return sets


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _plain(value: Any) -> Any:
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value
