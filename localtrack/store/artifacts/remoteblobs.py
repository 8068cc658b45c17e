"""Artifact blobs read from the object store through a replica's bounded read cache.

On a shared-nothing server (``--index postgresql://…`` and ``--blobs s3://…``) an artifact's
stored files are the objects ``blobs/<sha256>`` of the bucket, in one content-addressed space
with the runs' blobs (a blob two versions or a run and a version share is one object). To
serve a file, a preview or a download, the replica fetches the blob into its read cache
(``store/runcache.py``, the same ``LOCALTRACK_READ_CACHE_BYTES`` bound the runs use): hashed on
the way and kept only when it hashes to its name, the least recently read evicted first, and
hard-linked from the replica's own upload when it received the bytes itself. A blob the bucket
lost is a ``MissingBlobsError`` naming the file and the blob (the server answers it with a 404
carrying that line), looked for again 30 s later.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from ...errors import MissingBlobsError
from ..runcache import RunCache
from .manifest import Entry

BLOB_VIEW = "artifact-blob"  # the folder of a blob's view in the cache: views/<digest>/<this>/


def lost_blob_line(path: str, problem: str, location: str, found_by: str) -> str:
    """How every read names a damaged file of an artifact version."""
    return (
        f"{path}: {problem} in {location} (found by {found_by}); "
        "the durable copy of this artifact version is damaged"
    )


class CachedArtifactBlobs:
    """Whole blobs fetched from the object store into the bounded read cache."""

    def __init__(self, cache: RunCache) -> None:
        self.cache = cache

    def path(self, entry: Entry) -> Path:
        """A local, hash-checked copy of `entry`'s blob; MissingBlobsError naming the file
        when the object store lacks it or holds other bytes."""
        name = f"files/{entry.sha256}"
        record = {"files": {name: {"sha256": entry.sha256, "bytes": entry.size}}}
        view = self.cache.view(BLOB_VIEW, record)
        problem = view.missing.get(name)
        if problem is not None:
            when = datetime.fromtimestamp(view.made_at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            found_by = f"reading the artifact at {when}"
            line = lost_blob_line(entry.path, problem, self.cache.blobs.location, found_by)
            raise MissingBlobsError(line, [entry.sha256])
        return view.paths(self.cache.views).dir / name

    def open(self, entry: Entry) -> BinaryIO:
        return open(self.path(entry), "rb")
