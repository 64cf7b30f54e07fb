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
    """Register all lalm-framework schemas (idempotent), and adapt dataclasses others stored since.

    Called by the SearchPath plugin at import and each time a Hydra app builds its search path,
    i.e. after the app's own `ConfigStore` entries (hydra-zen's `store`) are in.
    """
    accept_foreign_dataclasses()
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


def accept_foreign_dataclasses() -> None:
    """Let other libraries' dataclasses (hydra-zen `builds`/`make_config`) compose into our typed tree.

    OmegaConf merges a dataclass into a typed node only if it subclasses that node's class
    ("Builds_Trainer is not a subclass of TrainerConfig"). Such entries are stored again as plain
    configs: they then merge into our schema field by field, and the schema still checks each
    value's type. Touched: options of the groups typed by `TrainConfig` (trainer, paths, trial),
    `_global_`-packaged options (experiments), and primary configs whose defaults list `train`.
    """
    from dataclasses import is_dataclass

    from hydra.core.object_type import ObjectType
    from omegaconf import OmegaConf

    from lalm_framework.config.schema import PathsConfig, TrainConfig, TrainerConfig, TrialConfig

    typed_groups: dict[str, type] = {"trainer": TrainerConfig, "paths": PathsConfig, "trial": TrialConfig}
    cs = ConfigStore.instance()

    def visit(group: str) -> None:
        for entry in cs.list(group):
            path = f"{group}/{entry}" if group else entry
            if cs.get_type(path) == ObjectType.GROUP:
                if path != "hydra":
                    visit(path)
                continue
            node = cs.load(path)
            if node.provider == PROVIDER:
                continue
            kind = OmegaConf.get_type(node.node)
            if kind is None or not is_dataclass(kind):
                continue
            schema = typed_groups.get(group) if node.package in (None, group) else None
            if schema is None and (node.package == "_global_" or (not group and _lists_train(node.node))):
                schema = TrainConfig
            if schema is not None and not issubclass(kind, schema):
                plain = OmegaConf.create(OmegaConf.to_container(node.node, enum_to_str=True))
                cs.store(
                    name=node.name.removesuffix(".yaml"),
                    node=plain,
                    group=group or None,
                    package=node.package,
                    provider=node.provider,
                )

    visit("")


def _lists_train(node: Any) -> bool:
    defaults = node.get("defaults") if hasattr(node, "get") else None
    return any(str(d).lstrip("/") == "train" for d in defaults or [] if isinstance(d, str))
