"""One writer's packs: small blobs appended in batches, sealed, then indexed once durable.

The hot path of ``add_dir`` on many small files (``store_files``, run by a few threads on chunks
of files): each batch costs one index lookup for all its blobs and one ``write`` for all the new
ones, so a file costs its own open, read and close, its hash, and little else. Blobs appended
here are unindexed (``unindexed``) until ``make_durable`` indexes them after the caller made them
durable; until then only this writer finds them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import packs
from .packindex import PackIndex
from .packs import PACKED_MAX, PackWriter

BATCH_FILES = 256  # blobs looked up and written together
BATCH_BYTES = 1 << 20  # ... or fewer, once their bytes reach this
Added = tuple[str, int, bool]  # (sha256, size, whether a new blob was written)
_READ = os.O_RDONLY | os.O_CLOEXEC


@dataclass
class AddReport:
    """What adding files did: how many blobs and bytes were new."""

    new_blobs: int = 0
    new_bytes: int = 0
    reused: int = 0
    pending_sync: int = 0  # new blobs not yet made durable

    def count(self, new: bool, size: int) -> None:
        if new:
            self.new_blobs += 1
            self.new_bytes += size
            self.pending_sync += 1
        else:
            self.reused += 1

    def count_all(self, added: Sequence[Added]) -> None:
        """Count every (sha256, size, new) of `added`."""
        new_sizes = [size for _sha, size, new in added if new]
        self.new_blobs += len(new_sizes)
        self.new_bytes += sum(new_sizes)
        self.pending_sync += len(new_sizes)
        self.reused += len(added) - len(new_sizes)


class PackAppender:
    """This writer's open pack and its sealed packs not yet indexed."""

    def __init__(self, folder: Path, index: PackIndex) -> None:
        self.folder = folder
        self.index = index
        self.unindexed: set[str] = set()  # blobs in this writer's packs, not yet indexed
        self.lock = threading.Lock()
        self._pack: PackWriter | None = None
        self._sealed: list[PackWriter] = []

    @property
    def pending(self) -> bool:
        return self._pack is not None or bool(self._sealed)

    def store_files(
        self,
        names: Sequence[str],
        single: Callable[[str, int], bool],
        error: Callable[[str, OSError], Exception],
    ) -> list[Added | None]:
        """Read and hash each file of `names` and pack the small ones: (sha256, size, whether
        new) of each, None for a file too big to pack (left to the caller); `error` turns an
        OSError into the error to raise."""
        out: list[Added | None] = []
        batch: list[tuple[str, bytes]] = []
        slots: list[int] = []  # where in `out` each file of `batch` goes
        batch_bytes = 0
        for name in names:
            try:
                fd = os.open(name, _READ)
                try:
                    data = os.read(fd, PACKED_MAX + 1)  # a short read of a regular file: its end
                finally:
                    os.close(fd)
            except OSError as exc:
                raise error(name, exc) from exc
            out.append(None)
            if len(data) > PACKED_MAX:
                continue
            slots.append(len(out) - 1)
            batch.append((hashlib.sha256(data).hexdigest(), data))
            batch_bytes += len(data)
            if batch_bytes >= BATCH_BYTES:
                self._store_batch(batch, slots, out, single, error)
                batch, slots, batch_bytes = [], [], 0
        self._store_batch(batch, slots, out, single, error)
        return out

    def _store_batch(
        self,
        batch: list[tuple[str, bytes]],
        slots: list[int],
        out: list[Added | None],
        single: Callable[[str, int], bool],
        error: Callable[[str, OSError], Exception],
    ) -> None:
        if not batch:
            return
        try:
            new = self.append(batch, single)
        except OSError as exc:
            raise error(f"{len(batch)} files", exc) from exc
        for i, (sha, data), fresh in zip(slots, batch, new, strict=True):
            out[i] = (sha, len(data), fresh)

    def append(
        self, items: Sequence[tuple[str, bytes]], single: Callable[[str, int], bool]
    ) -> list[bool]:
        """Append the blobs (sha256, bytes) of `items` that are not stored yet (`single`: whether
        one exists as a single file); for each, whether it was new."""
        shas = [sha for sha, _data in items]
        if self._pack is None:
            self.index.open()
        known = self.index.find_many(shas)  # outside the lock: the other reader goes on
        with self.lock:
            new: list[bool] = []
            pieces: list[bytes] = []
            pack = self._pack
            unindexed = self.unindexed
            for sha, data in items:
                if sha in known or sha in unindexed or single(sha, len(data)):
                    new.append(False)
                    continue
                if pack is None:
                    pack = self._pack = PackWriter(self.folder)
                pieces.append(pack.append_member(sha, data))
                unindexed.add(sha)
                new.append(True)
            if pieces:
                assert pack is not None
                packs.write_all(pack.fd, b"".join(pieces))  # looked up here: tests inject ENOSPC
                if pack.full:
                    self._seal()
            return new

    def _seal(self) -> None:
        if self._pack is not None:
            pack, self._pack = self._pack, None
            self._sealed.append(pack)
            pack.seal()

    def make_durable(self, sync: Callable[[], None]) -> None:
        """Seal the open pack, `sync` (the caller's flush of every new blob), then index."""
        with self.lock:
            self._seal()
            sync()
            while self._sealed:
                pack = self._sealed[0]
                self.index.add(pack.name, pack.members)
                self._sealed.pop(0)
                self.unindexed.difference_update(sha for sha, _o, _s in pack.members)

    def abort(self) -> None:
        """Drop this writer's packs that nothing names yet (after a failed add)."""
        with self.lock:
            for pack in [*self._sealed, *([self._pack] if self._pack else [])]:
                with contextlib.suppress(OSError):
                    pack.abort()
            self._pack, self._sealed = None, []
            self.unindexed.clear()
