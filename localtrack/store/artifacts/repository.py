"""ArtifactRepository: the artifact area of one store, as the API, CLI, sync and UI use it.

Logging: sources (local files, already-stored blobs, references) become entries under the shared
gc lock, new blobs are made durable, then the version is published and its aliases moved, and
the index refreshed. Reading: collections replayed from files. Materialising (download.py): hard
links from the blob area and its extraction cache (copies where links are impossible), every
file's hash verified.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ...errors import StoreError, UsageError
from ..root import StoreRoot
from .blobs import AddReport, BlobStore
from .catalog import index_collection
from .collection import (
    CollectionState,
    load_state,
    move_aliases,
    publish_version,
    record_use,
)
from .download import Materializer, file_matches, files_under
from .extracted import ExtractCache, drop_unneeded
from .gc import GcReport, collect
from .layout import (
    LATEST,
    ArtifactPaths,
    CollectionPaths,
    check_alias,
    check_name,
    check_namespace,
)
from .manifest import Entry, Manifest, prepare_entries
from .namespace import Namespaces
from .references import hash_reference


@dataclass(frozen=True)
class Source:
    """Where an entry's bytes come from: a local file, a stored blob, or a reference."""

    path: str
    local: Path | str | None = None  # an absolute path
    entry: Entry | None = None  # a blob already stored, or a reference hashed at add time


class ArtifactRepository:
    """The artifact area of the store at `root`."""

    def __init__(self, root: Path | str, create: bool = False) -> None:
        self.store = StoreRoot(root, create=create)
        self.paths = ArtifactPaths.of_root(self.store.root)
        self.blobs = BlobStore(self.paths)
        self.extracted = ExtractCache(self.paths.extracted)
        self.namespaces = Namespaces(self.store, self.paths)

    def collection(self, project: str, name: str) -> CollectionPaths:
        """The folder of collection `name` of `project` ("project" or "entity/project")."""
        return self.namespaces.collection(project, name)

    # -- writing -----------------------------------------------------------------------------

    def _index(self, project: str, name: str) -> None:
        index = self.store.open_index()
        if index is not None:
            try:
                index_collection(index, self.collection(project, name), project, name)
            finally:
                index.close()

    def log(
        self,
        project: str,
        name: str,
        type_: str,
        sources: Iterable[Source],
        *,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        aliases: Iterable[str] = (),
        run_id: str | None = None,
        linked_from: Mapping[str, Any] | None = None,
    ) -> tuple[Manifest, bool, AddReport]:
        """Store the sources and publish a version (or find the identical one); `project` is
        the namespace, "project" or "entity/project"."""
        coll = self.namespaces.for_writing(project, name)
        aliases = [a for a in aliases if a == LATEST or check_alias(a)]  # before any byte
        report = AddReport()
        with self.blobs.writing():
            sources = list(sources)
            local = [s for s in sources if s.local is not None]
            stored = self.blobs.add_files([s.local for s in local if s.local], report)
            kept = self._stored_entries(sources, report)
            # New blobs are flushed and indexed (mostly waiting on the disk) while this thread
            # builds the entries, their digest and their JSON; nothing is published before both.
            with ThreadPoolExecutor(1, thread_name_prefix="localtrack-durable") as flusher:
                durable = flusher.submit(self.blobs.make_durable, report)
                entries = {
                    src.path: Entry(src.path, sha, size)
                    for src, (sha, size) in zip(local, stored, strict=True)
                }
                entries.update(kept)
                prepared = prepare_entries(entries)
                durable.result()
            manifest, created = publish_version(
                coll,
                project,
                name,
                type_,
                prepared,
                description=description,
                metadata=metadata,
                run_id=run_id,
                linked_from=linked_from,
            )
            move_aliases(coll, project, name, aliases, manifest.version, run_id)
        self._index(project, name)
        return manifest, created, report

    def _stored_entries(self, sources: list[Source], report: AddReport) -> dict[str, Entry]:
        """The entries of sources naming a stored blob or a reference (the blob checked)."""
        entries: dict[str, Entry] = {}
        for src in sources:
            if src.local is None and src.entry is not None:
                e = src.entry
                if e.ref is None and not self.blobs._reuse(e.sha256, report, e.size):
                    raise StoreError(
                        f"entry {src.path!r} names blob {e.sha256}, which this store does not hold"
                    )
                entries[src.path] = Entry(src.path, e.sha256, e.size, e.ref)
        return entries

    def set_aliases(self, project: str, name: str, version: int, aliases: Iterable[str]) -> None:
        """Make `aliases` exactly the user aliases of `version` (moving them from elsewhere)."""
        coll = self.namespaces.for_writing(project, name)
        state = load_state(coll, project, name)
        wanted = {a for a in aliases if a != "latest"}
        current = {a for a, v in state.aliases.items() if v == version}
        move_aliases(coll, project, name, sorted(wanted - current), version)
        move_aliases(coll, project, name, sorted(current - wanted), None)
        self._index(project, name)

    def use(self, project: str, name: str, version: int, run_id: str, run_project: str) -> None:
        record_use(self.namespaces.for_writing(project, name), run_id, run_project, version)
        self._index(project, name)

    def reindex_collection(self, project: str, name: str) -> None:
        self._index(project, name)

    # -- reading -----------------------------------------------------------------------------

    def state(self, project: str, name: str) -> CollectionState:
        return load_state(self.collection(project, name), project, name)

    def collections(self, project: str | None = None) -> list[tuple[str, str]]:
        """(namespace, name) of every collection (of namespace `project`), sorted."""
        return [c for c in self.namespaces.names() if project in (None, c[0])]

    def resolve(self, project: str, name: str, label: str) -> tuple[Manifest, CollectionState]:
        check_namespace(project)
        check_name(name)
        state = self.state(project, name)
        if not state.versions:
            raise UsageError(f"no artifact {project}/{name} in {self.store.root}")
        return state.resolve(label), state

    def open_blob(self, entry: Entry) -> BinaryIO:
        """The stored bytes of `entry` (single file or pack); FileNotFoundError if absent."""
        return self.blobs.open(entry.sha256)

    # -- materialising -----------------------------------------------------------------------

    def materialize(self, manifest: Manifest, root: Path) -> Path:
        """Write every file of `manifest` under `root` (download.py: hard links from the blob
        area and the extraction cache); see docs/artifacts.md on non-empty folders (files that
        already match are kept; anything else there is an error)."""
        return Materializer(self.blobs, self.extracted).run(manifest, Path(root))

    # -- gc ----------------------------------------------------------------------------------

    def referenced_blobs(self) -> set[str]:
        refs: set[str] = set()
        for project, name in self.collections():
            for m in self.state(project, name).live.values():
                refs.update(e.sha256 for e in m.entries.values() if e.ref is None)
        return refs

    def gc(self, grace_s: float, dry_run: bool = False, timeout: float = 600.0) -> GcReport:
        """Remove blobs no live version references (older than `grace_s`), under gc.lock."""
        with self.blobs.collecting(timeout):
            needed = self.referenced_blobs()
            report = collect(self.blobs, needed, grace_s, dry_run, time.time())
            report.extracted = drop_unneeded(self.extracted, needed, dry_run)
            return report


def verify_references(manifest: Manifest) -> list[str]:
    """Problems of the referenced objects (re-read and hashed): changed or gone (empty: ok)."""
    problems: list[str] = []
    for path, entry in sorted(manifest.entries.items()):
        if entry.ref is None:
            continue
        try:
            sha, size = hash_reference(entry.ref)
        except UsageError:
            problems.append(f"missing: {path} (reference {entry.ref} is gone)")
            continue
        if (sha, size) != (entry.sha256, entry.size):
            problems.append(
                f"changed: {path} (reference {entry.ref} is now {size} bytes, sha256 {sha}; "
                f"expected {entry.size} bytes, sha256 {entry.sha256})"
            )
    return problems


def verify_folder(manifest: Manifest, root: Path) -> list[str]:
    """Problems of `root` against `manifest`: changed, missing and extra files (empty: ok)."""
    files = files_under(Path(root))
    problems = [f"missing: {p}" for p in sorted(set(manifest.entries) - set(files))]
    for path, entry in sorted(manifest.entries.items()):
        if path in files and not file_matches(files[path], entry):
            problems.append(f"changed: {path} (expected sha256 {entry.sha256})")
    problems += [f"extra: {p}" for p in sorted(set(files) - set(manifest.entries))]
    return problems
