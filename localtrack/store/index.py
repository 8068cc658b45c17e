"""The SQLite index: a rebuildable cache of what the run directories hold.

Writers open it with ``isolation_level=None`` and wrap every change in a short
``BEGIN IMMEDIATE`` transaction with a busy timeout, so many processes can log into one root
without "database is locked". Readers open it read-only. All of localtrack's SQL lives here and
in ``schema.py`` (and, for a central server's PostgreSQL index, in ``pgindex.py``, its twin
behind the same ``indexbackend.IndexBackend`` seam).

The schema is applied with sqlite-utils migrations (``schema.py``), but sqlite-utils imports click
and pluggy when it loads, and a training process should not pay for that. So a writer first asks
the ``_sqlite_migrations`` table sqlite-utils keeps, in plain SQL, whether every migration is
applied; only when one is pending (a brand-new or older index) are sqlite-utils and ``schema.py``
imported. The live run opens its index from the writer's background thread, so even then the
training thread never waits for it.
"""

from __future__ import annotations

# sqlite-utils (imported only when a migration runs) imports pandas when it is installed, and
# pandas imports concurrent.futures.thread, which registers a threading exit hook. At interpreter
# shutdown -- a short script whose run is finished by the atexit handler on a brand-new store --
# that registration raises "can't register atexit after shutdown" and the migration fails. Importing
# it here, while the run starts, registers the hook in time (the module is small and stdlib).
import concurrent.futures.thread  # noqa: F401
import json
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import IndexUnavailableError
from .keystats import KeyStats

if TYPE_CHECKING:
    from .shards import ShardInfo

BUSY_TIMEOUT_MS = 30_000
MIGRATION_SET = "localtrack.index"
"""The sqlite-utils migration set of ``schema.py``."""
MIGRATION_NAMES = ("m001_initial", "m002_artifacts")
"""Every migration in ``schema.py``, in order: add a name here with each new migration."""
MIGRATIONS_TABLE = "_sqlite_migrations"
RUN_COLUMNS = [
    "id",
    "project",
    "entity",
    "name",
    "state",
    "created_at",
    "updated_at",
    "heartbeat_at",
    "ended_at",
    "exit_code",
    "tags",
    "run_group",
    "job_type",
    "notes",
    "host",
    "pid",
    "config",
    "summary",
    "meta",
    "max_step",
    "warnings",
]


def shard_row(run_id: str, shard: ShardInfo) -> tuple[Any, ...]:
    """A shard's row of the ``shards`` table, in the column order both index backends insert."""
    n = shard.name
    return (
        run_id,
        n.filename,
        n.segment,
        n.first_batch,
        n.last_batch,
        shard.rows,
        shard.bytes,
        shard.sha256,
        shard.min_step,
        shard.max_step,
    )


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    if readonly:
        # quoted: a store under a folder named with "#", "?", "%" or a space must open this
        # file, not a stray database named after part of its path
        uri = f"file:{urllib.parse.quote(str(Path(path).absolute()))}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def _switch_to_wal(conn: sqlite3.Connection, attempts: int = 50) -> None:
    """PRAGMA journal_mode=WAL answers BUSY at once (ignoring busy_timeout) while another
    process holds the database during its own switch: retry with a short backoff."""
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or attempt == attempts - 1:
                raise
            time.sleep(0.01 * (attempt + 1))


class Index:
    """One connection to a store's index.db."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        try:
            self.conn = _connect(path, readonly)
            if not readonly:
                _switch_to_wal(self.conn)
                self.conn.execute("PRAGMA synchronous = NORMAL")
                self._migrate()
        except sqlite3.Error as exc:
            raise IndexUnavailableError(
                f"cannot open the index {path}: {exc}. Run `localtrack doctor --repair` "
                "or delete it and run `localtrack reindex`."
            ) from exc

    def schema_is_current(self) -> bool:
        """Whether every migration of ``schema.py`` is applied, asked in plain SQL."""
        try:
            rows = self.conn.execute(
                f"SELECT name FROM {MIGRATIONS_TABLE} WHERE migration_set = ?", [MIGRATION_SET]
            ).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return False
            raise
        return set(MIGRATION_NAMES) <= {r[0] for r in rows}

    def _migrate(self) -> None:
        if self.schema_is_current():
            return  # the common case: no sqlite-utils (and so no click) imported
        from sqlite_utils import Database

        from .schema import migrations

        with self.transaction():
            migrations.apply(Database(self.conn))

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction that takes the write lock up front (BEGIN IMMEDIATE)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- writes -------------------------------------------------------------------------------

    def upsert_run(self, row: Mapping[str, Any]) -> None:
        cols = [c for c in RUN_COLUMNS if c in row]
        placeholders = ",".join("?" for _ in cols)
        updates = ",".join(f"{c}=excluded.{c}" for c in cols if c != "id")
        self.conn.execute(
            f"INSERT INTO runs ({','.join(cols)}) VALUES ({placeholders}) "
            f"ON CONFLICT(id) DO UPDATE SET {updates}",
            [row[c] for c in cols],
        )
        now = time.time()
        self.conn.execute(
            "INSERT INTO projects (name, created_at, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET updated_at = max(updated_at, excluded.updated_at)",
            [row["project"], row.get("created_at") or now, row.get("updated_at") or now],
        )

    def update_run_fields(self, run_id: str, **fields: Any) -> None:
        sets = ",".join(f"{c}=?" for c in fields)
        self.conn.execute(f"UPDATE runs SET {sets} WHERE id=?", [*fields.values(), run_id])

    def upsert_key_stats(self, run_id: str, stats: Mapping[str, KeyStats]) -> None:
        rows = [(run_id, key, *s.as_row().values()) for key, s in stats.items()]
        if not rows:
            return
        cols = ["run_id", "key", *KeyStats().as_row().keys()]
        placeholders = ",".join("?" for _ in cols)
        updates = ",".join(f"{c}=excluded.{c}" for c in cols[2:])
        self.conn.executemany(
            f"INSERT INTO metric_keys ({','.join(cols)}) VALUES ({placeholders}) "
            f"ON CONFLICT(run_id, key) DO UPDATE SET {updates}",
            rows,
        )

    def replace_shards(self, run_id: str, add: list[ShardInfo], remove: list[str]) -> None:
        if remove:
            self.conn.executemany(
                "DELETE FROM shards WHERE run_id=? AND name=?", [(run_id, n) for n in remove]
            )
        self.conn.executemany(
            "INSERT OR REPLACE INTO shards (run_id, name, segment, first_batch, last_batch, rows,"
            " bytes, sha256, min_step, max_step) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [shard_row(run_id, s) for s in add],
        )

    def delete_run(self, run_id: str) -> None:
        for table in ("metric_keys", "shards"):
            self.conn.execute(f"DELETE FROM {table} WHERE run_id=?", [run_id])
        self.conn.execute("DELETE FROM runs WHERE id=?", [run_id])

    def delete_everything(self) -> None:
        for table in ("metric_keys", "shards", "runs", "projects"):
            self.conn.execute(f"DELETE FROM {table}")

    def bump_changes(self) -> None:
        self.conn.execute("UPDATE store_state SET value = value + 1 WHERE name='changes'")

    def checkpoint(self) -> None:
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- reads --------------------------------------------------------------------------------

    def changes(self) -> int:
        row = self.conn.execute("SELECT value FROM store_state WHERE name='changes'").fetchone()
        return int(row[0]) if row else 0

    def run_rows(self, project: str | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT {','.join(RUN_COLUMNS)} FROM runs"
        args: list[Any] = []
        if project is not None:
            sql += " WHERE project=?"
            args.append(project)
        sql += " ORDER BY created_at DESC, id"
        return [dict(zip(RUN_COLUMNS, r, strict=False)) for r in self.conn.execute(sql, args)]

    def run_row(self, run_id: str) -> dict[str, Any] | None:
        sql = f"SELECT {','.join(RUN_COLUMNS)} FROM runs WHERE id=?"
        row = self.conn.execute(sql, [run_id]).fetchone()
        return dict(zip(RUN_COLUMNS, row, strict=False)) if row else None

    def run_ids_with_prefix(self, prefix: str) -> list[str]:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self.conn.execute(
            "SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' ORDER BY id", [escaped + "%"]
        )
        return [r[0] for r in rows]

    def key_stats(self, run_id: str) -> dict[str, KeyStats]:
        cols = list(KeyStats().as_row().keys())
        rows = self.conn.execute(
            f"SELECT key, {','.join(cols)} FROM metric_keys WHERE run_id=? ORDER BY key", [run_id]
        )
        return {r[0]: KeyStats(**dict(zip(cols, r[1:], strict=False))) for r in rows}

    def key_names(self, run_ids: Sequence[str]) -> dict[str, list[str]]:
        """The metric key names of each of `run_ids` that has any, in few queries (not one
        per run)."""
        out: dict[str, list[str]] = {}
        ids = list(dict.fromkeys(run_ids))
        for at in range(0, len(ids), 500):  # under SQLite's limit on query parameters
            chunk = ids[at : at + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT run_id, key FROM metric_keys WHERE run_id IN ({marks}) ORDER BY key"
            for run_id, key in self.conn.execute(sql, chunk):
                out.setdefault(run_id, []).append(key)
        return out

    def shard_rows(self, run_id: str) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT * FROM shards WHERE run_id=? ORDER BY name", [run_id])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=False)) for r in cur]

    # -- artifacts (rows built from a collection's files by store/artifacts/catalog.py) --------

    def replace_artifact_rows(
        self,
        project: str,
        name: str,
        versions: Sequence[Sequence[Any]],
        aliases: Sequence[Sequence[Any]],
        moves: Sequence[Sequence[Any]],
        uses: Sequence[Sequence[Any]],
    ) -> None:
        """Make one collection's rows exactly these (call inside ``transaction()``); each row
        starts with its columns after (project, name), in ARTIFACT_COLUMNS order."""
        key = [project, name]
        for table in ARTIFACT_COLUMNS:
            self.conn.execute(f"DELETE FROM {table} WHERE project=? AND name=?", key)
        for table, rows in zip(ARTIFACT_COLUMNS, (versions, aliases, moves, uses), strict=True):
            cols = ("project", "name", *ARTIFACT_COLUMNS[table])
            verb = "INSERT OR REPLACE" if table == "artifact_uses" else "INSERT"
            self.conn.executemany(
                f"{verb} INTO {table} ({', '.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                [(*key, *row) for row in rows],
            )

    def delete_artifact_rows(self) -> None:
        for table in ARTIFACT_COLUMNS:
            self.conn.execute(f"DELETE FROM {table}")

    def artifact_version_rows(self, type_: str | None = None) -> list[dict[str, Any]]:
        """Every live artifact version row (for listings), by project and name, newest first."""
        sql = "SELECT * FROM artifact_versions WHERE deleted_at IS NULL"
        args: list[Any] = []
        if type_ is not None:
            sql += " AND type=?"
            args.append(type_)
        cur = self.conn.execute(sql + " ORDER BY project, name, version DESC", args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=False)) for r in cur]


ARTIFACT_COLUMNS: dict[str, tuple[str, ...]] = {
    "artifact_versions": (
        "version",
        "type",
        "digest",
        "size",
        "file_count",
        "created_at",
        "run_id",
        "description",
        "metadata",
        "linked_from",
        "deleted_at",
    ),
    "artifact_aliases": ("alias", "version"),
    "artifact_alias_moves": (
        "seq",
        "alias",
        "from_version",
        "to_version",
        "who",
        "at",
        "run_id",
    ),
    "artifact_uses": ("version", "run_id", "at"),
}
"""The artifact tables (migration m002) and their columns after (project, name)."""

_DAMAGE_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB


def index_file_problem(path: Path) -> str | None:
    """Why the index file at `path` is damaged (not a database, fails SQLite's integrity
    check), or None when it is whole or absent. A locked or busy index is not damaged."""
    if not path.exists():
        return None
    try:
        conn = _connect(path, readonly=True)
        try:
            rows = conn.execute("PRAGMA integrity_check(5)").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code in _DAMAGE_CODES or "malformed" in str(exc) or "not a database" in str(exc):
            return f"it is not a readable SQLite database ({exc})"
        raise IndexUnavailableError(f"cannot check the index {path}: {exc}") from exc
    verdict = "; ".join(str(r[0]) for r in rows)
    return None if verdict == "ok" else f"it fails SQLite's integrity check ({verdict})"


def encode_json(value: Any) -> str:
    """JSON for an index column (NaN and Infinity kept, as Python's json writes them)."""
    return json.dumps(value, sort_keys=True, default=str)
