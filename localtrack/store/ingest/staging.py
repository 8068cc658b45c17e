"""The directory blob store: blobs streamed to a temp file, hashed, kept only if the hash matches.

::

    <root>/ingest/tmp/.<token>.tmp      a blob being received (deleted on failure, GC'd by age)
    <root>/ingest/blobs/<sha256>        a verified blob (hard-linked into runs once committed)

The server's PUT and ``localtrack import`` both receive through ``BlobStore.put``
(``store/blobstore.py``), so a blob is verified the same way whichever door it came in by. This
is the default backend; ``S3BlobStore`` uses one as its local cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from ...errors import BlobTooLargeError, DigestMismatchError, ManifestError, MissingBlobsError
from ...settings import default
from ..atomic import publishing
from .manifest_types import is_sha256

DEFAULT_MAX_BLOB_BYTES: int = default("max_blob_bytes")  # LOCALTRACK_MAX_BLOB_BYTES


_CHUNK = 1 << 20


class DirectoryBlobStore:
    """Verified blobs in one directory, named by their sha256 (a ``BlobStore``). Thread-safe."""

    def __init__(self, tmp: Path, blobs: Path) -> None:
        self.tmp = tmp
        self.blobs = blobs
        self.location = str(blobs)

    def path(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise ManifestError(f"{sha256!r} is not a lowercase hex sha256")
        return self.blobs / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def local_file(self, sha256: str) -> Path:
        return self.path(sha256)

    def discard_local(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def read_range(self, sha256: str, offset: int, length: int) -> bytes:
        try:
            with open(self.path(sha256), "rb") as f:
                f.seek(offset)
                return f.read(length)
        except FileNotFoundError:
            raise _missing(sha256, self.location) from None

    def chunks(self, sha256: str) -> Iterator[bytes]:
        path = self.path(sha256)
        if not path.is_file():
            raise _missing(sha256, self.location)
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                yield chunk

    def hashes(self) -> Iterator[str]:
        try:
            entries = list(os.scandir(self.blobs))
        except FileNotFoundError:
            return
        for entry in entries:
            if is_sha256(entry.name):
                yield entry.name

    def put(self, sha256: str, chunks: Iterable[bytes], max_bytes: int) -> int:
        """Stream `chunks` to a temp file, counting and hashing; keep it only if the hash matches.

        Raises BlobTooLargeError as soon as more than `max_bytes` arrived (whatever any header
        said), DigestMismatchError when the bytes hash to something else. Returns the size.
        """
        final = self.path(sha256)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.blobs.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp / f".{sha256[:16]}-{secrets.token_hex(6)}.tmp"
        digest = hashlib.sha256()
        size = 0
        with publishing(final, partial=tmp) as f:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise BlobTooLargeError(
                        f"blob {sha256[:12]}… is larger than the {max_bytes} bytes accepted here"
                    )
                digest.update(chunk)
                f.write(chunk)
            actual = digest.hexdigest()
            if actual != sha256:
                raise DigestMismatchError(
                    f"the {size} bytes received hash to {actual[:12]}…, not {sha256[:12]}…; "
                    "they were damaged on the way (or the file changed): send them again"
                )
        return size

    def gc(self, tmp_age_s: float, blob_age_s: float) -> int:
        """Delete partial uploads and never-committed blobs older than the given ages."""
        now = time.time()
        removed = 0
        for directory, age in ((self.tmp, tmp_age_s), (self.blobs, blob_age_s)):
            try:
                entries = list(os.scandir(directory))
            except FileNotFoundError:
                continue
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):
                    if now - entry.stat().st_mtime > age:
                        os.unlink(entry.path)
                        removed += 1
        return removed


def _missing(sha256: str, location: str) -> MissingBlobsError:
    return MissingBlobsError(f"blob {sha256[:12]}… is not in {location}", [sha256])
