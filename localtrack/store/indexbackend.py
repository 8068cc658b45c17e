"""What every index backend offers: the seam between the store and its run index.

Two backends implement it: ``index.Index`` (SQLite, ``<root>/index.db``: the default, and the only
one a training process uses) and ``pgindex.PgIndex`` (PostgreSQL, for a central server whose
replicas share one index; docs/deploy.md). ``StoreRoot.open_index()`` picks one from the store's
index URL. Callers never see SQL or a driver's exceptions beyond ``INDEX_ERRORS``.
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import IndexUnavailableError

if TYPE_CHECKING:
    from .keystats import KeyStats
    from .shards import ShardInfo

INDEX_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, IndexUnavailableError)
"""What an index call may raise when the index cannot answer (locked, damaged, unreachable)."""

PG_SCHEMES = ("postgresql", "postgres")


def is_postgres_url(url: str | None) -> bool:
    """Whether `url` names a PostgreSQL index (``postgresql://…`` or ``postgres://…``)."""
    return bool(url) and str(url).split("://", 1)[0].lower() in PG_SCHEMES


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class IndexBackend(Protocol):
    """The run index of one store: runs, metric keys, shards, artifacts and a change counter.

    Writes made outside ``transaction()`` are committed one by one; inside it, together."""

    def transaction(self) -> AbstractContextManager[Any]: ...

    def close(self) -> None: ...

    def checkpoint(self) -> None: ...

    # writes
    def upsert_run(self, row: Mapping[str, Any]) -> None: ...

    def update_run_fields(self, run_id: str, **fields: Any) -> None: ...

    def upsert_key_stats(self, run_id: str, stats: Mapping[str, KeyStats]) -> None: ...

    def replace_shards(self, run_id: str, add: list[ShardInfo], remove: list[str]) -> None: ...

    def delete_run(self, run_id: str) -> None: ...

    def delete_everything(self) -> None: ...

    def bump_changes(self) -> None: ...

    def replace_artifact_rows(
        self,
        project: str,
        name: str,
        versions: Sequence[Sequence[Any]],
        aliases: Sequence[Sequence[Any]],
        moves: Sequence[Sequence[Any]],
        uses: Sequence[Sequence[Any]],
    ) -> None: ...

    def delete_artifact_rows(self) -> None: ...

    # reads
    def changes(self) -> int: ...

    def run_rows(self, project: str | None = None) -> list[dict[str, Any]]: ...

    def run_row(self, run_id: str) -> dict[str, Any] | None: ...

    def run_ids_with_prefix(self, prefix: str) -> list[str]: ...

    def key_stats(self, run_id: str) -> dict[str, KeyStats]: ...

    def key_names(self, run_ids: Sequence[str]) -> dict[str, list[str]]: ...

    def shard_rows(self, run_id: str) -> list[dict[str, Any]]: ...

    def artifact_version_rows(self, type_: str | None = None) -> list[dict[str, Any]]: ...
