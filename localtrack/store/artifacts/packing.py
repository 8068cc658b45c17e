"""One writer's packs: small blobs appended in batches, sealed, then indexed once durable.

The hot path of ``add_dir`` on many small files: each batch costs one index lookup for all its
blobs and one ``write`` for all the new ones, so a file costs its own open, fstat, read and close,
its hash, and little else. Blobs appended here are unindexed (``unindexed``) until
``index_sealed`` runs after the caller made them durable; until then only this writer finds them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from . import packs
from .packindex import PackIndex
from .packs import PackWriter

BATCH_FILES = 256  # blobs looked up and written together
BATCH_BYTES = 1 << 20  # ... or fewer, once their bytes reach this


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

    def append(
        self, items: Sequence[tuple[str, bytes]], single: Callable[[str, int], bool]
    ) -> list[bool]:
        """Append the blobs (sha256, bytes) of `items` that are not stored yet (`single`: whether
        one exists as a single file); for each, whether it was new."""
        with self.lock:
            if self._pack is None:
                self.index.open()
            known = self.index.find_many([sha for sha, _data in items])
            new: list[bool] = []
            pieces: list[bytes] = []
            for sha, data in items:
                if sha in known or sha in self.unindexed or single(sha, len(data)):
                    new.append(False)
                    continue
                if self._pack is None:
                    self._pack = PackWriter(self.folder)
                piece = self._pack.member(sha, data)
                pieces.append(piece)
                self._pack.appended(sha, len(data), len(piece))
                self.unindexed.add(sha)
                new.append(True)
            if pieces:
                assert self._pack is not None
                packs.write_all(
                    self._pack.fd, b"".join(pieces)
                )  # looked up here: tests inject ENOSPC
                if self._pack.full:
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
