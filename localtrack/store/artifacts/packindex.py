"""The pack index ``artifacts/packs/index.sqlite``: which pack holds a blob, and where.

A cache of the packs' own tar headers (gc and ``doctor --repair`` index a pack from them):

    packs(id INTEGER PRIMARY KEY, name TEXT UNIQUE)             one row per indexed pack
    blobs(sha256 BLOB PRIMARY KEY, pack INTEGER, offset, size)   sha256: the 32 raw bytes;
                                                                 offset: of the blob's bytes

Read it without localtrack: ``SELECT hex(b.sha256), p.name, b.offset, b.size FROM blobs b
JOIN packs p ON p.id = b.pack``. WAL journal, ``synchronous=FULL``: a commit is durable.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from .packs import Member

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS packs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
    "CREATE TABLE IF NOT EXISTS blobs (sha256 BLOB PRIMARY KEY, pack INTEGER NOT NULL, "
    "offset INTEGER NOT NULL, size INTEGER NOT NULL) WITHOUT ROWID",
)
_FIND = (
    "SELECT p.name, b.offset, b.size FROM blobs b JOIN packs p ON p.id = b.pack WHERE b.sha256 = ?"
)


class PackIndex:
    """sha256 → (pack, offset, size); safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _db(self, create: bool) -> sqlite3.Connection | None:
        if self._conn is None:
            if not create and not self.path.exists():
                return None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=60, check_same_thread=False, isolation_level=None
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # committed rows survive a power loss
            for statement in _SCHEMA:
                conn.execute(statement)
            self._conn = conn
        return self._conn

    def open(self) -> None:
        """Open (creating if need be) the index now: lookups then cost no file check."""
        with self._lock:
            self._db(create=True)

    def find(self, sha256: str) -> tuple[str, int, int] | None:
        """(pack, offset, size) of a packed blob, or None."""
        with self._lock:
            db = self._db(create=False)
            if db is None:
                return None
            return db.execute(_FIND, (bytes.fromhex(sha256),)).fetchone()

    def find_many(self, shas: Sequence[str]) -> set[str]:
        """Which of `shas` (at most 32,000) are packed."""
        with self._lock:
            db = self._db(create=False)
            if db is None or not shas:
                return set()
            marks = ",".join("?" * len(shas))
            query = f"SELECT sha256 FROM blobs WHERE sha256 IN ({marks})"
            return {raw.hex() for (raw,) in db.execute(query, [bytes.fromhex(s) for s in shas])}

    def locate_many(self, shas: Sequence[str]) -> dict[str, tuple[str, int, int]]:
        """sha256 → (pack, offset, size) of those of `shas` (at most 32,000) that are packed."""
        with self._lock:
            db = self._db(create=False)
            if db is None or not shas:
                return {}
            marks = ",".join("?" * len(shas))
            query = (
                "SELECT b.sha256, p.name, b.offset, b.size FROM blobs b JOIN packs p "
                f"ON p.id = b.pack WHERE b.sha256 IN ({marks})"
            )
            rows = db.execute(query, [bytes.fromhex(s) for s in shas])
            return {raw.hex(): (pack, off, size) for raw, pack, off, size in rows}

    def add(self, pack: str, members: Iterable[Member]) -> None:
        """Index `members` of `pack` (a blob indexed already keeps its first place)."""
        self.replace(pack, members, drop_pack=None)

    def drop(self, pack: str) -> None:
        """Forget `pack` and every row of it."""
        self.replace(None, (), drop_pack=pack)

    def replace(self, pack: str | None, members: Iterable[Member], drop_pack: str | None) -> None:
        """In one transaction: forget `drop_pack`, then index `members` of `pack`."""
        rows = sorted((bytes.fromhex(sha), off, size) for sha, off, size in members)
        with self._lock:
            db = self._db(create=True)
            assert db is not None
            db.execute("BEGIN IMMEDIATE")
            try:
                if drop_pack is not None:
                    db.execute(
                        "DELETE FROM blobs WHERE pack IN (SELECT id FROM packs WHERE name = ?)",
                        (drop_pack,),
                    )
                    db.execute("DELETE FROM packs WHERE name = ?", (drop_pack,))
                if pack is not None and rows:
                    db.execute("INSERT OR IGNORE INTO packs (name) VALUES (?)", (pack,))
                    (pack_id,) = db.execute(
                        "SELECT id FROM packs WHERE name = ?", (pack,)
                    ).fetchone()
                    db.executemany(
                        "INSERT OR IGNORE INTO blobs VALUES (?, ?, ?, ?)",
                        ((sha, pack_id, off, size) for sha, off, size in rows),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def by_pack(self) -> Iterator[tuple[str, list[Member]]]:
        """(pack, its members) for every indexed pack, one pack in memory at a time."""
        with self._lock:
            db = self._db(create=False)
            if db is None:
                return
            cursor = db.execute(
                "SELECT p.name, b.sha256, b.offset, b.size FROM blobs b "
                "JOIN packs p ON p.id = b.pack ORDER BY b.pack"
            )
            rows = itertools.chain.from_iterable(iter(cursor.fetchmany, []))
            for pack, group in itertools.groupby(rows, lambda row: row[0]):
                yield pack, [(raw.hex(), off, size) for _p, raw, off, size in group]

    def members_of(self, pack: str) -> list[Member]:
        with self._lock:
            db = self._db(create=False)
            if db is None:
                return []
            rows = db.execute(
                "SELECT b.sha256, b.offset, b.size FROM blobs b JOIN packs p ON p.id = b.pack "
                "WHERE p.name = ? ORDER BY b.offset",
                (pack,),
            ).fetchall()
            return [(raw.hex(), off, size) for raw, off, size in rows]

    def packs(self) -> set[str]:
        """The packs that hold at least one indexed blob."""
        with self._lock:
            db = self._db(create=False)
            if db is None:
                return set()
            query = "SELECT name FROM packs WHERE id IN (SELECT DISTINCT pack FROM blobs)"
            return {name for (name,) in db.execute(query)}

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
