"""Sweep state in the PostgreSQL index database, shared by every replica of a server.

The tables of migration 6 (pgschema.py) hold what ``<root>/sweeps/<id>/`` holds in a directory
(``localtrack/sweeps/state.py``): ``sweeps`` (the document, the control record, the claim
cursor), ``sweep_claims`` and ``sweep_results`` (each made once: the primary key is the
exclusive create), ``sweep_progress`` (replaced by its agent) and ``sweep_agents`` (a heartbeat
on PostgreSQL's clock). Records are JSON text, NaN included, as the files are.
``localtrack/sweeps/pgstate.py`` turns these rows into the sweep's objects.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import psycopg_pool

from ..errors import IndexUnavailableError
from .indexbackend import redacted
from .pgindex import pool_for

_NOW = "extract(epoch FROM clock_timestamp())::double precision"
_KEY = "sweep_id=%s AND number=%s AND attempt=%s"
Row = tuple[Any, ...]
_turns: dict[tuple[str, str], threading.Lock] = {}
_turns_lock = threading.Lock()


def _process_lock(url: str, sweep_id: str) -> threading.Lock:
    with _turns_lock:
        return _turns.setdefault((url, sweep_id), threading.Lock())


class PgSweepTables:
    """The sweep tables of the PostgreSQL database at `url`."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _failed(self, exc: Exception) -> IndexUnavailableError:
        return IndexUnavailableError(
            f"the sweeps in the PostgreSQL database {redacted(self.url)} could not be read "
            f"or written: {exc}"
        )

    def _run(self, sql: str, args: Any = ()) -> tuple[list[Row], int]:
        """One statement, committed: its rows (if any) and how many rows it changed."""
        try:
            with pool_for(self.url).connection() as conn:
                cursor = conn.execute(sql, args)
                rows = cursor.fetchall() if cursor.description else []
                return rows, cursor.rowcount
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise self._failed(exc) from exc

    @contextmanager
    def turn(self, sweep_id: str) -> Iterator[None]:
        """One claimer of this sweep at a time, in every process: an advisory lock held by a
        transaction of its own (the claims themselves commit on other connections). Threads of
        one process queue on a lock of the process first, so a crowd of claimers holds two of
        the pool's connections, not one each."""
        with _process_lock(self.url, sweep_id):
            try:
                with pool_for(self.url).connection() as conn, conn.transaction():
                    lock = "SELECT pg_advisory_xact_lock(hashtext(%s))"
                    conn.execute(lock, ["sweep:" + sweep_id])
                    yield
            except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
                raise self._failed(exc) from exc

    # -- the sweep ----------------------------------------------------------------------------

    def create(self, sweep_id: str, project: str, document: str, control: str, at: float) -> bool:
        """Insert a new sweep; False when the id is taken."""
        _, made = self._run(
            "INSERT INTO sweeps (id, project, document, control, control_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            [sweep_id, project, document, control, at],
        )
        return made == 1

    def ids(self) -> list[str]:
        return [r[0] for r in self._run("SELECT id FROM sweeps ORDER BY id")[0]]

    def document(self, sweep_id: str) -> str | None:
        rows, _ = self._run("SELECT document FROM sweeps WHERE id=%s", [sweep_id])
        return str(rows[0][0]) if rows else None

    def control(self, sweep_id: str) -> str | None:
        rows, _ = self._run("SELECT control FROM sweeps WHERE id=%s", [sweep_id])
        return str(rows[0][0]) if rows else None

    def set_control(self, sweep_id: str, record: str, at: float, newer_only: bool) -> None:
        """Replace the control record (with `newer_only`, only when `at` is newer)."""
        where = " AND control_at < %s" if newer_only else ""
        extra = [at] if newer_only else []
        self._run(
            f"UPDATE sweeps SET control=%s, control_at=%s WHERE id=%s{where}",
            [record, at, sweep_id, *extra],
        )

    def cursor(self, sweep_id: str) -> int:
        rows, _ = self._run("SELECT next_trial FROM sweeps WHERE id=%s", [sweep_id])
        return int(rows[0][0]) if rows else 0

    def advance_cursor(self, sweep_id: str, next_trial: int) -> None:
        self._run(
            "UPDATE sweeps SET next_trial=greatest(next_trial, %s) WHERE id=%s",
            [next_trial, sweep_id],
        )

    # -- attempts -----------------------------------------------------------------------------

    def insert_once(self, table: str, sweep_id: str, number: int, attempt: int, rec: str) -> bool:
        """A claim or a result, made once; False when it was there already."""
        assert table in ("sweep_claims", "sweep_results")
        _, made = self._run(
            f"INSERT INTO {table} (sweep_id, number, attempt, record) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            [sweep_id, number, attempt, rec],
        )
        return made == 1

    def is_claimed(self, sweep_id: str, number: int, attempt: int) -> bool:
        rows, _ = self._run(f"SELECT 1 FROM sweep_claims WHERE {_KEY}", [sweep_id, number, attempt])
        return bool(rows)

    def attempts(self, sweep_id: str, open_only: bool = False) -> list[Row]:
        """(number, attempt, claim, result or None, progress or None) of every attempt."""
        where = " AND r.record IS NULL" if open_only else ""
        rows, _ = self._run(
            "SELECT c.number, c.attempt, c.record, r.record, p.record FROM sweep_claims c "
            "LEFT JOIN sweep_results r USING (sweep_id, number, attempt) "
            "LEFT JOIN sweep_progress p USING (sweep_id, number, attempt) "
            f"WHERE c.sweep_id=%s{where} ORDER BY c.number, c.attempt",
            [sweep_id],
        )
        return rows

    def progress(self, sweep_id: str) -> list[Row]:
        """(number, attempt, record) of every progress record."""
        sql = "SELECT number, attempt, record FROM sweep_progress WHERE sweep_id=%s"
        return self._run(sql, [sweep_id])[0]

    def progress_of(self, sweep_id: str, number: int, attempt: int) -> str | None:
        sql = f"SELECT record FROM sweep_progress WHERE {_KEY}"
        rows, _ = self._run(sql, [sweep_id, number, attempt])
        return str(rows[0][0]) if rows else None

    def set_progress(self, sweep_id: str, number: int, attempt: int, record: str) -> None:
        self._run(
            "INSERT INTO sweep_progress (sweep_id, number, attempt, record) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (sweep_id, number, attempt) "
            "DO UPDATE SET record=excluded.record",
            [sweep_id, number, attempt, record],
        )

    def request_stop(self, sweep_id: str, number: int, attempt: int, record: str) -> None:
        self._run(
            f"UPDATE sweep_claims SET stop=%s WHERE {_KEY}", [record, sweep_id, number, attempt]
        )

    # -- agents -------------------------------------------------------------------------------

    def beat(self, sweep_id: str, agent_id: str, record: str) -> None:
        self._run(
            f"INSERT INTO sweep_agents (sweep_id, agent_id, record, beat_at) "
            f"VALUES (%s, %s, %s, {_NOW}) ON CONFLICT (sweep_id, agent_id) "
            "DO UPDATE SET record=excluded.record, beat_at=excluded.beat_at",
            [sweep_id, agent_id, record],
        )

    def leave(self, sweep_id: str, agent_id: str) -> None:
        sql = "DELETE FROM sweep_agents WHERE sweep_id=%s AND agent_id=%s"
        self._run(sql, [sweep_id, agent_id])

    def agent_silent_for(self, sweep_id: str, agent_id: str) -> float | None:
        """Seconds since the agent's last heartbeat; None when it has none (or left)."""
        rows, _ = self._run(
            f"SELECT {_NOW} - beat_at FROM sweep_agents WHERE sweep_id=%s AND agent_id=%s",
            [sweep_id, agent_id],
        )
        return float(rows[0][0]) if rows else None
