"""The run index in PostgreSQL (store/pgindex.py) answers exactly as the SQLite index does.

Against a real, throwaway PostgreSQL (tests/pg_fixtures.py): a store's runs reindexed into each
backend give the same rows to every query the readers make; migrations are applied once when
several processes open a new database together; a failed transaction leaves nothing behind.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

from localtrack.errors import IndexUnavailableError, UsageError
from localtrack.store.pgschema import MIGRATIONS
from localtrack.store.reader import StoreReader
from localtrack.store.recovery import reindex
from localtrack.store.root import StoreRoot

from .conftest import PYTHON, child_env
from .pg_fixtures import indexed_run_ids
from .sync_fixtures import log_runs


def _answers(store: StoreRoot, run_ids: list[str]) -> dict[str, object]:
    index = store.open_index()
    assert index is not None
    try:
        return {
            "runs": index.run_rows(),
            "proj": index.run_rows("proj"),
            "row": [index.run_row(r) for r in run_ids],
            "prefix": index.run_ids_with_prefix(run_ids[0][:3]),
            "keys": [{k: vars(s) for k, s in index.key_stats(r).items()} for r in run_ids],
            "names": index.key_names([*run_ids, "no-such-run"]),
            "shards": [index.shard_rows(r) for r in run_ids],
            "artifacts": index.artifact_version_rows(),
        }
    finally:
        index.close()


def test_both_backends_give_the_same_rows(root: Path, pg_url: str) -> None:
    run_ids = log_runs(root, n=2, steps=60, shards=2)
    sqlite_store = StoreRoot(root)
    pg_store = StoreRoot(root, index_url=pg_url)
    assert reindex(pg_store) == (2, [])
    expected = _answers(sqlite_store, run_ids)
    assert expected["runs"] and all(expected["shards"])
    assert _answers(pg_store, run_ids) == expected
    # the readers the UI uses list the same runs with the same statistics
    pg_reader, sqlite_reader = StoreReader(root, index_url=pg_url), StoreReader(root)
    assert pg_reader.runs() == sqlite_reader.runs()
    assert pg_reader.metric_keys(run_ids[0]) == sqlite_reader.metric_keys(run_ids[0])
    assert pg_reader.metric_key_names(run_ids) == sqlite_reader.metric_key_names(run_ids)
    assert all(sqlite_reader.metric_key_names(run_ids).values())


def test_changes_count_and_failed_transactions_leave_nothing(root: Path, pg_url: str) -> None:
    log_runs(root, n=1, steps=10, shards=1)
    store = StoreRoot(root, index_url=pg_url)
    index = store.open_index()
    assert index is not None
    before = index.changes()
    with index.transaction():
        index.bump_changes()
    assert index.changes() == before + 1
    with pytest.raises(RuntimeError), index.transaction():
        index.upsert_run({"id": "ghost", "project": "p", "created_at": 1.0})
        index.bump_changes()
        raise RuntimeError("abort")
    assert index.run_row("ghost") is None
    assert index.changes() == before + 1


MIGRATE = """
import sys
from localtrack.store.pgindex import PgIndex
PgIndex(sys.argv[1]).close()
"""


def test_processes_starting_together_migrate_once(pg_url: str) -> None:
    children = [
        subprocess.Popen([PYTHON, "-c", MIGRATE, pg_url], env=child_env(), stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err.decode()
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT version, name FROM localtrack_schema ORDER BY 1").fetchall()
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables")}
    assert [r[0] for r in rows] == [m[0] for m in MIGRATIONS]  # each once, in order
    assert {
        "runs",
        "metric_keys",
        "shards",
        "artifact_versions",
        "server_documents",
        "audit_log",
        "rate_buckets",
        "sweep_claims",
        "workspaces",
        "namespace_blobs",
        "run_files",
        "run_commits",
    } <= tables


def test_a_bad_or_unreachable_index_url_is_refused_by_name(root: Path) -> None:
    with pytest.raises(UsageError, match="postgresql://"):
        StoreRoot(root, index_url="mysql://db/lt")
    nowhere = "postgresql://localtrack:secret@127.0.0.1:1/none"
    from localtrack.store.pgindex import PgIndex

    with pytest.raises(IndexUnavailableError, match="cannot connect") as caught:
        PgIndex(nowhere)
    assert "secret" not in str(caught.value)
    server = subprocess.run(
        [PYTHON, "-m", "localtrack.cli", "server", "--dir", str(root), "--create", "--index", nowhere, "--port", "0"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert server.returncode != 0 and "cannot connect to the PostgreSQL index" in server.stderr
    assert "secret" not in server.stderr + server.stdout


def test_a_training_run_never_writes_to_a_servers_postgresql_index(
    root: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LOCALTRACK_INDEX_URL is a server setting: a run logged where it is set keeps its own
    store's index.db, and the server's database learns nothing from it."""
    monkeypatch.setenv("LOCALTRACK_INDEX_URL", pg_url)
    StoreRoot(root, create=True).open_index()  # the server side: creates the schema
    (run_id,) = log_runs(root, n=1, steps=10, shards=1)
    assert (root / "index.db").exists()
    assert indexed_run_ids(pg_url) == []
    assert [r.id for r in StoreReader(root, index_url="").runs()] == [run_id]
