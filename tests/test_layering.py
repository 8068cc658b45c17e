"""The layering rules of DESIGN.md §6, checked on the source."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from .conftest import PYTHON, REPO, child_env

STORE_ALLOWED = {"pyarrow", "numpy", "sqlite_utils"}


def _imports(path: Path) -> list[tuple[str, int]]:
    """(module, level) for every import in a file; level > 0 is a relative import."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


def test_store_imports_only_stdlib_pyarrow_numpy_sqlite_utils() -> None:
    for path in (REPO / "localtrack" / "store").glob("*.py"):
        for module, level in _imports(path):
            top = module.split(".")[0]
            if level == 1:
                continue  # inside store
            if level == 2:
                assert module == "errors", f"{path.name} imports localtrack.{module}"
                continue
            assert top in sys.stdlib_module_names or top in STORE_ALLOWED or top == "__future__", (
                f"{path.name} imports {module}: the store may import only the standard library, "
                "pyarrow, numpy and sqlite-utils"
            )


def test_nothing_imports_the_cli() -> None:
    for path in list((REPO / "localtrack").rglob("*.py")) + list((REPO / "webui").rglob("*.py")):
        if path.name == "cli.py":
            continue
        for module, _ in _imports(path):
            assert not module.endswith("cli"), f"{path} imports the CLI"


def test_webui_reads_only_through_the_reader() -> None:
    forbidden = (
        "sqlite3",
        "sqlite_utils",
        "localtrack.store.index",
        "localtrack.store.shards",
        "localtrack.store.taillog",
        "localtrack.store.runfiles",
    )
    for path in (REPO / "webui").rglob("*.py"):
        for module, _ in _imports(path):
            assert not module.startswith(forbidden), f"{path} imports {module}"


def test_import_localtrack_is_cheap() -> None:
    code = "import sys, localtrack; print(sorted(m for m in ('flask', 'pyarrow', 'waitress', 'numpy', 'sqlite_utils') if m in sys.modules))"
    out = subprocess.run(
        [PYTHON, "-c", code], env=child_env(), capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
