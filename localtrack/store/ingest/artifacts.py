"""Receiving artifact collections (sync and import): one schema, then a mirror of the files.

A collection travels as one JSON document (docs/sync.md, "Artifacts")::

    {"project": "mnist", "name": "dataset", "entity": "team-a",   # or null
     "versions": [<v<N>.json manifest>, ...],   # live versions and tombstones
     "events":   [<events/<seq>.json>, ...],    # alias moves (who/when/from/to), edits, deletes
     "uses":     [<uses/<run>.v<N>.json>, ...]} # lineage: which run used which version

The receiver checks every field (``parse_collection``: a ``DocumentError`` naming the field),
then mirrors the sender's files into the collection's folder of its namespace
(``<root>/artifacts/collections/<entity%2Fproject or project>/<name>/``) at the same version
numbers and event sequence numbers, so versions, aliases, their recorded moves and lineage read
the same on both sides. A file already here with other content is a conflict (409
``artifact_conflict``), never overwritten; a version deleted on either side stays deleted.

A collection lives in one ``entity/project`` namespace, like a run: ``team/p/ds`` and
``other/p/ds`` are two collections. The one conflict of namespaces left is a store written
before entities were part of the layout, whose plain ``p/ds`` folder belongs to an entity: a
document for ``p/ds`` without one is refused there (``store/artifacts/namespace.py``). Blobs of
new versions come from the ingest staging area (uploaded or read from a bundle, hash-verified)
and are added to the artifact blob area under its gc lock before any manifest naming them is
published.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import (
    ArtifactConflictError,
    DocumentError,
    MissingBlobsError,
    UsageError,
)
from .. import jsondoc
from ..artifacts.blobs import AddReport
from ..artifacts.collection import load_manifest
from ..artifacts.layout import (
    FORMAT_VERSION,
    CollectionPaths,
    check_alias,
    check_name,
    join_namespace,
    split_namespace,
)
from ..artifacts.manifest import Manifest, parse_manifest
from ..artifacts.repository import ArtifactRepository
from ..atomic import publishing, write_json_atomic
from ..layout import is_valid_run_id

DOCUMENT = "artifact collection"
MAX_VERSIONS = 100_000
MAX_EVENTS = 1_000_000
MAX_USES = 1_000_000

_NAME = jsondoc.text(128, min_chars=1)
_FIELDS: dict[str, jsondoc.Check] = {
    "project": _NAME,
    "name": _NAME,
    "entity": jsondoc.text(128, nullable=True, min_chars=1),
    "versions": jsondoc.records(MAX_VERSIONS, {}),
    "events": jsondoc.records(
        MAX_EVENTS,
        {
            "format_version": jsondoc.integer(minimum=1),
            "seq": jsondoc.integer(minimum=0),
            "at": jsondoc.number(),
            "who": jsondoc.text(256),
            "op": jsondoc.one_of(("alias", "edit", "delete")),
            "alias": _NAME,
            "from": jsondoc.integer(nullable=True, minimum=0),
            "to": jsondoc.integer(nullable=True, minimum=0),
            "run_id": jsondoc.text(128, nullable=True),
            "version": jsondoc.integer(minimum=0),
            "description": jsondoc.text(100_000, nullable=True, multiline=True),
            "metadata": jsondoc.mapping(nullable=True),
        },
    ),
    "uses": jsondoc.records(
        MAX_USES,
        {
            "format_version": jsondoc.integer(minimum=1),
            "run_id": jsondoc.text(128, min_chars=1),
            "project": jsondoc.text(128, nullable=True),
            "version": jsondoc.integer(minimum=0),
            "at": jsondoc.number(),
        },
    ),
}
_REQUIRED_EVENT = {"alias": ("alias",), "edit": ("version",), "delete": ("version",)}


def _bad(where: str, message: str) -> DocumentError:
    return DocumentError(f"{DOCUMENT} field {where!r} {message}", DOCUMENT, where)


@dataclass(frozen=True)
class CollectionDoc:
    """A checked collection document: its manifests parsed, events and uses as sent."""

    project: str
    name: str
    entity: str | None
    versions: tuple[Manifest, ...]
    events: tuple[dict[str, Any], ...]
    uses: tuple[dict[str, Any], ...]

    @property
    def namespace(self) -> str:
        """ "entity/project", or the project alone."""
        return join_namespace(self.entity, self.project)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def to_json(self) -> dict[str, Any]:
        """The document again, as ``collection_document`` writes it (to send it on)."""
        return {"project": self.project, "name": self.name, "entity": self.entity,
                "versions": [m.as_json() for m in self.versions],
                "events": list(self.events), "uses": list(self.uses)}  # fmt: skip

    def blobs_of(self, versions: set[int]) -> dict[str, int]:
        """sha256 → size of the stored (non-reference) entries of those live versions."""
        out: dict[str, int] = {}
        for m in self.versions:
            if m.version in versions and not m.deleted:
                out.update({e.sha256: e.size for e in m.entries.values() if e.ref is None})
        return out


def parse_collection(data: object) -> CollectionDoc:
    """The collection document, every field checked; DocumentError naming the bad one."""
    jsondoc.check_fields(DOCUMENT, data, _FIELDS, required=("project", "name", "versions"))
    assert isinstance(data, dict)
    project, name = data["project"], data["name"]
    try:
        check_name(project, "project name")
    except UsageError as exc:
        raise _bad("project", str(exc)) from None
    try:
        check_name(name)
    except UsageError as exc:
        raise _bad("name", str(exc)) from None
    versions: list[Manifest] = []
    for i, raw in enumerate(data["versions"]):
        try:
            m = parse_manifest(raw)
        except DocumentError as exc:
            raise _bad(f"versions[{i}].{exc.field}", str(exc)) from None
        except (UsageError, ValueError, TypeError) as exc:
            raise _bad(f"versions[{i}]", str(exc)) from None
        if (m.project, m.name) != (project, name):
            raise _bad(f"versions[{i}].name", f"names {m.project}/{m.name}, not {project}/{name}")
        if any(v.version == m.version for v in versions):
            raise _bad(f"versions[{i}].version", f"v{m.version} appears twice")
        versions.append(m)
    events = [_check_event(i, ev) for i, ev in enumerate(data.get("events") or [])]
    uses = [_check_use(i, u) for i, u in enumerate(data.get("uses") or [])]
    return CollectionDoc(
        project, name, data.get("entity"), tuple(versions), tuple(events), tuple(uses)
    )


def _check_event(i: int, ev: dict[str, Any]) -> dict[str, Any]:
    for key in ("seq", "op", *_REQUIRED_EVENT.get(ev.get("op", ""), ())):
        if key not in ev:
            raise _bad(f"events[{i}].{key}", "is missing")
    if ev["op"] == "alias":
        try:
            check_alias(ev["alias"])
        except UsageError as exc:
            raise _bad(f"events[{i}].alias", str(exc)) from None
    try:
        json.dumps(ev, allow_nan=False)
    except ValueError:
        raise _bad(f"events[{i}]", "must hold only finite numbers") from None
    return ev


def _check_use(i: int, use: dict[str, Any]) -> dict[str, Any]:
    for key in ("run_id", "version", "at"):
        if key not in use:
            raise _bad(f"uses[{i}].{key}", "is missing")
    if not is_valid_run_id(use["run_id"]):
        raise _bad(f"uses[{i}].run_id", f"{use['run_id']!r} is not a run id")
    return use


def collection_document(repo: ArtifactRepository, project: str, name: str) -> dict[str, Any]:
    """The document that carries `project/name` of `repo` (`project`: its namespace), read
    from its files (the truth)."""
    paths = repo.collection(project, name)
    manifests = [load_manifest(paths, v) for v in paths.versions_on_disk()]
    versions = [m.as_json() for m in manifests]
    entity, project = split_namespace(project)
    events = [_read(paths.event(seq)) for seq in paths.event_seqs()]
    uses = []
    if paths.uses.is_dir():
        for p in sorted(paths.uses.iterdir()):
            if p.name.endswith(".json") and not p.name.startswith("."):
                uses.append(_read(p))
    return {"project": project, "name": name, "entity": entity, "versions": versions,
            "events": events, "uses": uses}  # fmt: skip


def _read(path: Path) -> Any:
    with open(path, "rb") as f:
        return json.load(f)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass
class CollectionPlan:
    """What applying a document would change here."""

    versions: list[Manifest] = field(default_factory=list)  # new here, or tombstones to apply
    events: list[dict[str, Any]] = field(default_factory=list)
    uses: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    needed: dict[str, int] = field(default_factory=dict)

    @property
    def current(self) -> bool:
        return not (self.versions or self.events or self.uses)


def plan_collection(
    doc: CollectionDoc,
    manifest_here: Callable[[int], Manifest | None],
    event_here: Callable[[int], Any],
    use_here: Callable[[str, int], bool],
) -> CollectionPlan:
    """What `doc` adds to a collection as held here (``missing`` left empty), given lookups of
    what is held: a version's manifest, an event by sequence number (None: not held), whether
    a run's use of a version is recorded. Shared by the directory store (its files) and a
    shared-nothing server (PostgreSQL rows, ``artifacts/pgcatalog.py``). ArtifactConflictError
    when a version or event held here has other content: neither is ever overwritten."""
    plan = CollectionPlan()
    new: set[int] = set()
    for m in doc.versions:
        here = manifest_here(m.version)
        if here is None:
            plan.versions.append(m)
            new.add(m.version)
        elif here.digest != m.digest and not (here.deleted or m.deleted):
            raise ArtifactConflictError(
                f"artifact {doc.key}:v{m.version} here has other content "
                f"(digest {here.digest[:12]}…, sent {m.digest[:12]}…); it is never overwritten"
            )
        elif m.deleted and not here.deleted:
            plan.versions.append(m)
    for ev in doc.events:
        held = event_here(int(ev["seq"]))
        if held is None:
            plan.events.append(ev)
        elif _canonical(held) != _canonical(ev):
            raise ArtifactConflictError(
                f"artifact {doc.key}: event {ev['seq']} here differs from the one sent "
                "(aliases were moved on both sides); it is never overwritten"
            )
    plan.uses = [u for u in doc.uses if not use_here(u["run_id"], int(u["version"]))]
    plan.needed = doc.blobs_of(new)
    return plan


class ArtifactIngest:
    """Plans and applies collection documents against the store's artifact area."""

    def __init__(self, root: Path | str, staged: Callable[[str], Path]) -> None:
        self.repo = ArtifactRepository(root, create=True)
        self.staged = staged  # sha256 -> where the ingest area keeps a verified upload

    def _has(self, sha256: str, counts: Callable[[str], bool] | None) -> bool:
        if counts is not None and not counts(sha256):
            return False
        return self.repo.blobs.has(sha256) or self.staged(sha256).is_file()

    def plan(
        self, doc: CollectionDoc, counts: Callable[[str], bool] | None = None
    ) -> CollectionPlan:
        """What is new here and which blobs are missing; ArtifactConflictError on a clash."""
        held = self.repo.namespaces.clash(doc.namespace, doc.name)
        if held is not None:
            raise ArtifactConflictError(
                f"artifact {doc.key} here belongs to {held!r}, not {doc.namespace!r} (a store "
                "written before entities were recorded); rename one of them"
            )
        paths = self.repo.collection(doc.namespace, doc.name)

        def event_here(seq: int) -> Any:
            target = paths.event(seq)
            return _read(target) if target.is_file() else None

        plan = plan_collection(
            doc,
            lambda version: _manifest_here(paths, version),
            event_here,
            lambda run_id, version: paths.use(run_id, version).is_file(),
        )
        plan.missing = sorted(s for s in plan.needed if not self._has(s, counts))
        return plan

    def apply(
        self, doc: CollectionDoc, counts: Callable[[str], bool] | None = None
    ) -> CollectionPlan:
        """Mirror `doc` here: blobs first (durable), then manifests, events, uses; idempotent."""
        with self.repo.blobs.writing():
            plan = self.plan(doc, counts)
            if plan.missing:
                raise MissingBlobsError(
                    f"artifact {doc.key} needs {len(plan.missing)} blobs not uploaded yet",
                    plan.missing,
                )
            report = AddReport()
            for sha in plan.needed:
                if not self.repo.blobs.has(sha):
                    got, _ = self.repo.blobs.add_file(self.staged(sha), report)
                    if got != sha:
                        raise MissingBlobsError(f"staged blob {sha[:12]}… is damaged", [sha])
            self.repo.blobs.make_durable(report)
            paths = self.repo.namespaces.for_writing(doc.namespace, doc.name)
            for m in plan.versions:
                _publish(paths.manifest(m.version), m.to_bytes(), tombstone=m.deleted)
            for ev in plan.events:
                body = json.dumps(ev, sort_keys=True).encode() + b"\n"
                _publish(paths.event(int(ev["seq"])), body)
            for use in plan.uses:
                paths.uses.mkdir(parents=True, exist_ok=True)
                doc_use = {"format_version": FORMAT_VERSION, **use}
                write_json_atomic(paths.use(use["run_id"], int(use["version"])), doc_use)
        if not plan.current:
            self.repo.reindex_collection(doc.namespace, doc.name)
        return plan


def _manifest_here(paths: CollectionPaths, version: int) -> Manifest | None:
    try:
        return load_manifest(paths, version)
    except FileNotFoundError:
        return None


def _publish(target: Path, body: bytes, tombstone: bool = False) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if tombstone:
        with publishing(target) as f:
            f.write(body)
        return
    try:
        with publishing(target, exclusive=True) as f:
            f.write(body)
    except FileExistsError:
        pass  # a concurrent apply of the same document got there first (plan checked content)


def blob_sizes(docs: Mapping[str, CollectionDoc]) -> dict[str, int]:
    """sha256 → size over every live version of `docs`."""
    out: dict[str, int] = {}
    for doc in docs.values():
        out.update(doc.blobs_of({m.version for m in doc.versions}))
    return out
