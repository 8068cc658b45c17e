"""The bundle file format: frames, their limits, and the whole-file checksum.

The format is framed, not an archive: nothing in it is a path, so no member name can point
outside the store (blobs are named by their sha256, files by the manifest's allowlisted names)::

    magic    b"LTBNDL1\\n"                                   8 bytes
    frame*   kind (1 byte) | length (u64 little-endian) | payload (length bytes)
               H  header JSON {"format": "localtrack-bundle", "version": 1, "created_at", ...}
               B  blob: sha256 (32 raw bytes) + content
               M  a run's manifest (the sync protocol's JSON)
               A  an artifact collection (store/ingest/artifacts.py's document)
               W  a saved workspace view of an exported run's project (sync/views.py)
               S  a sweep's state, the sweep of exported trial runs (sweeps/wire.py)
               R  a report of an exported run's project (sync/reports.py)
    end      kind "E" | length 32 | sha256 of every byte before this frame

``FrameWriter`` writes frames and hashes them; ``scan_bundle`` reads a bundle once and refuses
anything truncated, tampered with or malformed. Exporting and importing runs is ``bundle.py``.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import BundleError, DigestMismatchError, DocumentError, ProtocolError
from ..store import jsondoc
from ..store.ingest.artifacts import CollectionDoc, parse_collection
from . import protocol

MAGIC = b"LTBNDL1\n"
FORMAT = "localtrack-bundle"
VERSION = 1
_FRAME = struct.Struct("<cQ")
MAX_JSON_FRAME = protocol.MAX_JSON_BYTES
MAX_FRAMES = 10_000_000
MAX_BLOB_BYTES = 64 << 30
_CHUNK = 1 << 20


# -- writing -------------------------------------------------------------------------------------


class FrameWriter:
    """Writes frames to `f`, hashing every byte for the end frame's checksum."""

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

    def begin_blob(self, sha256: str, size: int) -> None:
        """Start a blob frame of `size` content bytes; the caller writes the content next."""
        self.write(_FRAME.pack(b"B", 32 + size))
        self.write(bytes.fromhex(sha256))

    def end(self) -> None:
        """Write the end frame: the sha256 of every byte before it."""
        self.f.write(_FRAME.pack(b"E", 32) + self.digest.digest())


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
    artifacts: list[CollectionDoc] = field(default_factory=list)
    views: list[dict[str, Any]] = field(default_factory=list)  # saved workspace views (W)
    sweeps: list[dict[str, Any]] = field(default_factory=list)  # sweeps' states (S)
    reports: list[dict[str, Any]] = field(default_factory=list)  # reports (R)


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
            elif kind in (b"H", b"M", b"A", b"W", b"S", b"R"):
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
    for doc in contents.artifacts:
        lacking = sorted(set(doc.blobs_of({m.version for m in doc.versions})) - set(contents.blobs))
        if lacking:
            raise BundleError(
                f"artifact {doc.key} names blob {lacking[0][:12]}…, which the bundle does not hold"
            )
    return contents


HEADER_FIELDS: dict[str, jsondoc.Check] = {
    "format": jsondoc.one_of((FORMAT,)),
    "version": jsondoc.integer(minimum=1),
    "created_at": jsondoc.number(nullable=True),
}


def check_header(data: object) -> dict[str, Any]:
    """The bundle header, if it fits its schema and this version reads it; else BundleError."""
    try:
        jsondoc.check_fields("the bundle header", data, HEADER_FIELDS, required=("format",))
    except DocumentError as exc:
        raise BundleError(str(exc)) from None
    assert isinstance(data, dict)
    if data.get("version") != VERSION:
        raise BundleError(
            f"bundle version {data.get('version')!r} is not readable by this localtrack "
            f"(reads {VERSION}); upgrade it"
        )
    return data


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
    what = "the bundle header" if kind == b"H" else f"a {kind.decode()} frame at offset {r.pos}"
    try:
        data = jsondoc.loads(r.read(length), what)
    except DocumentError as exc:
        raise BundleError(str(exc)) from None
    if kind == b"H":
        if contents.header:
            raise BundleError("the bundle has a second header")
        contents.header = check_header(data)
        return
    if kind == b"S":
        from ..sweeps.wire import check_state

        try:
            state = check_state(data)
        except DocumentError as exc:
            raise BundleError(f"a sweep in the bundle is malformed: {exc}") from None
        if any(d["id"] == state["id"] for d in contents.sweeps):
            raise BundleError(f"sweep {state['id']} appears twice in the bundle")
        contents.sweeps.append(state)
        return
    if kind == b"R":
        from .reports import check_document as check_report

        try:
            contents.reports.append(check_report(data))
        except DocumentError as exc:
            raise BundleError(f"a report in the bundle is malformed: {exc}") from None
        return
    if kind == b"W":
        from .views import check_document

        try:
            view = check_document(data)
        except DocumentError as exc:
            raise BundleError(f"a workspace view in the bundle is malformed: {exc}") from None
        contents.views.append(view)
        return
    if kind == b"A":
        try:
            doc = parse_collection(data)
        except DocumentError as exc:
            raise BundleError(f"an artifact collection in the bundle is malformed: {exc}") from None
        if any(d.key == doc.key for d in contents.artifacts):
            raise BundleError(f"artifact {doc.key} appears twice in the bundle")
        contents.artifacts.append(doc)
        return
    try:
        manifest = protocol.Manifest.from_json(data)
    except ProtocolError as exc:
        raise BundleError(f"a manifest in the bundle is malformed: {exc}") from None
    if any(m.run_id == manifest.run_id for m in contents.manifests):
        raise BundleError(f"run {manifest.run_id} appears twice in the bundle")
    contents.manifests.append(manifest)
