"""Artifacts on a shared-nothing server: documents in PostgreSQL, blobs in the object store.

With ``--index postgresql://…`` and ``--blobs s3://…`` replicas share nothing but the database
and the bucket (docs/deploy.md), so a collection synced through one replica must be listed and
served by every other at once. ``SharedArtifacts`` is the twin of two directory-backend pieces:

- receiving (``ingest/artifacts.py``'s ``ArtifactIngest``): the same collection document, checked
  by the same ``parse_collection``, planned the same way (a version or event here with other
  content is a conflict, never overwritten; a tombstone wins); the blobs a new version needs
  must be objects ``blobs/<sha256>`` in the bucket (uploaded through any replica), so a blob
  the bucket has is never asked for again. A commit is one PostgreSQL transaction: the
  collection's advisory lock, its rows read again, the new manifests, events and uses added
  (``store/pgartifacts.py``), the index rows (``artifact_versions`` & co) rebuilt from the
  result, and ``NOTIFY``. Two replicas committing the same version take turns: the second finds
  it there and adds nothing.
- reading (what ``ArtifactReader`` asks of ``ArtifactRepository``): collections and their
  replayed state from PostgreSQL, and a file's bytes from the bucket through the replica's
  bounded read cache (``remoteblobs.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from ...errors import MissingBlobsError, UsageError
from ..blobstore import BlobStore
from ..ingest.artifacts import CollectionDoc, CollectionPlan, plan_collection
from ..pgartifacts import (
    CollectionRows,
    add_events,
    add_manifests,
    add_uses,
    all_collection_rows,
    collection_names,
    collection_rows,
    lock_collection,
)
from ..runcache import RunCache
from .catalog import write_state_rows
from .collection import CollectionState, replay_state
from .layout import FORMAT_VERSION, check_name, check_namespace, split_namespace
from .manifest import Entry, Manifest
from .remoteblobs import CachedArtifactBlobs

if TYPE_CHECKING:
    from ..ingest.importer import Ingest
    from ..pgindex import PgIndex

BLOB_CHECKERS = 8  # threads asking the object store which blobs it holds


@dataclass
class ArtifactDamage:
    """One artifact version whose stored files are not whole in the object store."""

    version: str  # "namespace/name:v<N>"
    files: dict[str, str] = field(default_factory=dict)  # entry path -> what is wrong


def compare(doc: CollectionDoc, rows: CollectionRows) -> CollectionPlan:
    """What `doc` adds to the collection `rows` hold (``missing`` left empty);
    ArtifactConflictError when a version or event there has other content."""
    return plan_collection(
        doc,
        rows.manifests.get,
        rows.events.get,
        lambda run_id, version: (run_id, version) in rows.uses,
    )


def _replay(namespace: str, name: str, rows: CollectionRows) -> CollectionState:
    return replay_state(namespace, name, rows.manifests, rows.events.items(), rows.use_bodies())


class SharedArtifacts:
    """The artifact collections of the PostgreSQL database at `url`, their blobs in `blobs`
    (read through `cache`; None where nothing is read, as when moving a store). Thread-safe."""

    def __init__(self, url: str, blobs: BlobStore, cache: RunCache | None = None) -> None:
        self.url = url
        self.blobs = blobs
        self.cached = None if cache is None else CachedArtifactBlobs(cache)
        self._local = threading.local()

    @classmethod
    def open(cls, ingest: Ingest) -> SharedArtifacts | None:
        """The artifacts of a shared-nothing server's `ingest` area; None on other servers."""
        shared = ingest.shared
        if shared is None:
            return None
        return cls(shared.url, ingest.blob_store, shared.remote.cache)

    def _pg(self) -> PgIndex:
        index = getattr(self._local, "index", None)
        if index is None:
            from ..pgindex import PgIndex  # psycopg loads only where an index URL is given

            index = self._local.index = PgIndex(self.url)
        return index

    # -- receiving (the twin of ArtifactIngest) --------------------------------------------------

    def _missing(self, needed: dict[str, int], counts: Callable[[str], bool] | None) -> list[str]:
        """The blobs of `needed` the object store lacks (or `counts` does not let count)."""

        def held(sha256: str) -> bool:
            return (counts is None or counts(sha256)) and self.blobs.exists(sha256)

        shas = sorted(needed)
        if len(shas) <= 1:
            return [s for s in shas if not held(s)]
        with ThreadPoolExecutor(min(BLOB_CHECKERS, len(shas))) as pool:
            return [s for s, ok in zip(shas, pool.map(held, shas), strict=True) if not ok]

    def plan(
        self, doc: CollectionDoc, counts: Callable[[str], bool] | None = None
    ) -> CollectionPlan:
        """What is new here and which blobs the object store lacks; ArtifactConflictError on
        a clash."""
        plan = compare(doc, collection_rows(self._pg(), doc.namespace, doc.name))
        plan.missing = self._missing(plan.needed, counts)
        return plan

    def apply(
        self, doc: CollectionDoc, counts: Callable[[str], bool] | None = None
    ) -> CollectionPlan:
        """Add `doc` to the collection in one transaction (every blob a new version names must
        be in the object store first); idempotent."""
        plan = self.plan(doc, counts)
        if plan.missing:
            raise MissingBlobsError(
                f"artifact {doc.key} needs {len(plan.missing)} blobs not uploaded yet",
                plan.missing,
            )
        if plan.current:
            return plan
        index = self._pg()
        with index.transaction():
            lock_collection(index, doc.namespace, doc.name)
            # planned again under the lock: what another replica committed meanwhile is not
            # new any more (its blobs are a subset of those just found in the object store)
            plan = compare(doc, collection_rows(index, doc.namespace, doc.name))
            if plan.current:
                return plan
            add_manifests(index, doc.namespace, doc.name, plan.versions)
            add_events(index, doc.namespace, doc.name, plan.events)
            uses = [{"format_version": FORMAT_VERSION, **u} for u in plan.uses]
            add_uses(index, doc.namespace, doc.name, uses)
            rows = collection_rows(index, doc.namespace, doc.name)
            write_state_rows(index, _replay(doc.namespace, doc.name, rows))
            index.bump_changes()
        return plan

    # -- reading (what ArtifactReader asks of ArtifactRepository) --------------------------------

    def collections(self, project: str | None = None) -> list[tuple[str, str]]:
        """(namespace, name) of every collection (of namespace `project`), sorted."""
        return collection_names(self._pg(), project)

    def state(self, project: str, name: str) -> CollectionState:
        return _replay(project, name, collection_rows(self._pg(), project, name))

    def states(self) -> list[CollectionState]:
        """Every collection's state, read in three queries."""
        rows = all_collection_rows(self._pg())
        return [_replay(ns, name, rows[(ns, name)]) for ns, name in sorted(rows)]

    def resolve(self, project: str, name: str, label: str) -> tuple[Manifest, CollectionState]:
        check_namespace(project)
        check_name(name)
        state = self.state(project, name)
        if not state.versions:
            raise UsageError(f"no artifact {project}/{name} on this server")
        return state.resolve(label), state

    def open_blob(self, entry: Entry) -> BinaryIO:
        """`entry`'s bytes from the read cache (fetched from the object store, hash-checked);
        MissingBlobsError naming the file when the object store lost them."""
        if self.cached is None:
            raise UsageError("this artifact catalog reads no blobs (it has no read cache)")
        return self.cached.open(entry)

    # -- checking and moving ---------------------------------------------------------------------

    def check_blobs(self, verify: Callable[[str], str | None]) -> tuple[int, list[ArtifactDamage]]:
        """(live versions checked, the damaged ones): `verify(sha256)` says what is wrong with
        a blob in the object store (None: whole)."""
        versions, damaged = 0, []
        for (namespace, name), rows in sorted(all_collection_rows(self._pg()).items()):
            for number, manifest in sorted(rows.manifests.items()):
                if manifest.deleted:
                    continue
                versions += 1
                damage = ArtifactDamage(f"{namespace}/{name}:v{number}")
                for path, entry in sorted(manifest.entries.items()):
                    problem = None if entry.ref is not None else verify(entry.sha256)
                    if problem is not None:
                        damage.files[path] = f"blob {entry.sha256} {problem}"
                if damage.files:
                    damaged.append(damage)
        return versions, damaged

    def documents(self) -> Iterator[dict[str, Any]]:
        """Every collection as the document that carries it (``collection_document``'s form)."""
        for (namespace, name), rows in sorted(all_collection_rows(self._pg()).items()):
            entity, project = split_namespace(namespace)
            yield {
                "project": project,
                "name": name,
                "entity": entity,
                "versions": [m.as_json() for _, m in sorted(rows.manifests.items())],
                "events": [ev for _, ev in sorted(rows.events.items())],
                "uses": rows.use_bodies(),
            }

    def reindex(self) -> int:
        """Rebuild every collection's index rows from its documents; returns how many."""
        index = self._pg()
        states = self.states()
        for state in states:
            with index.transaction():
                write_state_rows(index, state)
                index.bump_changes()
        return len(states)
