"""The central server's audit log: who created or revoked a key, committed a sync, imported a
bundle, edited or deleted a run, moved an artifact alias, or logged in (or failed to), when, and
from where. Append-only.

::

    log = open_audit_log("/srv/localtrack")          # <root>/server/audit.db (SQLite), or the
                                                     # table audit_log of a PostgreSQL index
    log.append(AuditEvent("run.delete", user="alice", source="10.0.0.7", key_id="3f9a0c1b2d4e",
                          target="1a2b3c4d"))
    log.rows(AuditQuery(user="alice", action="run"))  # newest first, a page at a time

Storage sits behind ``AuditLog`` (``append`` and ``rows``): ``SqliteAuditLog`` here, and
``pgaudit.PgAuditLog`` when the server's index is in PostgreSQL (``--index``), where triggers
refuse UPDATE, DELETE and TRUNCATE alike. The SQLite one keeps its own file, apart from ``index.db`` (which
``localtrack reindex`` and ``doctor --repair`` may rebuild): triggers refuse every UPDATE and
DELETE, and no API or CLI path edits or deletes an entry. How a database admin prunes old
entries is in docs/deploy.md. Times are seconds since the epoch (UTC), shown as ISO 8601 with Z.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from ..errors import StoreError, UsageError
from ..settings import resolve

AUDIT_FILE = "audit.db"
SERVER_DIR = "server"  # = localtrack.apikeys.SERVER_DIR (the store may not import it)
ACTIONS = (
    "key.create",
    "key.revoke",
    "sync.commit",
    "bundle.import",
    "run.edit",
    "run.delete",
    "artifact.alias",
    "login.ok",
    "login.failed",
)
CLI_SOURCE = "cli"
MAX_PAGE = 500
_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    action TEXT NOT NULL,
    "user" TEXT,
    key_id TEXT,
    source TEXT NOT NULL,
    target TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_log_user ON audit_log ("user", id);
CREATE INDEX IF NOT EXISTS audit_log_action ON audit_log (action, id);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


@dataclass(frozen=True)
class AuditEvent:
    """One thing that happened. `user`: who did it (a key's user, or the OS user on the
    server's machine for the CLI); `key_id`: the API key the request used, or the key created
    or revoked; `source`: the request's remote address, or "cli"; `target`: what it touched
    (a run id, a key id, an artifact, a bundle file)."""

    action: str
    user: str | None
    source: str
    key_id: str | None = None
    target: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class AuditRow:
    id: int
    event: AuditEvent

    def to_json(self) -> dict[str, Any]:
        e = self.event
        return {
            "id": self.id,
            "time": iso_utc(e.at),
            "action": e.action,
            "user": e.user,
            "key_id": e.key_id,
            "source": e.source,
            "target": e.target,
            "detail": dict(e.detail),
        }


@dataclass(frozen=True)
class AuditQuery:
    """Which entries: `action` matches itself and its sub-actions ("login" → "login.ok",
    "login.failed"); `since`/`until` bound the time (epoch seconds); `before` pages back from
    an entry id. Newest first, `limit` (at most ``MAX_PAGE``) at a time."""

    user: str | None = None
    action: str | None = None
    since: float | None = None
    until: float | None = None
    before: int | None = None
    limit: int = 50


class AuditLog(Protocol):
    """Where audit entries are kept: appended, never changed, read newest first."""

    def append(self, event: AuditEvent) -> int:
        """Keep `event`; returns its id."""
        ...

    def rows(self, query: AuditQuery) -> list[AuditRow]: ...


class SqliteAuditLog:
    """The audit log in its own SQLite file (WAL, synchronous=FULL), a connection per call, so
    the CLI and any number of server threads and processes append to it safely."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _conn(self, what: str) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with contextlib.closing(sqlite3.connect(self.path, timeout=30)) as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                db.executescript(_SCHEMA)  # also puts back triggers an admin dropped to prune
                yield db
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"the audit log {self.path} cannot be {what}: {exc}") from exc

    def append(self, event: AuditEvent) -> int:
        values = (*event_values(event), detail_json(event))
        with self._conn("written") as db, db:
            cursor = db.execute(f"{INSERT_SQL} VALUES (?, ?, ?, ?, ?, ?, ?)", values)
            return int(cursor.lastrowid or 0)

    def rows(self, query: AuditQuery) -> list[AuditRow]:
        if not self.path.exists():
            return []
        sql, args = select_sql(query)
        with self._conn("read") as db:
            found = db.execute(sql, args).fetchall()
        return [row_of(*r) for r in found]


INSERT_SQL = 'INSERT INTO audit_log (at, action, "user", key_id, source, target, detail)'


def event_values(event: AuditEvent) -> tuple[Any, ...]:
    """(at, action, user, key_id, source, target) as INSERT_SQL takes them."""
    return (event.at, event.action, event.user, event.key_id, event.source, event.target)


def detail_json(event: AuditEvent) -> str:
    """The event's detail as stored (UsageError for an action the log does not know)."""
    if event.action not in ACTIONS:
        raise UsageError(f"unknown audit action {event.action!r}")
    return json.dumps(dict(event.detail), ensure_ascii=False, separators=(",", ":"))


def select_sql(query: AuditQuery, placeholder: str = "?") -> tuple[str, list[Any]]:
    """The SELECT for `query` and its arguments, with `placeholder` for each ("%s": psycopg)."""
    where, args = _where(query)
    sql = (
        'SELECT id, at, action, "user", key_id, source, target, detail FROM audit_log'
        f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id DESC LIMIT ?"
    )
    return sql.replace("?", placeholder), [*args, _limit(query.limit)]


def _where(query: AuditQuery) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if query.user:
        where.append('"user" = ?')
        args.append(query.user)
    if query.action:
        where.append("(action = ? OR action LIKE ? ESCAPE '\\')")
        escaped = query.action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args += [query.action, escaped + ".%"]
    for column, op, value in (("at", ">=", query.since), ("at", "<", query.until)):
        if value is not None:
            where.append(f"{column} {op} ?")
            args.append(value)
    if query.before is not None:
        where.append("id < ?")
        args.append(query.before)
    return where, args


def _limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE))


def row_of(
    id_: int,
    at: float,
    action: str,
    user: str | None,
    key_id: str | None,
    source: str,
    target: str | None,
    detail: str,
) -> AuditRow:
    try:
        parsed = json.loads(detail)
    except ValueError:
        parsed = {"unreadable": detail}
    event = AuditEvent(action, user, source, key_id, target, parsed, at)
    return AuditRow(id_, event)


def open_audit_log(root: str | Path, index_url: str | None = None) -> AuditLog:
    """The audit log of the server store at `root`: the table ``audit_log`` of its PostgreSQL
    index when it has one (`index_url`, default ``LOCALTRACK_INDEX_URL``), else
    ``<root>/server/audit.db``."""
    from .root import check_index_url

    url = check_index_url(resolve("index_url") if index_url is None else index_url)
    if url:
        from .pgaudit import PgAuditLog

        return PgAuditLog(url)
    return SqliteAuditLog(Path(root).expanduser().absolute() / SERVER_DIR / AUDIT_FILE)


def cli_event(
    action: str, target: str | None = None, key_id: str | None = None, **detail: Any
) -> AuditEvent:
    """An event done by a command on the server's machine: source "cli", the OS user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = "uid-unknown"
    return AuditEvent(action, user, CLI_SOURCE, key_id, target, detail)


def iso_utc(at: float) -> str:
    """`at` (epoch seconds) as ISO 8601 UTC with a Z: ``2026-11-30T13:45:07Z``."""
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str, name: str = "since") -> float:
    """Epoch seconds from ISO 8601 (``2026-11-30``, ``2026-11-30T13:00``, ``…Z``, ``…+02:00``;
    without a zone it is UTC) or from a number of epoch seconds; UsageError otherwise."""
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{name} {text!r} is not a time: give ISO 8601 UTC such as 2026-11-30 or "
            "2026-11-30T13:00:00Z, or seconds since the epoch"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()
