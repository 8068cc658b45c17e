"""The manifest of one artifact version: entries (path → sha256, size, ref), digest, schema.

One schema, used when a manifest is written and when one is read back (or received): a field of
the wrong type is a ``DocumentError`` naming it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import CorruptDataError, DocumentError
from .layout import FORMAT_VERSION, MANIFEST_FORMAT, check_entry_path, check_name, is_sha256

DOCUMENT = "artifact manifest"
_BLOCK = 4096  # entries hashed or formatted together


@dataclass(frozen=True)
class Entry:
    """One file of a version: its content hash and size; `ref` is the URI of a reference."""

    path: str
    sha256: str
    size: int
    ref: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "ref": self.ref}


def entries_digest(entries: Mapping[str, Entry]) -> str:
    """sha256 over `<path>\\t<sha256>\\t<size>\\t<ref>\\n` in path order (UTF-8 bytes).

    Python orders strings by code point, which is the order of their UTF-8 bytes, so the paths
    are sorted as they are; the lines are hashed a block at a time."""
    h = hashlib.sha256()
    paths = sorted(entries)
    for start in range(0, len(paths), _BLOCK):
        lines = [
            f"{p}\t{e.sha256}\t{e.size}\t{e.ref or ''}\n"
            for p in paths[start : start + _BLOCK]
            for e in (entries[p],)
        ]
        h.update("".join(lines).encode())
    return h.hexdigest()


def entries_json(entries: Mapping[str, Entry]) -> str:
    """The manifest's ``entries`` object as ``json.dumps`` writes it (compact, keys sorted),
    one formatted string per entry rather than a dict each."""
    quote = json.encoder.encode_basestring_ascii  # what json.dumps uses for every str
    parts = [
        f'{quote(p)}:{{"sha256":{quote(e.sha256)},"size":{int(e.size)},'
        f'"ref":{"null" if e.ref is None else quote(e.ref)}}}'
        for p in sorted(entries)
        for e in (entries[p],)
    ]
    return "{" + ",".join(parts) + "}"


@dataclass(frozen=True)
class PreparedEntries:
    """A new version's entries (in path order) with their digest and JSON, made once."""

    entries: Mapping[str, Entry]
    digest: str
    json: str


def prepare_entries(entries: Mapping[str, Entry]) -> PreparedEntries:
    ordered = {p: entries[p] for p in sorted(entries)}  # as reading the manifest back gives
    return PreparedEntries(ordered, entries_digest(ordered), entries_json(ordered))


@dataclass(frozen=True)
class Manifest:
    """An immutable version (or, with `deleted_at`, its tombstone).

    `project` is the collection's namespace, "project" or "entity/project"; the document holds
    the project alone (the namespace is the collection folder's, docs/format.md).
    """

    project: str
    name: str
    version: int
    type: str
    digest: str
    entries: Mapping[str, Entry]
    created_at: float
    run_id: str | None = None
    description: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    linked_from: Mapping[str, Any] | None = None
    deleted_at: float | None = None

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries.values())

    @property
    def file_count(self) -> int:
        return len(self.entries)

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    def as_json(self, with_entries: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "format": MANIFEST_FORMAT,
            "format_version": FORMAT_VERSION,
            "project": self.project.rpartition("/")[2],
            "name": self.name,
            "version": self.version,
            "type": self.type,
            "digest": self.digest,
            "size": self.size,
            "file_count": self.file_count,
            "created_at": self.created_at,
            "run_id": self.run_id,
            "description": self.description,
            "metadata": dict(self.metadata),
            "linked_from": dict(self.linked_from) if self.linked_from else None,
        }
        if with_entries:
            doc["entries"] = {p: self.entries[p].as_json() for p in sorted(self.entries)}
        if self.deleted_at is not None:
            doc["deleted_at"] = self.deleted_at
        return doc

    def to_bytes(self, prepared: PreparedEntries | None = None) -> bytes:
        """The document as compact JSON, byte for byte what ``json.dumps(self.as_json(),
        separators=(",", ":"))`` writes, without building a dict per entry (`prepared`: these
        entries already written)."""
        doc = self.as_json(with_entries=False)
        later = {"deleted_at": doc.pop("deleted_at")} if "deleted_at" in doc else {}
        head = json.dumps(doc, separators=(",", ":"), allow_nan=False)
        tail = json.dumps(later, separators=(",", ":"), allow_nan=False)[1:]
        entries = entries_json(self.entries) if prepared is None else prepared.json
        text = f'{head[:-1]},"entries":{entries}{"," if later else ""}{tail}'
        return text.encode() + b"\n"


def _bad(field_name: str, message: str) -> DocumentError:
    return DocumentError(message, DOCUMENT, field_name)


def _need(doc: Mapping[str, Any], key: str, types: type | tuple[type, ...]) -> Any:
    value = doc.get(key)
    if not isinstance(value, types) or isinstance(value, bool):
        raise _bad(key, f"{key} has the wrong type ({type(value).__name__})")
    return value


def parse_entries(raw: Any) -> dict[str, Entry]:
    if not isinstance(raw, dict):
        raise _bad("entries", "entries must be an object")
    out: dict[str, Entry] = {}
    for path, e in raw.items():
        where = f"entries[{path!r}]"
        try:
            norm = check_entry_path(path)
        except ValueError as exc:
            raise _bad(where, str(exc)) from None
        if not isinstance(e, dict) or not is_sha256(e.get("sha256")):
            raise _bad(where, f"{where} needs a sha256 hex digest")
        size, ref = e.get("size"), e.get("ref")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _bad(where, f"{where}.size must be a whole number >= 0")
        if ref is not None and not isinstance(ref, str):
            raise _bad(where, f"{where}.ref must be a string or null")
        out[norm] = Entry(norm, e["sha256"], size, ref)
    return out


def parse_manifest(doc: Any) -> Manifest:
    """A Manifest from its JSON document, every field checked."""
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
        raise _bad("format", f"not a {MANIFEST_FORMAT} document")
    version = _need(doc, "format_version", int)
    if version > FORMAT_VERSION:
        raise _bad(
            "format_version",
            f"artifact format {version} is newer than this localtrack reads "
            f"({FORMAT_VERSION}); upgrade localtrack",
        )
    try:
        project = check_name(_need(doc, "project", str), "project name")
        name = check_name(_need(doc, "name", str))
    except ValueError as exc:
        raise _bad("name", str(exc)) from None
    entries = parse_entries(doc.get("entries"))
    digest = _need(doc, "digest", str)
    deleted_at = doc.get("deleted_at")
    if deleted_at is None and entries_digest(entries) != digest:
        raise _bad("digest", "digest does not match the entries")
    metadata = doc.get("metadata") or {}
    linked = doc.get("linked_from")
    if not isinstance(metadata, dict) or (linked is not None and not isinstance(linked, dict)):
        raise _bad("metadata", "metadata and linked_from must be objects")
    run_id, description = doc.get("run_id"), doc.get("description")
    if run_id is not None and not isinstance(run_id, str):
        raise _bad("run_id", "run_id must be a string or null")
    if description is not None and not isinstance(description, str):
        raise _bad("description", "description must be a string or null")
    return Manifest(
        project=project,
        name=name,
        version=_need(doc, "version", int),
        type=_need(doc, "type", str),
        digest=digest,
        entries=entries,
        created_at=float(_need(doc, "created_at", (int, float))),
        run_id=run_id,
        description=description,
        metadata=metadata,
        linked_from=linked,
        deleted_at=None if deleted_at is None else float(deleted_at),
    )


def read_manifest(path: Path) -> Manifest:
    """The manifest at `path`; CorruptDataError when it is unreadable or malformed."""
    try:
        with open(path, "rb") as f:
            return parse_manifest(json.load(f))
    except (ValueError, DocumentError) as exc:
        raise CorruptDataError(f"artifact manifest {path} is damaged: {exc}") from exc
