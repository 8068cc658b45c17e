"""Blobs in an S3-compatible object store (MinIO, Ceph RGW, AWS S3), through ``pyarrow.fs``.

::

    s3://<bucket>/<prefix>/blobs/<sha256>   one object per blob, written once, never overwritten
    <root>/ingest/blobs/<sha256>            the local cache (a ``DirectoryBlobStore``)

``put`` receives into the local cache first (hashed while it streams, kept only when it hashes
to its name), then uploads it unless the object is already there; an upload that fails leaves
no local copy, so the blob counts as absent and the client sends it again. ``local_file``
downloads a blob the cache lost and checks its hash again before a commit links it.

pyarrow is already a dependency, so the object store needs nothing more installed; its S3
client reads byte ranges (``read_range``: the read cache reads large shards and media
that way) and retries 503s, throttling and timeouts (AWS's standard strategy,
``LOCALTRACK_S3_RETRIES`` attempts). Connection settings are in ``localtrack/settings_table.py``;
credentials come from the AWS SDK's usual sources (environment, ``~/.aws/credentials``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pyarrow import fs as pafs

from ..errors import DigestMismatchError, MissingBlobsError, StoreError
from ..settings import resolve
from .ingest.manifest_types import is_sha256
from .ingest.staging import DirectoryBlobStore

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_NO_LIMIT = 1 << 62  # a blob fetched back was held to the server's limit when it came in


def s3_filesystem() -> pafs.S3FileSystem:
    """A pyarrow S3 client configured from the ``LOCALTRACK_S3_*`` settings."""
    options: dict[str, Any] = {
        "connect_timeout": resolve("s3_timeout"),
        "request_timeout": resolve("s3_timeout"),
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=resolve("s3_retries")),
        "force_virtual_addressing": not resolve("s3_path_style"),
        "allow_delayed_open": True,  # a blob under one part size goes up as one PutObject
    }
    endpoint = resolve("s3_endpoint")
    if endpoint:
        scheme, _, rest = endpoint.rpartition("://")
        options["endpoint_override"] = rest.rstrip("/")
        options["scheme"] = scheme or "https"
    region = resolve("s3_region")
    if region:
        options["region"] = region
    return pafs.S3FileSystem(**options)


class S3BlobStore:
    """Blobs under ``s3://bucket/prefix/blobs/`` with a local cache (a ``BlobStore``)."""

    def __init__(self, filesystem: pafs.FileSystem, url: str, cache: DirectoryBlobStore) -> None:
        self.fs = filesystem
        self.location = url
        self.cache = cache
        self._dir = url[len("s3://") :].rstrip("/") + "/blobs"

    @classmethod
    def from_url(cls, url: str, cache: DirectoryBlobStore) -> S3BlobStore:
        return cls(s3_filesystem(), url, cache)

    def _path(self, sha256: str) -> str:
        return f"{self._dir}/{self.cache.path(sha256).name}"  # cache.path checks the name

    def _failed(self, what: str, exc: OSError) -> StoreError:
        return StoreError(f"the object store {self.location} failed {what}: {exc}; try again later")

    # -- BlobStore ------------------------------------------------------------------------------

    def put(self, sha256: str, chunks: Iterable[bytes], max_bytes: int) -> int:
        size = self.cache.put(sha256, chunks, max_bytes)
        try:
            if self._remote_size(sha256) != size:
                self._upload(sha256, size)
        except BaseException:
            self.cache.discard_local(sha256)  # not durable: count it absent, so it is sent again
            raise
        return size

    def exists(self, sha256: str) -> bool:
        """Whether the object store holds it: a local copy alone is not durable (the object may
        have been deleted behind the server's back), so the client is asked to send it again."""
        return self._remote_size(sha256) is not None

    def size(self, sha256: str) -> int | None:
        """The object's size in the store (one HEAD request), None when it is not there; the
        read cache checks it before it reads a large blob by range (store/runcache.py)."""
        return self._remote_size(sha256)

    def read_range(self, sha256: str, offset: int, length: int) -> bytes:
        """Bytes [offset, offset + length) of the blob (fewer past its end): a HEAD (pyarrow's
        open, which also tells a deleted object: MissingBlobsError) and one ranged GET."""
        try:
            with self.fs.open_input_file(self._path(sha256)) as f:
                return bytes(f.read_at(length, offset))
        except FileNotFoundError:
            raise self._missing(sha256) from None
        except OSError as exc:
            raise self._failed(f"reading blob {sha256[:12]}…", exc) from exc

    def chunks(self, sha256: str) -> Iterator[bytes]:
        try:
            stream = self.fs.open_input_stream(self._path(sha256))
        except FileNotFoundError:
            raise self._missing(sha256) from None
        except OSError as exc:
            raise self._failed(f"reading blob {sha256[:12]}…", exc) from exc
        with stream:
            while chunk := stream.read(_CHUNK):
                yield bytes(chunk)

    def hashes(self) -> Iterator[str]:
        selector = pafs.FileSelector(self._dir, allow_not_found=True)
        try:
            infos = self.fs.get_file_info(selector)
        except OSError as exc:
            raise self._failed("listing blobs", exc) from exc
        for info in infos:
            if info.type == pafs.FileType.File and is_sha256(info.base_name):
                yield info.base_name

    def local_file(self, sha256: str) -> Path:
        path = self.cache.local_file(sha256)
        if path.is_file():
            return path
        try:
            self.cache.put(sha256, self.chunks(sha256), _NO_LIMIT)  # hashed again on the way
        except MissingBlobsError:
            pass  # nowhere: the caller sees a path that does not exist
        except DigestMismatchError as exc:
            log.error("blob %s in %s is damaged: %s", sha256, self.location, exc)
        return path

    def discard_local(self, sha256: str) -> None:
        self.cache.discard_local(sha256)

    def gc(self, tmp_age_s: float, blob_age_s: float) -> int:
        """Only local copies: objects are never deleted by the server."""
        return self.cache.gc(tmp_age_s, blob_age_s)

    # -- the object store -----------------------------------------------------------------------

    def _missing(self, sha256: str) -> MissingBlobsError:
        return MissingBlobsError(f"blob {sha256[:12]}… is not in {self.location}", [sha256])

    def _remote_size(self, sha256: str) -> int | None:
        try:
            info = self.fs.get_file_info(self._path(sha256))
        except OSError as exc:
            raise self._failed(f"looking up blob {sha256[:12]}…", exc) from exc
        return info.size if info.type == pafs.FileType.File else None

    def _upload(self, sha256: str, size: int) -> None:
        """Copy the verified local blob to its object; an object of the wrong size is deleted."""
        path = self._path(sha256)
        try:
            with (
                open(self.cache.local_file(sha256), "rb") as src,
                self.fs.open_output_stream(path) as out,
            ):
                while chunk := src.read(_CHUNK):
                    out.write(chunk)
            if self._remote_size(sha256) == size:
                return
            self.fs.delete_file(path)  # a partial object (the upload broke off): never kept
        except OSError as exc:
            self._drop_partial(path, size)
            raise self._failed(f"storing blob {sha256[:12]}…", exc) from exc
        raise StoreError(f"the object store {self.location} kept a partial blob {sha256[:12]}…")

    def _drop_partial(self, path: str, size: int) -> None:
        """Best effort after a failed upload: delete an object left with the wrong size."""
        try:
            info = self.fs.get_file_info(path)
            if info.type == pafs.FileType.File and info.size != size:
                self.fs.delete_file(path)
        except OSError as exc:
            log.warning("could not check for a partial object at %s: %s", path, exc)
