"""`lalm-doctor`: where configs come from, which plugins Hydra sees, and what collides."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections import defaultdict
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hydra.plugins.config_source import ConfigSource
    from hydra.plugins.plugin import Plugin

# groups users compose; hydra/* internals are listed with --all
USER_GROUP_PREFIXES = ("hydra/launcher", "hydra/sweeper")


def group_sources(sources: Sequence[ConfigSource], include_hydra: bool) -> dict[str, dict[str, list[str]]]:
    """{group: {option: [provider, ...]}} across every search path source, in search order."""
    from hydra.core.object_type import ObjectType

    table: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))

    def walk(source: ConfigSource, group: str) -> None:
        for name in source.list(group, ObjectType.GROUP):
            sub = f"{group}/{name}" if group else name
            if sub == "hydra" or sub.startswith("hydra/"):
                if not include_hydra and not any(sub.startswith(p) or p.startswith(sub) for p in USER_GROUP_PREFIXES):
                    continue
            walk(source, sub)
        if group and (include_hydra or group != "hydra"):
            for name in source.list(group, ObjectType.CONFIG):
                table[group][name.removesuffix(".yaml")].append(_label(source))

    for source in sources:
        if source.available():
            walk(source, "")
    return table


def _label(source: ConfigSource) -> str:
    return f"{source.provider} ({source.full_path()})"


def collisions(table: dict[str, dict[str, list[str]]]) -> list[tuple[str, str, list[str]]]:
    """Options defined by two or more sources: the first in search order wins, silently."""
    return [
        (g, o, provs) for g, opts in sorted(table.items()) for o, provs in sorted(opts.items()) if len(set(provs)) > 1
    ]


def report(config_dirs: Sequence[str], imports: Sequence[str], include_hydra: bool = False) -> tuple[str, int]:
    """The doctor's report as text, and the number of collisions found."""
    for module in imports:
        importlib.import_module(module)  # user modules that register dataclasses in ConfigStore
    from hydra.core.plugins import Plugins
    from hydra.plugins.plugin import Plugin

    from lalm_framework.compat.private_api import config_search_path, config_sources

    sources = config_sources(config_search_path(list(config_dirs)))
    lines = ["== Versions =="]
    for pkg in (
        "lalm-framework",
        "hydra-core",
        "omegaconf",
        "torch",
        "pytorch-lightning",
        "optuna",
        "submitit",
        "transformers",
        "peft",
    ):
        lines.append(f"  {pkg:20s} {_version(pkg)}")
    lines.append("== Config search path (first match wins) ==")
    for src in sources:
        state = "ok" if src.available() else "NOT FOUND"
        lines.append(f"  {src.provider:18s} {src.full_path()}  [{state}]")
    table = group_sources(sources, include_hydra)
    lines.append("== Config groups ==")
    for group in sorted(table):
        lines.append(f"  {group}:")
        for option, provs in sorted(table[group].items()):
            lines.append(f"    {option:28s} <- {', '.join(dict.fromkeys(provs))}")
    lines.append("== Hydra plugins ==")
    for kind in sorted(_plugin_kinds(), key=lambda k: k.__name__):
        for plugin in Plugins.instance().discover(kind):
            if plugin is not Plugin:
                lines.append(f"  {kind.__name__:18s} {plugin.__module__}.{plugin.__name__}")
    from lalm_framework.config.store import store_collisions

    found = collisions(table)
    restored = store_collisions()
    lines.append("== Collisions ==")
    if not found and not restored:
        lines.append("  none")
    for group, option, provs in found:
        first, *others = dict.fromkeys(provs)
        lines.append(
            f"  COLLISION {group}/{option}: {first} wins over {' and '.join(others)} "
            f"(lalm-train takes the first in search order). Rename yours to keep both."
        )
    for path, first, second in restored:
        lines.append(f"  COLLISION {path}: ConfigStore entry of {first} replaced by {second}. Rename one of them.")
    return "\n".join(lines), len(found) + len(restored)


def _plugin_kinds() -> list[type[Plugin]]:
    from hydra.plugins.launcher import Launcher
    from hydra.plugins.search_path_plugin import SearchPathPlugin
    from hydra.plugins.sweeper import Sweeper

    return [Launcher, Sweeper, SearchPathPlugin]


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `lalm-doctor`."""
    parser = argparse.ArgumentParser(prog="lalm-doctor", description=__doc__)
    parser.add_argument(
        "--config-dir",
        "-cd",
        action="append",
        default=[],
        help="your config dir, as passed to lalm-train --config-dir (repeatable)",
    )
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (it registers dataclasses in ConfigStore; repeatable)",
    )
    parser.add_argument("--all", action="store_true", help="also list Hydra's internal groups")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a collision is found")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path.cwd()))
    text, n = report(args.config_dir, args.imports, args.all)
    print(text)
    return 1 if (args.strict and n) else 0


if __name__ == "__main__":
    sys.exit(main())
