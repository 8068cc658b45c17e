"""Receiving blobs for an import: streamed to a temp file, hashed, kept only if the hash matches.

::

    <root>/ingest/tmp/.<token>.tmp      a blob being received (deleted on failure, GC'd by age)
    <root>/ingest/blobs/<sha256>        a verified blob (hard-linked into runs once committed)

The server's PUT and ``localtrack import`` both receive through ``BlobStaging.receive``, so a
blob is verified the same way whichever door it came in by.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path

from ...errors import BlobTooLargeError, DigestMismatchError, ManifestError
from ...settings import default
from ..atomic import publishing
from .manifest_types import is_sha256

DEFAULT_MAX_BLOB_BYTES: int = default("max_blob_bytes")  # LOCALTRACK_MAX_BLOB_BYTES


class BlobStaging:
    """Verified blobs waiting to be committed, named by their sha256. Thread-safe."""

    def __init__(self, tmp: Path, blobs: Path) -> None:
        self.tmp = tmp
        self.blobs = blobs

    def path(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise ManifestError(f"{sha256!r} is not a lowercase hex sha256")
        return self.blobs / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def receive(self, sha256: str, chunks: Iterable[bytes], max_bytes: int) -> int:
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
