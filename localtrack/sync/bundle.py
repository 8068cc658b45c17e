"""Bundles: runs in one file, to carry across an air gap. ``export`` writes, ``import`` applies.

The format is framed, not an archive: nothing in it is a path, so no member name can point
outside the store (blobs are named by their sha256, files by the manifest's allowlisted names)::

    magic    b"LTBNDL1\\n"                                   8 bytes
    frame*   kind (1 byte) | length (u64 little-endian) | payload (length bytes)
               H  header JSON {"format": "localtrack-bundle", "version": 1, "created_at", ...}
               B  blob: sha256 (32 raw bytes) + content
               M  a run's manifest (the sync protocol's JSON)
    end      kind "E" | length 32 | sha256 of every byte before this frame

Import reads the file once: each blob goes through ``Ingest.receive`` (the code a server's PUT
uses: hashed while streamed, kept only if the hash matches), manifests are parsed as the
protocol parses them, and only when the end frame's whole-file checksum matches are the runs
committed, one atomic ``Ingest.commit`` each. A truncated or tampered bundle is refused before
any run changes, and the blobs it staged are removed again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import LocaltrackError
from ..store.atomic import fsync_dir, partial_path
from ..store.importer import DigestMismatchError, Ingest, MissingBlobsError
from ..store.layout import RUN_JSON
from ..store.root import StoreRoot
from . import protocol
from .errors import BundleError, ProtocolError
from .manifest import LocalRun, ManifestBuilder
from .state import RunSyncState

log = logging.getLogger(__name__)

MAGIC = b"LTBNDL1\n"
FORMAT = "localtrack-bundle"
VERSION = 1
_FRAME = struct.Struct("<cQ")
MAX_JSON_FRAME = protocol.MAX_JSON_BYTES
MAX_FRAMES = 10_000_000
MAX_BLOB_BYTES = 64 << 30
_CHUNK = 1 << 20


# -- writing -------------------------------------------------------------------------------------


@dataclass
class ExportReport:
    path: Path
    runs: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    blobs: int = 0
    bytes: int = 0
    seconds: float = 0.0


class _Writer:
    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.f.write(data)
        self.digest.update(data)
        self.size += len(data)

    def frame(self, kind: bytes, payload: bytes) -> None:
        self.write(_FRAME.pack(kind, len(payload)))
        self.write(payload)


def export_bundle(
    root: Path | str,
    run_ids: Sequence[str],
    out: Path | str,
    progress: Callable[[str, int], None] | None = None,
) -> ExportReport:
    """Write `run_ids` of the store at `root` into one bundle at `out` (atomically).

    Each shard is read once, hashed while copied; a run whose file no longer matches its
    hash is left out and named in ``report.failed``, the rest are exported.
    """
    started = time.monotonic()
    out = Path(out)
    report = ExportReport(out)
    builder = ManifestBuilder(StoreRoot(root))
    tick = progress or (lambda what, n: None)
    tmp = partial_path(out)
    written: set[str] = set()
    try:
        with open(tmp, "wb") as f:
            w = _Writer(f)
            w.write(MAGIC)
            header = {"format": FORMAT, "version": VERSION, "created_at": time.time()}
            w.frame(b"H", json.dumps(header).encode())
            manifests = []
            for run_id in run_ids:
                state = builder.load_state(run_id)
                mark = (f.tell(), w.digest.copy(), w.size, set(written), report.blobs, report.bytes)
                try:
                    local = builder.build(run_id, state)
                    tick(
                        "total",
                        sum(r.bytes for r in local.manifest.files if r.sha256 not in written),
                    )
                    for ref in local.manifest.files:
                        if ref.sha256 not in written:
                            _copy_blob(w, local, ref.name, ref.sha256, ref.bytes)
                            written.add(ref.sha256)
                            report.blobs += 1
                            report.bytes += ref.bytes
                            tick("bytes", ref.bytes)
                except (LocaltrackError, OSError) as exc:
                    # Take the run's frames back out, so the bundle holds no half of it.
                    f.seek(mark[0])
                    f.truncate()
                    w.digest, w.size, written = mark[1], mark[2], mark[3]
                    report.blobs, report.bytes = mark[4], mark[5]
                    report.failed[run_id] = str(exc)
                    log.warning("run %s left out of the bundle: %s", run_id, exc)
                    continue
                finally:
                    state.save()
                manifests.append(local.manifest)
                report.runs.append(run_id)
            for manifest in manifests:
                w.frame(b"M", protocol.canonical_json(manifest.to_json()).encode())
            f.write(_FRAME.pack(b"E", 32) + w.digest.digest())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        builder.close()
    fsync_dir(out.parent.absolute())
    report.seconds = time.monotonic() - started
    return report


def _copy_blob(w: _Writer, local: LocalRun, name: str, sha256: str, size: int) -> None:
    w.write(_FRAME.pack(b"B", 32 + size))
    w.write(bytes.fromhex(sha256))
    digest = hashlib.sha256()
    left = size
    with local.open_file(name) as src:
        while left > 0:
            chunk = src.read(min(_CHUNK, left))
            if not chunk:
                break
            digest.update(chunk)
            w.write(chunk)
            left -= len(chunk)
    if left or digest.hexdigest() != sha256:
        raise BundleError(
            f"{name} of run {local.run_id} changed or is damaged on disk (its sha256 no longer "
            "matches); `localtrack doctor` checks the run"
        )


# -- reading -------------------------------------------------------------------------------------


class _Reader:
    """Sequential frame reader that hashes every byte before the end frame."""

    def __init__(self, f: BinaryIO, size: int) -> None:
        self.f = f
        self.size = size
        self.pos = 0
        self.digest = hashlib.sha256()

    def read(self, n: int, hashed: bool = True) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise BundleError(
                f"the bundle is truncated: wanted {n} bytes at offset {self.pos}, "
                f"the file has {len(data)}"
            )
        self.pos += n
        if hashed:
            self.digest.update(data)
        return data

    def chunks(self, n: int) -> Iterator[bytes]:
        left = n
        while left > 0:
            chunk = self.read(min(_CHUNK, left))
            left -= len(chunk)
            yield chunk


@dataclass
class BundleContents:
    """What a verified bundle holds: manifests, and where each blob's bytes are."""

    path: Path
    manifests: list[protocol.Manifest] = field(default_factory=list)
    blobs: dict[str, tuple[int, int]] = field(default_factory=dict)  # sha → (offset, length)
    header: dict[str, Any] = field(default_factory=dict)


def scan_bundle(
    path: Path | str,
    on_blob: Callable[[str, Iterator[bytes], int], None] | None = None,
    max_blob_bytes: int = MAX_BLOB_BYTES,
) -> BundleContents:
    """Read a bundle once, checking its structure, every blob's sha256 and the whole-file
    checksum; `on_blob(sha, chunks, length)` consumes each blob's bytes (else they are hashed
    here). Raises BundleError for anything truncated, tampered with or malformed."""
    path = Path(path)
    contents = BundleContents(path)
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise BundleError(f"cannot open the bundle {path}: {exc.strerror or exc}") from exc
    with f:
        size = os.fstat(f.fileno()).st_size
        r = _Reader(f, size)
        if size < len(MAGIC) or r.read(len(MAGIC)) != MAGIC:
            raise BundleError(f"{path} is not a localtrack bundle (no LTBNDL1 magic)")
        frames = 0
        while True:
            kind, length = _FRAME.unpack(r.read(_FRAME.size, hashed=False))
            if kind == b"E":
                _check_end(r, path, length)
                break
            r.digest.update(_FRAME.pack(kind, length))
            frames += 1
            if frames > MAX_FRAMES:
                raise BundleError(f"{path} has more than {MAX_FRAMES} frames")
            if length > size - r.pos:
                raise BundleError(
                    f"the bundle is truncated: a frame at offset {r.pos} claims {length} bytes"
                )
            if kind == b"B":
                _read_blob(r, contents, length, on_blob, max_blob_bytes)
            elif kind in (b"H", b"M"):
                _read_json_frame(r, contents, kind, length)
            else:
                raise BundleError(f"unknown frame kind {kind!r} at offset {r.pos - _FRAME.size}")
    if contents.header.get("format") != FORMAT:
        raise BundleError(f"{path} has no localtrack bundle header")
    for manifest in contents.manifests:
        for ref in manifest.files:
            if ref.sha256 not in contents.blobs:
                raise BundleError(
                    f"run {manifest.run_id} lists {ref.name}, but the bundle does not hold it"
                )
    return contents


def _check_end(r: _Reader, path: Path, length: int) -> None:
    if length != 32:
        raise BundleError(f"{path}: the end frame is malformed")
    expected = r.digest.digest()
    stored = r.read(32, hashed=False)
    if stored != expected:
        raise BundleError(
            f"{path} fails its whole-file checksum: it was changed or damaged after export"
        )
    if r.f.read(1):
        raise BundleError(f"{path} has bytes after its end frame")


def _read_blob(
    r: _Reader,
    contents: BundleContents,
    length: int,
    on_blob: Callable[[str, Iterator[bytes], int], None] | None,
    max_blob_bytes: int,
) -> None:
    if length < 32:
        raise BundleError(f"a blob frame at offset {r.pos} is too short")
    sha = r.read(32).hex()
    size = length - 32
    if size > max_blob_bytes:
        raise BundleError(f"blob {sha[:12]}… is {size} bytes, over the {max_blob_bytes} limit")
    offset = r.pos
    if on_blob is not None:
        chunks = r.chunks(size)
        try:
            on_blob(sha, chunks, size)
        except DigestMismatchError as exc:
            raise BundleError(f"blob {sha[:12]}… at offset {offset} is damaged: {exc}") from exc
        for _ in chunks:  # whatever the consumer left unread still counts for the checksum
            pass
    else:
        digest = hashlib.sha256()
        for chunk in r.chunks(size):
            digest.update(chunk)
        if digest.hexdigest() != sha:
            raise BundleError(f"blob {sha[:12]}… at offset {offset} is damaged (sha256 differs)")
    contents.blobs[sha] = (offset, size)


def _read_json_frame(r: _Reader, contents: BundleContents, kind: bytes, length: int) -> None:
    if length > MAX_JSON_FRAME:
        raise BundleError(f"a {kind.decode()} frame of {length} bytes is over the limit")
    try:
        data = json.loads(r.read(length).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleError(f"a {kind.decode()} frame is not valid JSON: {exc}") from None
    if kind == b"H":
        if contents.header or not isinstance(data, dict):
            raise BundleError("the bundle has a second or malformed header")
        if data.get("version") != VERSION:
            raise BundleError(
                f"bundle version {data.get('version')!r} is not readable by this localtrack "
                f"(reads {VERSION}); upgrade it"
            )
        contents.header = data
        return
    try:
        manifest = protocol.Manifest.from_json(data)
    except ProtocolError as exc:
        raise BundleError(f"a manifest in the bundle is malformed: {exc}") from None
    if any(m.run_id == manifest.run_id for m in contents.manifests):
        raise BundleError(f"run {manifest.run_id} appears twice in the bundle")
    contents.manifests.append(manifest)


# -- importing into a store ----------------------------------------------------------------------


@dataclass
class ImportReport:
    runs: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    blobs: int = 0
    bytes: int = 0
    seconds: float = 0.0


def import_bundle(
    path: Path | str, root: Path | str, progress: Callable[[str, int], None] | None = None
) -> ImportReport:
    """Verify the bundle at `path` completely, then commit its runs into the store at `root`."""
    started = time.monotonic()
    ingest = Ingest(root).create()
    ingest.recover()
    report = ImportReport()
    staged: list[str] = []
    tick = progress or (lambda what, n: None)

    def on_blob(sha: str, chunks: Iterator[bytes], size: int) -> None:
        if not ingest.has_blob(sha):
            ingest.receive(sha, chunks, max_bytes=MAX_BLOB_BYTES)
            staged.append(sha)
            report.blobs += 1
            report.bytes += size
        tick("bytes", size)

    try:
        contents = scan_bundle(path, on_blob)
    except BaseException:
        for sha in staged:
            ingest.blob_path(sha).unlink(missing_ok=True)
        ingest.close()
        raise
    try:
        for manifest in contents.manifests:
            report.runs.append(manifest.run_id)
            try:
                result = ingest.commit(manifest.run)
            except (LocaltrackError, OSError) as exc:
                report.failed[manifest.run_id] = str(exc)
                continue
            if result.changed:
                report.changed.append(manifest.run_id)
            tick("run", 1)
    finally:
        ingest.close()
    report.seconds = time.monotonic() - started
    return report


# -- pushing a bundle to a server ----------------------------------------------------------------


class _Slice:
    """A read-only window onto part of a file."""

    def __init__(self, path: Path, offset: int, length: int) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._f.seek(offset)
        self._left = length

    def read(self, n: int = -1) -> bytes:
        want = self._left if n is None or n < 0 else min(n, self._left)
        data = self._f.read(want)
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> _Slice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BundleSource:
    """A verified bundle as a source for ``SyncClient`` (``localtrack sync --bundle``)."""

    def __init__(self, path: Path | str) -> None:
        self.contents = scan_bundle(path)
        self.label = str(path)
        self._by_id = {m.run_id: m for m in self.contents.manifests}

    @property
    def run_ids(self) -> list[str]:
        return [m.run_id for m in self.contents.manifests]

    def load_state(self, run_id: str) -> RunSyncState:
        return RunSyncState(None)

    def build(self, run_id: str, state: RunSyncState) -> LocalRun:
        manifest = self._by_id.get(run_id)
        if manifest is None:
            raise MissingBlobsError(f"run {run_id} is not in the bundle", [])
        by_name = {f.name: f for f in manifest.files}
        path = self.contents.path
        blobs = self.contents.blobs

        def opener(name: str) -> BinaryIO:
            offset, length = blobs[by_name[name].sha256]
            return _Slice(path, offset, length)  # type: ignore[return-value]

        with opener(RUN_JSON) as f:
            run_json = f.read()
        return LocalRun(manifest, {RUN_JSON: run_json}, "bundled", 0, opener)

    def close(self) -> None:
        pass
