"""The layering rules of DESIGN.md §6, checked on the source and in child processes.

Every import is resolved to an absolute module name (relative imports against the importing
module's package; ``from pkg import name`` to ``pkg.name`` when that is a module of the tree), and
the rules compare whole names or whole dotted prefixes, never suffixes. ``check_sources`` and
``check_runtime`` take the folder that holds ``localtrack/`` and ``webui/``, so
``test_each_rule_can_fail`` runs the very same checkers on a copy with one bad import planted.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import PYTHON, REPO

STORE = "store"
SYNC = "sync"
WEBUI_PARQUET = "webui-parquet"
WEBUI_READER = "webui-reader"
CLI = "cli"
IMPORT_CHEAP = "import-cheap"
RUN_PATH = "run-path"

STORE_THIRD_PARTY = {"pyarrow", "numpy", "sqlite_utils"}
STORE_LOCALTRACK = {"localtrack.errors", "localtrack.settings", "localtrack.settings_table"}
# The PostgreSQL index (docs/deploy.md) keeps all of localtrack's SQL in the store, as DESIGN.md
# §6 asks; its driver may be imported by these modules only, which load only when an index
# URL is given (never by `import localtrack` or a run: IMPORT_FORBIDDEN and RUN_PATH_FORBIDDEN).
STORE_POSTGRES_MODULES = {
    "localtrack.store.pgindex",
    "localtrack.store.pgdocs",
    "localtrack.store.pgaudit",
    "localtrack.store.pglisten",
    "localtrack.store.pgratelimit",
    "localtrack.store.pgsweeps",
    "localtrack.store.pgworkspaces",
    "localtrack.store.pgblobscope",
    "localtrack.store.pgalerts",
}
STORE_POSTGRES_THIRD_PARTY = {"psycopg", "psycopg_pool"}
SYNC_FORBIDDEN_TOP = {"flask", "werkzeug", "waitress", "webui", "click"}
WEBUI_PARQUET_SEAM = "webui.export"  # documented as the one place in the UI that touches pyarrow
WEBUI_FORBIDDEN = (
    "sqlite3",
    "sqlite_utils",
    "localtrack.store.index",
    "localtrack.store.shards",
    "localtrack.store.taillog",
    "localtrack.store.runfiles",
)
IMPORT_FORBIDDEN = ("flask", "click", "pyarrow", "numpy", "sqlite_utils", "psycopg")
RUN_PATH_FORBIDDEN = ("flask", "werkzeug", "click", "psycopg")


def _within(name: str, prefix: str) -> bool:
    """`name` is the module `prefix` or one inside it (whole dotted components only)."""
    return name == prefix or name.startswith(prefix + ".")


def _module_name(root: Path, path: Path) -> tuple[str, bool]:
    """(dotted module name, is a package __init__) of a source file under `root`."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _is_module(root: Path, name: str) -> bool:
    base = root.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def resolved_imports(root: Path, path: Path) -> list[tuple[str, int]]:
    """(absolute module name, line) for every import in `path` (a file under `root`)."""
    module, is_package = _module_name(root, path)
    package = module.split(".") if is_package else module.split(".")[:-1]
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level - 1 > len(package):
                    raise AssertionError(f"{path}:{node.lineno}: relative import beyond the top")
                base_parts = package[: len(package) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                if alias.name != "*" and _is_module(root, candidate):
                    found.append((candidate, node.lineno))
                else:
                    found.append((base, node.lineno))
    return found


def _rules_for(module: str, imported: str) -> list[tuple[str, str]]:
    """(rule, why) for each rule of §6 that `module` importing `imported` breaks."""
    top = imported.split(".")[0]
    broken = []
    if _within(module, "localtrack.store"):
        ok = (
            top in sys.stdlib_module_names
            or top == "__future__"
            or top in STORE_THIRD_PARTY
            or (module in STORE_POSTGRES_MODULES and top in STORE_POSTGRES_THIRD_PARTY)
            or _within(imported, "localtrack.store")
            or any(_within(imported, name) for name in STORE_LOCALTRACK)
        )
        if not ok:
            broken.append(
                (
                    STORE,
                    "the store imports only the standard library, pyarrow, numpy, sqlite-utils "
                    "and localtrack.errors/localtrack.settings",
                )
            )
    if _within(module, "localtrack.sync") and (
        top in SYNC_FORBIDDEN_TOP or _within(imported, "localtrack.cli")
    ):
        broken.append((SYNC, "sync talks to the store, never to Flask, the UI or the CLI"))
    if _within(module, "webui") and top == "pyarrow" and not _within(module, WEBUI_PARQUET_SEAM):
        broken.append((WEBUI_PARQUET, f"no pyarrow in the UI outside {WEBUI_PARQUET_SEAM}"))
    if _within(module, "webui") and any(_within(imported, name) for name in WEBUI_FORBIDDEN):
        broken.append((WEBUI_READER, "the UI reads only through StoreReader"))
    if not _within(module, "localtrack.cli") and _within(imported, "localtrack.cli"):
        broken.append((CLI, "nothing outside localtrack.cli imports the CLI"))
    return broken


def check_sources(root: Path) -> list[tuple[str, str]]:
    """(rule, message) for every static violation in root/localtrack and root/webui."""
    violations = []
    for path in sorted([*(root / "localtrack").rglob("*.py"), *(root / "webui").rglob("*.py")]):
        module, _ = _module_name(root, path)
        for imported, line in resolved_imports(root, path):
            for rule, why in _rules_for(module, imported):
                rel = path.relative_to(root)
                violations.append((rule, f"{rel}:{line} ({module}) imports {imported}: {why}"))
    return violations


def _child_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCALTRACK_")}
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _loaded(root: Path, code: str, watch: tuple[str, ...]) -> list[str]:
    """Which of `watch` are in sys.modules after a child process runs `code`."""
    script = f"{code}\nimport sys\nprint(','.join(m for m in {watch!r} if m in sys.modules))\n"
    out = subprocess.run(
        [PYTHON, "-c", script],
        cwd=root,  # `python -c` puts the working directory first on sys.path
        env=_child_env(root),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, f"child process failed:\n{out.stderr}"
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    return [m for m in last.split(",") if m]


RUN_CODE = """
import localtrack, sys
settings = localtrack.Settings(console=False, system_metrics=False)
run = localtrack.init(project="layering", dir={store!r}, settings=settings)
for step in range(20):
    run.log({{"loss": 1.0 / (step + 1)}}, step=step)
run.finish()
"""


def check_runtime(root: Path, workdir: Path) -> list[tuple[str, str]]:
    """(rule, message) for what `import localtrack` and a whole run load in child processes.

    The run uses a store whose index already exists (a first run in another process made it):
    a writer then checks the applied migrations in plain SQL and never imports sqlite-utils, so
    neither click nor pluggy loads. On a brand-new store the first run must create the schema
    with sqlite-utils, which imports click: that happens on the writer's background thread (the
    training thread does not wait for it), and that process does load click.
    """
    violations = []
    loaded = _loaded(root, "import localtrack", IMPORT_FORBIDDEN)
    if loaded:
        violations.append((IMPORT_CHEAP, f"`import localtrack` loads {loaded}"))
    store = workdir / "store"
    assert _loaded(root, RUN_CODE.format(store=str(store)), ()) == []  # creates the index
    assert (store / "index.db").exists(), "the first run made no index.db"
    loaded = _loaded(root, RUN_CODE.format(store=str(store)), RUN_PATH_FORBIDDEN)
    if loaded:
        violations.append((RUN_PATH, f"init → log → finish on an existing store loads {loaded}"))
    return violations


def _fail_on(violations: list[tuple[str, str]], rule: str) -> None:
    found = [message for r, message in violations if r == rule]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("rule", [STORE, SYNC, WEBUI_PARQUET, WEBUI_READER, CLI])
def test_source_rule(rule: str) -> None:
    _fail_on(check_sources(REPO), rule)


def test_import_localtrack_is_cheap_and_a_run_loads_no_flask_or_click(tmp_path: Path) -> None:
    """`import localtrack` loads no flask/click/pyarrow/numpy/sqlite_utils/psycopg; a whole
    init → log → finish (console and system metrics off) on a store whose index another process
    already created loads no flask, werkzeug, click or psycopg. See check_runtime for a brand-new store:
    there the first run's writer thread applies the schema with sqlite-utils, which loads click."""
    violations = check_runtime(REPO, tmp_path)
    _fail_on(violations, IMPORT_CHEAP)
    _fail_on(violations, RUN_PATH)


def test_migration_names_match_the_schema(tmp_path: Path) -> None:
    """index.MIGRATION_NAMES (the plain-SQL check) lists exactly the migrations of schema.py."""
    from localtrack.store.index import MIGRATION_NAMES, Index
    from localtrack.store.schema import migrations

    index = Index(tmp_path / "index.db")
    try:
        from sqlite_utils import Database

        applied = [m.name for m in migrations.applied(Database(index.conn))]
        assert tuple(applied) == MIGRATION_NAMES
        assert migrations.pending(Database(index.conn)) == []
        assert index.schema_is_current()
    finally:
        index.close()


# One bad import per rule, planted in a copy of the tree: (rule, file, line to add).
PLANTS = [
    (STORE, "localtrack/store/layout.py", "from ..liverun import lifecycle"),
    (STORE, "localtrack/store/ingest/staging.py", "from ...sync import protocol"),
    (STORE, "localtrack/store/reader.py", "import psycopg"),
    (SYNC, "localtrack/sync/protocol.py", "import werkzeug"),
    (SYNC, "localtrack/sync/client.py", "from .. import cli"),
    (WEBUI_PARQUET, "webui/views.py", "import pyarrow.parquet as pq"),
    (WEBUI_READER, "webui/views.py", "from localtrack.store import shards"),
    (WEBUI_READER, "webui/server/access.py", "import sqlite3"),
    (CLI, "localtrack/api/__init__.py", "from ..cli import main"),
    (CLI, "webui/app.py", "import localtrack.cli.runs"),
    (IMPORT_CHEAP, "localtrack/__init__.py", "import numpy as _numpy"),
    (RUN_PATH, "localtrack/liverun/init.py", "import click as _click"),
    (RUN_PATH, "localtrack/store/writer.py", "import psycopg as _psycopg"),
]


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the tree for every planting (each test puts its file back afterwards)."""
    copy = tmp_path_factory.mktemp("layering") / "tree"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "static", "templates")
    for package in ("localtrack", "webui"):
        shutil.copytree(REPO / package, copy / package, ignore=ignore)
    assert not check_sources(copy), "the unplanted copy must pass"
    return copy


@pytest.mark.parametrize(("rule", "target", "line"), PLANTS, ids=[f"{r}:{t}" for r, t, _ in PLANTS])
def test_each_rule_can_fail(
    tree_copy: Path, tmp_path: Path, rule: str, target: str, line: str
) -> None:
    runtime = rule in (IMPORT_CHEAP, RUN_PATH)
    planted = tree_copy / target
    original = planted.read_text()
    planted.write_text(original + "\n" + textwrap.dedent(line) + "\n")
    try:
        violations = check_runtime(tree_copy, tmp_path) if runtime else check_sources(tree_copy)
    finally:
        planted.write_text(original)
    messages = [message for r, message in violations if r == rule]
    assert messages, f"planting {line!r} in {target} went unreported: {violations}"
    if rule not in (IMPORT_CHEAP, RUN_PATH):
        assert all(target in m for m in messages), messages
