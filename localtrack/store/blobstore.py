"""The server's blob store seam: blobs named by their sha256, written once, verified on the way in.

Two implementations sit behind ``BlobStore``::

    ingest/staging.py   DirectoryBlobStore  <root>/ingest/blobs/<sha256> (the default)
    store/s3blobs.py    S3BlobStore         <prefix>/blobs/<sha256> in an S3-compatible bucket,
                                            with <root>/ingest/blobs/ as its local cache

Whatever the backend, ``put`` hashes the bytes while they stream in and keeps them only when
they hash to the name they were sent under, and nothing is ever overwritten (content-addressed:
the same name always holds the same bytes). ``open_blob_store`` picks the backend from the
``--blobs`` option (``LOCALTRACK_BLOBS``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..errors import UsageError

if TYPE_CHECKING:
    from .ingest.staging import DirectoryBlobStore


class BlobStore(Protocol):
    """Blobs named by sha256. Implementations are thread-safe."""

    location: str  # where the blobs are, for messages ("/srv/lt/ingest/blobs", "s3://b/p")

    def put(self, sha256: str, chunks: Iterable[bytes], max_bytes: int) -> int:
        """Store the streamed bytes under `sha256` if they hash to it; returns their size.

        BlobTooLargeError past `max_bytes`, DigestMismatchError when the hash differs (nothing
        is kept then), StoreError when the backend cannot take it now (try again later)."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def read_range(self, sha256: str, offset: int, length: int) -> bytes:
        """Up to `length` bytes from `offset`; MissingBlobsError when there is no such blob."""
        ...

    def chunks(self, sha256: str) -> Iterator[bytes]:
        """The whole blob, streamed; MissingBlobsError when there is no such blob."""
        ...

    def hashes(self) -> Iterator[str]:
        """The name of every blob held."""
        ...

    def local_file(self, sha256: str) -> Path:
        """A verified local copy to link into a run, fetched first if only the backend has it.

        The path does not exist when no copy exists anywhere."""
        ...

    def discard_local(self, sha256: str) -> None:
        """Drop the local copy (an import that failed); a durable remote copy stays."""
        ...

    def gc(self, tmp_age_s: float, blob_age_s: float) -> int:
        """Delete partial uploads and local copies older than the given ages."""
        ...


@dataclass(frozen=True)
class BlobProblem:
    sha256: str
    problem: str  # "missing" or "changed: hashes to <sha256>"


def verify_blob(store: BlobStore, sha256: str) -> BlobProblem | None:
    """None when `store` holds `sha256` and its bytes hash to it; else what is wrong."""
    from ..errors import MissingBlobsError

    digest = hashlib.sha256()
    try:
        for chunk in store.chunks(sha256):
            digest.update(chunk)
    except MissingBlobsError:
        return BlobProblem(sha256, "missing")
    actual = digest.hexdigest()
    return None if actual == sha256 else BlobProblem(sha256, f"changed: hashes to {actual}")


def check_blobs_url(url: str | None) -> str | None:
    """`url` if it names a supported blob store (None or "" for the directory); else UsageError."""
    if not url:
        return None
    if not url.startswith("s3://") or not url[len("s3://") :].split("/", 1)[0]:
        raise UsageError(
            f"--blobs {url!r} is not supported: give s3://BUCKET or s3://BUCKET/PREFIX "
            "(or leave it out to keep blobs in the store directory)"
        )
    return url.rstrip("/")


def open_blob_store(url: str | None, cache: DirectoryBlobStore) -> BlobStore:
    """The blob store `url` names (``s3://bucket/prefix``), with `cache` as its local copy;
    `cache` itself when `url` is None (the directory backend)."""
    checked = check_blobs_url(url)
    if checked is None:
        return cache
    from .s3blobs import S3BlobStore

    return S3BlobStore.from_url(checked, cache)
