"""Which blobs a project-scoped key may count, in the PostgreSQL index database (``--index``).

The twin of ``ingest/blobscope.py``'s ledger files: a row of ``namespace_blobs`` (pgschema.py,
migration 8) per (namespace, sha256), so a blob a namespace uploaded through one replica counts
on every other. Rows are only ever added, so each process remembers the ones it has seen and
asks PostgreSQL only about a hash it has not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import psycopg
import psycopg_pool

from ..errors import IndexUnavailableError
from .indexbackend import redacted
from .ingest.blobscope import Namespace, namespace_id
from .ingest.manifest_types import is_sha256
from .pgindex import pool_for


class PgNamespaceBlobs:
    """``NamespaceBlobs``'s answers from the PostgreSQL database at `url`. Thread-safe."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._known: dict[str, set[str]] = {}

    def _failed(self, exc: Exception) -> IndexUnavailableError:
        return IndexUnavailableError(
            f"the blob ledger in the PostgreSQL database {redacted(self.url)} could not be "
            f"read or written: {exc}"
        )

    def holds(self, namespace: Namespace, sha256: str) -> bool:
        """Whether `namespace` uploaded or references the blob `sha256`."""
        key = namespace_id(namespace)
        with self._lock:
            if sha256 in self._known.get(key, ()):
                return True
        try:
            with pool_for(self.url).connection() as conn:
                found = conn.execute(
                    "SELECT 1 FROM namespace_blobs WHERE namespace=%s AND sha256=%s", [key, sha256]
                ).fetchone()
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise self._failed(exc) from exc
        if found:
            with self._lock:
                self._known.setdefault(key, set()).add(sha256)
        return found is not None

    def counts(self, namespace: Namespace) -> Callable[[str], bool]:
        """A predicate for ``Ingest.status``/``commit``: the blobs `namespace` may count."""
        return lambda sha256: self.holds(namespace, sha256)

    def add(self, namespace: Namespace, hashes: Iterable[str]) -> None:
        """Record that `namespace` holds `hashes` (it uploaded them, or committed runs list them)."""
        key = namespace_id(namespace)
        with self._lock:
            known = self._known.setdefault(key, set())
            new = sorted({h for h in hashes if is_sha256(h)} - known)
        if not new:
            return
        try:
            with pool_for(self.url).connection() as conn, conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO namespace_blobs (namespace, sha256) VALUES (%s, %s) "
                    "ON CONFLICT DO NOTHING",
                    [(key, h) for h in new],
                )
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise self._failed(exc) from exc
        with self._lock:
            known.update(new)
