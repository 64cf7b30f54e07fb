"""One import style in the tests: shared helpers by their package path, never a conftest module."""

from __future__ import annotations

import re

from tests.helpers import REPO

# `from helpers import x` works only through pytest's rootdir sys.path insertion, and a conftest
# imported as a module runs twice (once by pytest, once by the import), fixtures included
BARE = re.compile(r"^\s*(from\s+helpers\s+import|import\s+helpers\b)", re.M)
CONFTEST = re.compile(r"^\s*(from\s+\S*conftest\s+import|import\s+\S*conftest\b)", re.M)


def test_tests_import_helpers_by_package_path_and_no_conftest() -> None:
    bad = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        text = path.read_text()
        bad += [
            f"{path.relative_to(REPO)}: {m.group(0).strip()}" for m in (*BARE.finditer(text), *CONFTEST.finditer(text))
        ]
    assert not bad, "use `from tests.helpers import ...` (or tests.<dir>.<module>):\n" + "\n".join(bad)
