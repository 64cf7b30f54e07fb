"""No private attribute or module of another library outside `lalm_framework/compat/`.

Read from the source (ast), not grepped: `x._name` where no code of ours defines `_name` (so it is
another library's), `super()._name(...)` (a private hook of a base class), `getattr(x, "_name")`,
and imports of `_private` modules or names from another package. Those go through
`lalm_framework.compat.private_api`, which `tests/core/test_private_api.py` exercises against the
installed versions.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

OURS = ("lalm_framework", "hydra_plugins.lalm_")
ROOTS = [REPO / "lalm_framework", *sorted((REPO / "hydra_plugins").glob("lalm_*"))]
COMPAT = REPO / "lalm_framework" / "compat"

# (file, expression as ast.unparse writes it): each one unavoidable, and why
ALLOWED = {
    # stdlib's documented exit without cleanup (a forked child must not run the parent's)
    ("lalm_framework/launching/pool/worker.py", "os._exit"),
    # namedtuple's documented field list (the underscore avoids clashes with field names)
    ("lalm_framework/masking.py", "hasattr(obj, '_fields')"),
    # transformers: the layer classes a model says must not be split (what accelerate and
    # device_map read); no public accessor. tests/training/test_fsdp.py fails without it
    ("lalm_framework/trainer_addons/fsdp.py", "getattr(module, '_no_split_modules', None)"),
    # Lightning's FSDPStrategy wraps the model in `_setup_model` (our subclass overrides it to
    # choose the wrap policy, and wraps on a CPU root itself, which needs the strategy's
    # activation-checkpointing settings); tests/training/test_fsdp.py runs both paths
    ("lalm_framework/trainer_addons/fsdp.py", "super()._setup_model"),
    ("lalm_framework/trainer_addons/fsdp.py", "self._activation_checkpointing_kwargs"),
    # Lhotse's samplers build each batch in `_next_batch`, the only place to split one that is
    # over `max_duration`; tests/data/test_data_sampling.py::test_max_duration_bounds_the_padded_batch
    ("lalm_framework/data/sampling.py", "super()._next_batch"),
}


def _files() -> list[Path]:
    return [p for root in ROOTS for p in sorted(root.rglob("*.py"))]


def _private(name: str) -> bool:
    # `_target_`, `_partial_`... are Hydra's public config keys; dunders are Python's
    return name.startswith("_") and not name.startswith("__") and not name.endswith("_")


def _ours_defined() -> set[str]:
    """Every name our code binds (attributes, functions, classes, variables, arguments)."""
    names: set[str] = set()
    for path in _files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return names


def _foreign(module: str) -> bool:
    return not module.startswith(OURS) and module != "__future__"


def private_uses(tree: ast.AST, ours: set[str]) -> list[tuple[int, str]]:
    """(line, expression) of each use of another library's private API in `tree`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            is_super = isinstance(node.value, ast.Call) and ast.unparse(node.value.func) == "super"
            if is_super or node.attr not in ours:
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Call) and ast.unparse(node.func) in ("getattr", "setattr", "hasattr", "delattr"):
            name = node.args[1] if len(node.args) > 1 else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and _private(name.value):
                if name.value not in ours:
                    found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and _foreign(node.module):
            parts = node.module.split(".")
            if any(_private(p) for p in parts) or any(_private(a.name) for a in node.names):
                found.append((node.lineno, f"from {node.module} import {', '.join(a.name for a in node.names)}"))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _foreign(alias.name) and any(_private(p) for p in alias.name.split(".")):
                    found.append((node.lineno, f"import {alias.name}"))
    return found


def test_no_private_api_of_another_library_outside_compat() -> None:
    ours = _ours_defined()
    seen: set[tuple[str, str]] = set()
    bad: list[str] = []
    for path in _files():
        if path.is_relative_to(COMPAT):
            continue
        rel = str(path.relative_to(REPO))
        for line, expr in private_uses(ast.parse(path.read_text()), ours):
            seen.add((rel, expr))
            if (rel, expr) not in ALLOWED:
                bad.append(f"{rel}:{line}: {expr}")
    assert not bad, "another library's private API: move it to lalm_framework/compat/private_api.py\n" + "\n".join(bad)
    assert ALLOWED <= seen, f"allowlist entries no longer needed: {sorted(ALLOWED - seen)}"


def test_the_scan_finds_each_kind_of_private_use() -> None:
    code = """
import hydra._internal.utils
from hydra._internal.utils import run_and_report
from lalm_framework.api import _helper
trainer._checkpoint_connector.dump_checkpoint()
getattr(module, "_trainer")
super()._setup_model(model)
cfg._target_
self._mine
"""
    found = {expr for _, expr in private_uses(ast.parse(code), ours={"_mine", "_helper"})}
    assert found == {
        "import hydra._internal.utils",
        "from hydra._internal.utils import run_and_report",
        "trainer._checkpoint_connector",
        "getattr(module, '_trainer')",
        "super()._setup_model",
    }, found
