"""ConfigStore registration of the framework's schemas, and the helper users call for theirs."""

from __future__ import annotations

from typing import Any

from hydra.core.config_store import ConfigStore

PROVIDER = "lalm-framework"
_registered = False
# (group/name) -> provider of every register() call, to report silent replacements
_owners: dict[str, str] = {}
_replaced: list[tuple[str, str, str]] = []


def register(
    node: Any, name: str, group: str | None = None, package: str | None = None, provider: str | None = None
) -> None:
    """Store a dataclass (or dict) in Hydra's ConfigStore as `group/name`.

    Use it for your own dataclasses so they compose with ours, e.g.
    ``register(MyDataConfig, name="my_data", group="dataset")`` then ``dataset=my_data``.
    `lalm-doctor` reports a name that two sources define.
    """
    provider = provider or _caller_package()
    path = f"{group}/{name}" if group else name
    if path in _owners and _owners[path] != provider:
        _replaced.append((path, _owners[path], provider))
    _owners[path] = provider
    ConfigStore.instance().store(name=name, node=node, group=group, package=package, provider=provider)


def store_collisions() -> list[tuple[str, str, str]]:
    """(group/name, first provider, replacing provider) for every name registered twice."""
    return list(_replaced)


def _caller_package() -> str:
    import inspect

    frame = inspect.currentframe()
    while frame is not None and frame.f_globals.get("__name__", "").startswith(__name__):
        frame = frame.f_back
    return (frame.f_globals.get("__name__", "user") if frame else "user").split(".")[0]


def register_configs() -> None:
    """Register all lalm-framework schemas (idempotent; called by the SearchPath plugin)."""
    global _registered
    if _registered:
        return
    _registered = True
    from lalm_framework.config.schema import TrainConfig
    from lalm_framework.models.schema import LalmModelConfig

    register(TrainConfig, name="train_schema", provider=PROVIDER)
    # schemas are root-level entries, not groups: `model=` and `--help` offer only real options;
    # YAML options pull it in with `- /lalm_model_schema@_here_`
    register(LalmModelConfig, name="lalm_model_schema", provider=PROVIDER)
