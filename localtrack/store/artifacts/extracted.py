"""The extraction cache ``artifacts/extracted/<sha[0:2]>/<sha256>``: packed blobs as plain files.

A packed blob cannot be hard-linked, so a download would have to create every small file anew.
Instead the first download of a packed blob writes its file (from the pack, hash checked,
read-only) and then hard-links that whole file into this cache under its sha256; later downloads
hard-link from the cache, like single blobs, after checking its hash. Only ``link(2)`` of a
whole file puts a name here, so a crash never leaves a partial cache file.

The cache is derived, never the truth: a blob counts as stored only in its pack (or as a single
file), so dedup, ``has``, sync and gc's keep-set never look here; a cache file that is damaged,
short (a power loss: nothing here is flushed) or gone is simply made again from its pack.
``localtrack artifact gc`` removes the cache files no live version needs, and removing the whole
folder at any time is safe.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .layout import is_sha256

# link(2) refusals that mean "this file system cannot link here", not a failure of the download
LINK_REFUSED = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP)


class ExtractCache:
    """The cache folder of one store; safe to share between threads."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._root = str(folder)
        self._made: set[str] = set()  # fan-out folders known to exist
        self._lock = threading.Lock()

    def path(self, sha256: str) -> str:
        return f"{self._root}/{sha256[:2]}/{sha256}"

    def verified(self, sha256: str, size: int) -> bytes | None:
        """The cached file's bytes if it is there and whole (a damaged one is removed)."""
        path = self.path(sha256)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            data = os.read(fd, size + 1)
        finally:
            os.close(fd)
        if len(data) == size and hashlib.sha256(data).hexdigest() == sha256:
            return data
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # derived: it is made again from the pack
        return None

    def keep(self, sha256: str, whole_file: str) -> bool:
        """Hard-link `whole_file` (the blob's bytes, complete) into the cache; False when the file
        system refuses links there (another device, no hard links)."""
        fan = f"{self._root}/{sha256[:2]}"
        if fan not in self._made:
            os.makedirs(fan, exist_ok=True)
            with self._lock:
                self._made.add(fan)
        try:
            try:
                os.link(whole_file, f"{fan}/{sha256}")
            except FileNotFoundError:  # the cache was removed meanwhile (always allowed)
                os.makedirs(fan, exist_ok=True)
                os.link(whole_file, f"{fan}/{sha256}")
        except FileExistsError:
            pass  # cached already (another download of the same content)
        except OSError as exc:
            if exc.errno in LINK_REFUSED:
                return False
            raise
        return True

    def files(self) -> Iterator[Path]:
        """Every cache file (anything else found there is left alone)."""
        try:
            fans = sorted(self.folder.iterdir())
        except FileNotFoundError:
            return
        for fan in fans:
            if len(fan.name) == 2 and fan.is_dir():
                yield from sorted(p for p in fan.iterdir() if is_sha256(p.name))


@dataclass
class CacheReport:
    """What gc dropped from the extraction cache (or, dry run, would drop)."""

    dropped: list[str] = field(default_factory=list)
    dropped_bytes: int = 0


def drop_unneeded(cache: ExtractCache, needed: set[str], dry_run: bool) -> CacheReport:
    """Remove the cache files of blobs no live version names (they are derived: no grace)."""
    report = CacheReport()
    for path in cache.files():
        if path.name in needed:
            continue
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            continue
        report.dropped.append(path.name)
        report.dropped_bytes += size
        if not dry_run:
            path.unlink(missing_ok=True)
    return report
