"""The run index in PostgreSQL: ``IndexBackend`` over psycopg 3, through a connection pool.

A central server's replicas share one index this way (docs/deploy.md); the SQLite ``index.Index``
stays the default and the only backend a training process uses. The SQL mirrors ``index.py``
statement by statement, so both backends answer every query with the same rows.

One pool per URL per process (``psycopg_pool``): a call outside ``transaction()`` borrows a
connection for that one statement and commits it; ``transaction()`` holds one connection until
its end. Connections are checked when borrowed, so a PostgreSQL restart costs failed calls only
while it is down. The schema (``pgschema.py``) is migrated by the first process that opens the
index, under an advisory lock, so replicas starting together apply each migration once.

psycopg is imported only here (and in ``pgdocs.py``, ``pgaudit.py``, ``pglisten.py``), and only when
an index URL is given.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
import psycopg_pool

from ..errors import IndexUnavailableError
from .index import ARTIFACT_COLUMNS, RUN_COLUMNS, shard_row
from .indexbackend import redacted
from .keystats import KeyStats
from .pglisten import NOTIFY_SQL
from .pgschema import ADVISORY_LOCK_KEY, MIGRATIONS, VERSION_TABLE

if TYPE_CHECKING:
    from .shards import ShardInfo

POOL_MAX_CONNECTIONS = 16
CONNECT_TIMEOUT_S = 15.0  # the first connection of a process (a clear error when it fails)
POOL_WAIT_S = 5.0  # a call waiting for a connection (PostgreSQL down: fail, the client retries)
_pools: dict[str, psycopg_pool.ConnectionPool] = {}
_migrated: set[str] = set()
_pools_lock = threading.Lock()
RUN_LOCK_CLASS = 0x6C74  # "lt": the advisory-lock class of per-run commit locks


def pool_for(url: str) -> psycopg_pool.ConnectionPool:
    """This process's connection pool to `url` (opened, and the schema migrated, on first use)."""
    with _pools_lock:
        pool = _pools.get(url)
        if pool is None:
            _try_connect(url)  # a clear error at once, rather than a pool retrying in the dark
            pool = psycopg_pool.ConnectionPool(
                url,
                min_size=1,
                max_size=POOL_MAX_CONNECTIONS,
                open=True,
                check=psycopg_pool.ConnectionPool.check_connection,
                timeout=POOL_WAIT_S,
                name="localtrack-index",
            )
            try:
                pool.wait(timeout=CONNECT_TIMEOUT_S)
            except psycopg_pool.PoolTimeout as exc:
                pool.close()
                raise IndexUnavailableError(
                    f"cannot connect to the PostgreSQL index {redacted(url)} within "
                    f"{CONNECT_TIMEOUT_S:.0f} s: check the URL, that the server runs and that "
                    "this user may log in"
                ) from exc
            _pools[url] = pool
        if url not in _migrated:
            migrate(pool, url)
            _migrated.add(url)
        return pool


def _try_connect(url: str) -> None:
    try:
        psycopg.connect(url, connect_timeout=int(CONNECT_TIMEOUT_S)).close()
    except psycopg.Error as exc:
        raise IndexUnavailableError(
            f"cannot connect to the PostgreSQL index {redacted(url)}: {exc}".rstrip()
            + "; check the URL, that the server runs and that this user may log in"
        ) from exc


def close_pools() -> None:
    """Close every pool of this process (at exit; tests call it between databases)."""
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()
        _migrated.clear()


atexit.register(close_pools)


def migrate(pool: psycopg_pool.ConnectionPool, url: str) -> list[str]:
    """Apply the migrations `url` lacks, under an advisory lock; returns their names."""
    applied: list[str] = []
    try:
        with pool.connection() as conn:
            conn.autocommit = True
            try:
                conn.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version bigint PRIMARY KEY, "
                    "name text NOT NULL, applied_at double precision NOT NULL)"
                )
                done = {r[0] for r in conn.execute(f"SELECT version FROM {VERSION_TABLE}")}
                for version, name, sql in MIGRATIONS:
                    if version in done:
                        continue
                    with conn.transaction():
                        conn.execute(sql)
                        conn.execute(
                            f"INSERT INTO {VERSION_TABLE} VALUES (%s, %s, %s)",
                            [version, name, time.time()],
                        )
                    applied.append(name)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
                conn.autocommit = False
    except psycopg.Error as exc:
        raise IndexUnavailableError(
            f"cannot migrate the PostgreSQL index {redacted(url)}: {exc}"
        ) from exc
    return applied


def _param(value: Any) -> Any:
    """A value as PostgreSQL takes it: SQLite stores a bool as 0/1, so does this index."""
    return int(value) if isinstance(value, bool) else value


def _params(values: Sequence[Any]) -> list[Any]:
    return [_param(v) for v in values]


class PgIndex:
    """The index of one store in the PostgreSQL database at `url` (``IndexBackend``)."""

    def __init__(self, url: str, readonly: bool = False) -> None:
        self.url = url
        self.readonly = readonly
        self._pool = pool_for(url)
        self._conn: psycopg.Connection[Any] | None = None

    @contextmanager
    def _cursor(self) -> Iterator[psycopg.Cursor[Any]]:
        try:
            if self._conn is not None:
                yield self._conn.cursor()
                return
            with self._pool.connection() as conn:
                yield conn.cursor()
        except psycopg.Error as exc:
            raise IndexUnavailableError(
                f"the PostgreSQL index {redacted(self.url)} could not answer: {exc}"
            ) from exc
        except psycopg_pool.PoolTimeout as exc:
            raise IndexUnavailableError(
                f"no connection to the PostgreSQL index {redacted(self.url)}: {exc}"
            ) from exc

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        with self._cursor() as cur:
            cur.execute(sql, _params(args))

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self._cursor() as cur:
                cur.executemany(sql, [_params(r) for r in rows])

    def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._cursor() as cur:
            cur.execute(sql, _params(args))
            names = [d.name for d in cur.description or ()]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    # Statements of the store's other PostgreSQL modules (pgartifacts.py) on this index's
    # connection: inside its transaction() when one is open, so they commit with it.
    def query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self._fetch(sql, args)

    def statement(self, sql: str, args: Sequence[Any] = ()) -> None:
        self._execute(sql, args)

    def statements(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._executemany(sql, rows)

    def close(self) -> None:
        """Nothing to close: connections go back to the pool after each call."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Every call inside runs on one connection and commits together (or not at all)."""
        if self._conn is not None:
            raise IndexUnavailableError("PgIndex.transaction() does not nest")
        try:
            with self._pool.connection() as conn, conn.transaction():
                self._conn = conn
                try:
                    yield
                finally:
                    self._conn = None
        except psycopg.Error as exc:
            raise IndexUnavailableError(
                f"a transaction on the PostgreSQL index {redacted(self.url)} failed: {exc}"
            ) from exc

    def checkpoint(self) -> None:
        """PostgreSQL checkpoints on its own."""

    # -- writes -------------------------------------------------------------------------------

    def upsert_run(self, row: Mapping[str, Any]) -> None:
        cols = [c for c in RUN_COLUMNS if c in row]
        updates = ",".join(f"{c}=excluded.{c}" for c in cols if c != "id")
        self._execute(
            f"INSERT INTO runs ({','.join(cols)}) VALUES ({','.join(['%s'] * len(cols))}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates}",
            [row[c] for c in cols],
        )
        now = time.time()
        self._execute(
            "INSERT INTO projects (name, created_at, updated_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET "
            "updated_at = GREATEST(projects.updated_at, excluded.updated_at)",
            [row["project"], row.get("created_at") or now, row.get("updated_at") or now],
        )

    def update_run_fields(self, run_id: str, **fields: Any) -> None:
        sets = ",".join(f"{c}=%s" for c in fields)
        self._execute(f"UPDATE runs SET {sets} WHERE id=%s", [*fields.values(), run_id])

    def upsert_key_stats(self, run_id: str, stats: Mapping[str, KeyStats]) -> None:
        cols = ["run_id", "key", *KeyStats().as_row().keys()]
        updates = ",".join(f"{c}=excluded.{c}" for c in cols[2:])
        self._executemany(
            f"INSERT INTO metric_keys ({','.join(cols)}) VALUES ({','.join(['%s'] * len(cols))}) "
            f"ON CONFLICT (run_id, key) DO UPDATE SET {updates}",
            [(run_id, key, *s.as_row().values()) for key, s in stats.items()],
        )

    def replace_shards(self, run_id: str, add: list[ShardInfo], remove: list[str]) -> None:
        self._executemany(
            "DELETE FROM shards WHERE run_id=%s AND name=%s", [(run_id, n) for n in remove]
        )
        cols = ["run_id", "name", "segment", "first_batch", "last_batch", "rows", "bytes"]
        cols += ["sha256", "min_step", "max_step"]
        updates = ",".join(f"{c}=excluded.{c}" for c in cols[2:])
        self._executemany(
            f"INSERT INTO shards ({','.join(cols)}) VALUES ({','.join(['%s'] * len(cols))}) "
            f"ON CONFLICT (run_id, name) DO UPDATE SET {updates}",
            [shard_row(run_id, s) for s in add],
        )

    def delete_run(self, run_id: str) -> None:
        for table in ("metric_keys", "shards"):
            self._execute(f"DELETE FROM {table} WHERE run_id=%s", [run_id])
        self._execute("DELETE FROM runs WHERE id=%s", [run_id])

    def delete_everything(self) -> None:
        for table in ("metric_keys", "shards", "runs", "projects"):
            self._execute(f"DELETE FROM {table}")

    def bump_changes(self) -> None:
        """Move the change counter and tell every listening replica (pglisten.py) when the
        transaction commits."""
        self._execute("UPDATE store_state SET value = value + 1 WHERE name='changes'")
        self._execute(NOTIFY_SQL)

    def replace_artifact_rows(
        self,
        project: str,
        name: str,
        versions: Sequence[Sequence[Any]],
        aliases: Sequence[Sequence[Any]],
        moves: Sequence[Sequence[Any]],
        uses: Sequence[Sequence[Any]],
    ) -> None:
        """Make one collection's rows exactly these (as ``Index.replace_artifact_rows``)."""
        key = [project, name]
        for table in ARTIFACT_COLUMNS:
            self._execute(f"DELETE FROM {table} WHERE project=%s AND name=%s", key)
        for table, rows in zip(ARTIFACT_COLUMNS, (versions, aliases, moves, uses), strict=True):
            cols = ("project", "name", *ARTIFACT_COLUMNS[table])
            conflict = ""
            if table == "artifact_uses":  # SQLite's INSERT OR REPLACE there
                conflict = (
                    " ON CONFLICT (project, name, version, run_id) DO UPDATE SET at=excluded.at"
                )
            self._executemany(
                f"INSERT INTO {table} ({', '.join(cols)}) "
                f"VALUES ({','.join(['%s'] * len(cols))}){conflict}",
                [(*key, *row) for row in rows],
            )

    def delete_artifact_rows(self) -> None:
        for table in ARTIFACT_COLUMNS:
            self._execute(f"DELETE FROM {table}")

    # -- what each commit placed (run_files; shared-nothing replicas, docs/deploy.md) ---------

    def lock_run(self, run_id: str) -> None:
        """Hold `run_id`'s commit lock until the transaction ends (inside ``transaction()``):
        two replicas committing one run take turns."""
        self._execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [RUN_LOCK_CLASS, run_id])

    def write_run_record(
        self,
        run_id: str,
        files: Mapping[str, Mapping[str, Any]],
        heartbeat_at: float | None,
        synced_run_json: Mapping[str, Any] | None = None,
    ) -> None:
        """Make `run_id`'s committed files exactly `files` ({name: {"sha256", "bytes"}});
        `synced_run_json`: the run.json its client sent, when an edit on the server replaced it
        (``files["run.json"]`` is then the edited one)."""
        synced = synced_run_json or {}
        self._execute(
            "INSERT INTO run_commits (run_id, heartbeat_at, committed_at, "
            "synced_run_json_sha256, synced_run_json_bytes) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (run_id) DO UPDATE SET heartbeat_at=excluded.heartbeat_at, "
            "committed_at=excluded.committed_at, "
            "synced_run_json_sha256=excluded.synced_run_json_sha256, "
            "synced_run_json_bytes=excluded.synced_run_json_bytes",
            [run_id, heartbeat_at, time.time(), synced.get("sha256"), synced.get("bytes")],
        )
        self._execute("DELETE FROM run_files WHERE run_id=%s", [run_id])
        self._executemany(
            "INSERT INTO run_files (run_id, name, sha256, bytes) VALUES (%s, %s, %s, %s)",
            [(run_id, n, f["sha256"], int(f["bytes"])) for n, f in sorted(files.items())],
        )

    def delete_run_record(self, run_id: str) -> None:
        """Forget what the commits of `run_id` placed (the run is deleted)."""
        self._execute("DELETE FROM run_files WHERE run_id=%s", [run_id])
        self._execute("DELETE FROM run_commits WHERE run_id=%s", [run_id])

    def run_record(self, run_id: str) -> dict[str, Any] | None:
        """What the last commit of `run_id` placed, as the directory's commit record reads
        (``{"run_id", "files", "heartbeat_at", "committed_at"}``); None when none did."""
        head = self._fetch("SELECT * FROM run_commits WHERE run_id=%s", [run_id])
        if not head:
            return None
        rows = self._fetch(
            'SELECT name, sha256, bytes FROM run_files WHERE run_id=%s ORDER BY name COLLATE "C"',
            [run_id],
        )
        files = {r["name"]: {"sha256": r["sha256"], "bytes": int(r["bytes"])} for r in rows}
        record = dict(head[0], files=files)
        sha, size = record.pop("synced_run_json_sha256"), record.pop("synced_run_json_bytes")
        record["synced_run_json"] = None if sha is None else {"sha256": sha, "bytes": int(size)}
        return record

    def committed_run_ids(self) -> list[str]:
        """Every run with a commit recorded here, sorted."""
        rows = self._fetch('SELECT run_id FROM run_commits ORDER BY run_id COLLATE "C"')
        return [r["run_id"] for r in rows]

    def run_records(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every committed run's files: {run_id: {name: {"sha256", "bytes"}}}."""
        out: dict[str, dict[str, dict[str, Any]]] = {
            r["run_id"]: {} for r in self._fetch("SELECT run_id FROM run_commits")
        }
        for r in self._fetch("SELECT run_id, name, sha256, bytes FROM run_files"):
            out.setdefault(r["run_id"], {})[r["name"]] = {
                "sha256": r["sha256"],
                "bytes": int(r["bytes"]),
            }
        return out

    # -- reads --------------------------------------------------------------------------------

    def changes(self) -> int:
        rows = self._fetch("SELECT value FROM store_state WHERE name='changes'")
        return int(rows[0]["value"]) if rows else 0

    def run_rows(self, project: str | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT {','.join(RUN_COLUMNS)} FROM runs"
        args: list[Any] = []
        if project is not None:
            sql += " WHERE project=%s"
            args.append(project)
        return self._fetch(sql + " ORDER BY created_at DESC NULLS LAST, id", args)

    def run_row(self, run_id: str) -> dict[str, Any] | None:
        rows = self._fetch(f"SELECT {','.join(RUN_COLUMNS)} FROM runs WHERE id=%s", [run_id])
        return rows[0] if rows else None

    def run_ids_with_prefix(self, prefix: str) -> list[str]:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._fetch(
            "SELECT id FROM runs WHERE id LIKE %s ESCAPE '\\' ORDER BY id COLLATE \"C\"",
            [escaped + "%"],
        )
        return [r["id"] for r in rows]

    def key_stats(self, run_id: str) -> dict[str, KeyStats]:
        cols = list(KeyStats().as_row().keys())
        rows = self._fetch(
            f'SELECT key, {",".join(cols)} FROM metric_keys WHERE run_id=%s ORDER BY key COLLATE "C"',
            [run_id],
        )
        return {r.pop("key"): KeyStats(**r) for r in rows}

    def key_names(self, run_ids: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        rows = self._fetch(
            'SELECT run_id, key FROM metric_keys WHERE run_id = ANY(%s) ORDER BY key COLLATE "C"',
            [list(dict.fromkeys(run_ids))],
        )
        for row in rows:
            out.setdefault(row["run_id"], []).append(row["key"])
        return out

    def shard_rows(self, run_id: str) -> list[dict[str, Any]]:
        return self._fetch(
            'SELECT * FROM shards WHERE run_id=%s ORDER BY name COLLATE "C"', [run_id]
        )

    def artifact_version_rows(self, type_: str | None = None) -> list[dict[str, Any]]:
        """Every live artifact version row (for listings), by project and name, newest first."""
        sql = "SELECT * FROM artifact_versions WHERE deleted_at IS NULL"
        args: list[Any] = []
        if type_ is not None:
            sql += " AND type=%s"
            args.append(type_)
        order = ' ORDER BY project COLLATE "C", name COLLATE "C", version DESC'
        return self._fetch(sql + order, args)
