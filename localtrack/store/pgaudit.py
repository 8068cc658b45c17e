"""The audit log in the PostgreSQL index database (``--index postgresql://…``): every replica
appends to, and admins read from, one table ``audit_log`` (pgschema.py, migration 4).

Append-only in PostgreSQL itself: triggers refuse every UPDATE, DELETE and TRUNCATE, whoever
connects (docs/deploy.md says how a database admin prunes). Rows and queries are those of the
SQLite log (``auditlog.py``), so the API, the page and ``localtrack server audit`` read either.
"""

from __future__ import annotations

import psycopg
import psycopg_pool

from ..errors import IndexUnavailableError, StoreError
from .auditlog import (
    INSERT_SQL,
    AuditEvent,
    AuditQuery,
    AuditRow,
    detail_json,
    event_values,
    row_of,
    select_sql,
)
from .indexbackend import redacted
from .pgindex import pool_for


class PgAuditLog:
    """The ``audit_log`` table of the PostgreSQL database at `url` (``AuditLog``)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _message(self, what: str, exc: Exception) -> str:
        return (
            f"the audit log in the PostgreSQL database {redacted(self.url)} cannot be {what}: {exc}"
        )

    def append(self, event: AuditEvent) -> int:
        values = (*event_values(event), detail_json(event))
        try:
            with pool_for(self.url).connection() as conn:
                row = conn.execute(
                    f"{INSERT_SQL} VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id", values
                ).fetchone()
        except (psycopg.Error, psycopg_pool.PoolTimeout, IndexUnavailableError) as exc:
            # a StoreError, as the SQLite log's: the change stands, the caller warns
            raise StoreError(self._message("written", exc)) from exc
        assert row is not None  # RETURNING gives the new row
        return int(row[0])

    def rows(self, query: AuditQuery) -> list[AuditRow]:
        sql, args = select_sql(query, "%s")
        try:
            with pool_for(self.url).connection() as conn:
                found = conn.execute(sql, args).fetchall()
        except (psycopg.Error, psycopg_pool.PoolTimeout, IndexUnavailableError) as exc:
            # the server answers 503 + Retry-After, as for the index
            raise IndexUnavailableError(self._message("read", exc)) from exc
        return [row_of(*r) for r in found]
