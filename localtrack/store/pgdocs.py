"""A server's small documents (its API keys, its session secret) in the PostgreSQL index database.

The directory backend keeps these as files under ``<root>/server/``; with an index URL they are
rows of ``server_documents`` (pgschema.py), so every replica reads the same keys. Each document
carries a version bumped on every change: a reader compares versions instead of file stats.
Changes are serialised with a transaction-scoped advisory lock per document name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from ..errors import IndexUnavailableError
from .indexbackend import redacted
from .pgindex import pool_for


@dataclass
class DocumentEdit:
    """The body of a document being changed: set ``body`` to what it should become."""

    body: str | None


class PgDocuments:
    """The ``server_documents`` table of the PostgreSQL database at `url`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool = pool_for(url)

    def _failed(self, exc: Exception) -> IndexUnavailableError:
        return IndexUnavailableError(
            f"the PostgreSQL database {redacted(self.url)} could not answer: {exc}"
        )

    def read(self, name: str) -> tuple[int, str] | None:
        """(version, body) of the document, or None when there is none yet."""
        try:
            with self._pool.connection() as conn:
                row = conn.execute(
                    "SELECT version, body FROM server_documents WHERE name=%s", [name]
                ).fetchone()
        except psycopg.Error as exc:
            raise self._failed(exc) from exc
        return (int(row[0]), str(row[1])) if row else None

    @contextmanager
    def update(self, name: str) -> Iterator[DocumentEdit]:
        """Change one document, alone: no other process changes it until this commits."""
        try:
            with self._pool.connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ["doc:" + name])
                row = conn.execute(
                    "SELECT body FROM server_documents WHERE name=%s", [name]
                ).fetchone()
                edit = DocumentEdit(str(row[0]) if row else None)
                yield edit
                if edit.body is not None:
                    conn.execute(
                        "INSERT INTO server_documents (name, body, version) VALUES (%s, %s, 1) "
                        "ON CONFLICT (name) DO UPDATE SET body=excluded.body, "
                        "version=server_documents.version + 1",
                        [name, edit.body],
                    )
        except psycopg.Error as exc:
            raise self._failed(exc) from exc

    def create_once(self, name: str, body: str) -> str:
        """The document's body; `body` is stored first when there is none (the first caller
        wins, every later one gets what it stored)."""
        try:
            with self._pool.connection() as conn:
                conn.execute(
                    "INSERT INTO server_documents (name, body, version) VALUES (%s, %s, 1) "
                    "ON CONFLICT (name) DO NOTHING",
                    [name, body],
                )
                row = conn.execute(
                    "SELECT body FROM server_documents WHERE name=%s", [name]
                ).fetchone()
        except psycopg.Error as exc:
            raise self._failed(exc) from exc
        assert row is not None  # inserted above, or there already
        return str(row[0])
