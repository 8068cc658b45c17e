"""Alert rules, destinations' secrets and fired events in the PostgreSQL index database.

The twin of a store's ``alerts/<project>/`` files (``localtrack/alerts/config.py``, ``events.py``)
for a server whose replicas share one database (pgschema.py, migration 11):

- ``alert_rules``: a project's rules document (checked JSON text, no secrets) and when it was saved;
- ``alert_secrets``: one row per destination's webhook URL or SMTP password;
- ``alert_events``: every fired event, problem, test alert and delivery outcome as JSON text,
  keyed by its identity (a rule's firing is its rule, run and condition): an event is recorded
  once, whichever replica records it, and a delivery row keeps the latest outcome.

``EvaluatorTurn`` is the one evaluator among the replicas: a session-level advisory lock held on a
connection of its own. A replica that dies (kill -9 included) drops its connection and with it the
lock, and the next replica to try takes the turn. This module only moves rows; the alerts package
checks documents (``localtrack/alerts/stores.py``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from typing import Any

import psycopg
import psycopg_pool

from ..errors import IndexUnavailableError
from .indexbackend import redacted
from .pgindex import CONNECT_TIMEOUT_S, pool_for

log = logging.getLogger(__name__)
EVALUATOR_LOCK_KEY = 0x6C74_616C_7274  # "ltalrt": the advisory lock of the one alert evaluator
# a replica cut off without closing its connection (a dead host) frees the turn within ~25 s
KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}
# which replica evaluates: pg_stat_activity's application_name of the lock's connection
APPLICATION_NAME = f"localtrack alert evaluator (pid {os.getpid()} on {socket.gethostname()})"[:63]
Row = tuple[Any, ...]


class PgAlertTables:
    """The alert tables of the PostgreSQL database at `url`."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _run(self, sql: str, args: Any = ()) -> list[Row]:
        """One statement, committed: its rows (if any)."""
        try:
            with pool_for(self.url).connection() as conn:
                cursor = conn.execute(sql, args)
                return cursor.fetchall() if cursor.description else []
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise IndexUnavailableError(
                f"the alert rules and events in the PostgreSQL database {redacted(self.url)} "
                f"could not be read or written: {exc}"
            ) from exc

    # -- rules ----------------------------------------------------------------------------------

    def projects(self) -> list[str]:
        """The projects with a rules document."""
        return [str(r[0]) for r in self._run("SELECT project FROM alert_rules ORDER BY project")]

    def rules(self, project: str) -> tuple[str, float] | None:
        """(document, saved_at) of the project's rules; None when it has none."""
        rows = self._run("SELECT document, saved_at FROM alert_rules WHERE project=%s", [project])
        return (str(rows[0][0]), float(rows[0][1])) if rows else None

    def save_rules(self, project: str, document: str, saved_at: float, newer: bool = False) -> bool:
        """Store the project's rules document; with `newer`, only over one saved before
        `saved_at` (what ``server migrate`` does). True when it was stored."""
        where = " WHERE alert_rules.saved_at < excluded.saved_at" if newer else ""
        rows = self._run(
            "INSERT INTO alert_rules (project, document, saved_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (project) DO UPDATE SET document=excluded.document, "
            f"saved_at=excluded.saved_at{where} RETURNING project",
            [project, document, saved_at],
        )
        return bool(rows)

    # -- secrets --------------------------------------------------------------------------------

    def secrets(self, project: str) -> dict[str, dict[str, str]]:
        """{destination id: {field: secret}} of the project."""
        out: dict[str, dict[str, str]] = {}
        sql = "SELECT destination, field, value FROM alert_secrets WHERE project=%s"
        for dest, field, value in self._run(sql, [project]):
            out.setdefault(str(dest), {})[str(field)] = str(value)
        return out

    def set_secret(self, project: str, dest: str, field: str, value: str | None) -> None:
        """Keep (or, with None, forget) one secret."""
        if value is None:
            self._run(
                "DELETE FROM alert_secrets WHERE project=%s AND destination=%s AND field=%s",
                [project, dest, field],
            )
            return
        self._run(
            "INSERT INTO alert_secrets (project, destination, field, value) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (project, destination, field) "
            "DO UPDATE SET value=excluded.value",
            [project, dest, field, value],
        )

    # -- events ---------------------------------------------------------------------------------

    def add_event(
        self, project: str, key: str, kind: str, at: float, record: str, replace: bool
    ) -> bool:
        """Record one event under its identity `key`: once (the first one stays), or with
        `replace` (a delivery's latest outcome) over a different one. True when it changed."""
        conflict = (
            "DO UPDATE SET record=excluded.record, at=excluded.at "
            "WHERE alert_events.record <> excluded.record"
            if replace
            else "DO NOTHING"
        )
        rows = self._run(
            "INSERT INTO alert_events (project, key, kind, at, record) VALUES (%s, %s, %s, %s, %s) "
            f"ON CONFLICT (project, key) {conflict} RETURNING seq",
            [project, key, kind, at, record],
        )
        return bool(rows)

    def events(self, project: str) -> list[str]:
        """The project's events as JSON text, in the order they were first recorded."""
        sql = "SELECT record FROM alert_events WHERE project=%s ORDER BY seq"
        return [str(r[0]) for r in self._run(sql, [project])]

    def arrivals(self, run_ids: list[str]) -> dict[str, float]:
        """{run id: when its last commit landed} for runs committed by shared-nothing replicas
        (table ``run_commits``; runs with directories are not in it)."""
        if not run_ids:
            return {}
        sql = "SELECT run_id, committed_at FROM run_commits WHERE run_id = ANY(%s)"
        return {str(r[0]): float(r[1]) for r in self._run(sql, [run_ids])}


class EvaluatorTurn:
    """Whether this process is the one evaluating alert rules: an advisory lock held for as long
    as a connection of its own lives (thread-safe)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False
        self._lock = threading.Lock()
        self._warned = False

    def take(self) -> bool:
        """Take (or keep) the turn; False while another process holds it or PostgreSQL does
        not answer. A broken connection loses the turn (the lock went with it)."""
        with self._lock:
            try:
                conn = self._connection()
                if self._held:
                    conn.execute("SELECT 1")
                    return True
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", [EVALUATOR_LOCK_KEY])
                self._held = bool((row.fetchone() or (False,))[0])
                self._warned = False
                return self._held
            except psycopg.Error as exc:
                if self._held or not self._warned:
                    log.warning(
                        "alert rules are not evaluated here until PostgreSQL %s answers: %s",
                        redacted(self.url),
                        exc,
                    )
                    self._warned = True
                self._drop()
                return False

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=int(CONNECT_TIMEOUT_S),
                application_name=APPLICATION_NAME,
                # a replica cut off without closing its connection (its host gone) frees the
                # turn when these keepalives give up, within about 25 s
                keepalives=1,
                keepalives_idle=10,
                keepalives_interval=5,
                keepalives_count=3,
            )
        return self._conn

    def _drop(self) -> None:
        self._held = False
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def release(self) -> None:
        """Give the turn up: unlock at once (closing the connection would too, but only once
        PostgreSQL noticed), then close the connection."""
        with self._lock:
            if self._held and self._conn is not None:
                with contextlib.suppress(psycopg.Error):
                    self._conn.execute("SELECT pg_advisory_unlock(%s)", [EVALUATOR_LOCK_KEY])
            self._drop()
