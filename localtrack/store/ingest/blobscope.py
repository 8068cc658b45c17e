"""Which staged blobs a namespace may count as present when a project-scoped key syncs.

Blobs are content-addressed and shared by the whole store, so "is this hash here?" would tell
any key what other projects hold (a membership oracle), and a manifest naming another project's
hash would take its content without ever having had it. So the server counts, for a key scoped
to one ``entity/project`` namespace, only the blobs that namespace has shown it holds: blobs a
key of the namespace uploaded, and blobs listed by runs committed into it. Unscoped keys and
``localtrack import`` count every blob, as before. A blob that does not count is simply asked
for again; sending it proves the sender has the bytes. ::

    <root>/ingest/scopes/<id>.log   sha256 hashes, one per line, appended; <id> names the namespace

Lines are only ever appended (one ``write`` per batch on an O_APPEND file), so processes share the
files without locks; a lost line after a crash costs one more upload, nothing else. A server with a
PostgreSQL index keeps the ledgers in its table ``namespace_blobs`` instead (``pgblobscope.py``),
so its replicas share them; ``open_namespace_blobs`` picks.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .manifest_types import is_sha256

SCOPES_DIR = "scopes"
Namespace = tuple[str | None, str]  # (entity, project)


def namespace_id(namespace: Namespace) -> str:
    """The 32 hex digits that name a namespace's ledger (its file, or its rows in PostgreSQL)."""
    entity, project = namespace
    key = json.dumps([entity or None, project], ensure_ascii=False)
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass
class _Ledger:
    inode: int = -1
    offset: int = 0
    hashes: set[str] = field(default_factory=set)


class NamespaceBlobs:
    """The per-namespace ledgers of one ingest area. Thread-safe; sees other processes' lines."""

    def __init__(self, ingest_dir: Path) -> None:
        self.dir = Path(ingest_dir) / SCOPES_DIR
        self._lock = threading.Lock()
        self._ledgers: dict[str, _Ledger] = {}

    def path(self, namespace: Namespace) -> Path:
        return self.dir / f"{namespace_id(namespace)}.log"

    def _refresh(self, path: Path) -> set[str]:
        """The hashes in `path`, reading only what was appended since the last call (lock held)."""
        ledger = self._ledgers.setdefault(path.name, _Ledger())
        try:
            with open(path, "rb") as f:
                inode = os.fstat(f.fileno()).st_ino
                if inode != ledger.inode:
                    ledger.inode, ledger.offset, ledger.hashes = inode, 0, set()
                f.seek(ledger.offset)
                data = f.read()
        except FileNotFoundError:
            ledger.inode, ledger.offset, ledger.hashes = -1, 0, set()
            return ledger.hashes
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits
        ledger.offset += len(complete)
        ledger.hashes.update(
            line for line in complete.decode("ascii", "replace").split("\n") if is_sha256(line)
        )
        return ledger.hashes

    def holds(self, namespace: Namespace, sha256: str) -> bool:
        """Whether `namespace` uploaded or references the blob `sha256`."""
        path = self.path(namespace)
        with self._lock:
            return sha256 in self._refresh(path)

    def counts(self, namespace: Namespace) -> Callable[[str], bool]:
        """A predicate for ``Ingest.status``/``commit``: the blobs `namespace` may count."""
        return lambda sha256: self.holds(namespace, sha256)

    def add(self, namespace: Namespace, hashes: Iterable[str]) -> None:
        """Record that `namespace` holds `hashes` (it uploaded them, or committed runs list them)."""
        path = self.path(namespace)
        with self._lock:
            known = self._refresh(path)
            new = sorted({h for h in hashes if is_sha256(h)} - known)
            if not new:
                return
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, "".join(h + "\n" for h in new).encode("ascii"))
            finally:
                os.close(fd)


def open_namespace_blobs(ingest_dir: Path, index_url: str | None = None) -> Any:
    """The ledgers of an ingest area: its PostgreSQL index's rows (with `index_url`), else files."""
    if index_url:
        from ..pgblobscope import PgNamespaceBlobs

        return PgNamespaceBlobs(index_url)
    return NamespaceBlobs(ingest_dir)
