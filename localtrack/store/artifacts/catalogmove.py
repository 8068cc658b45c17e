"""Moving a server's artifacts between its directory and PostgreSQL + the object store.

Part of ``localtrack server migrate … --blobs s3://…`` (``localtrack/servermigrate.py``):

- to PostgreSQL: every collection under ``<root>/artifacts/`` travels as the document a sync
  would send (``collection_document``): the blobs its live versions store are uploaded to the
  bucket unless it holds them (hashed again on the way in), then the document is committed as
  a replica commits a synced one (``SharedArtifacts.apply``);
- back: every collection PostgreSQL holds is applied to ``<root>/artifacts/`` as an imported
  one is (``ArtifactIngest.apply``), its blobs fetched from the bucket and hashed again; a
  collection whose blob the bucket lost is named as a problem and left out.

Both sides skip what the target already holds (versions, events and uses by their keys, blobs
by their hash), so an interrupted move is finished by running it again, and a second run
changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from ...errors import LocaltrackError, MissingBlobsError
from ..ingest.artifacts import ArtifactIngest, collection_document, parse_collection
from ..ingest.importer import Ingest
from .layout import join_namespace
from .pgcatalog import SharedArtifacts
from .repository import ArtifactRepository

_CHUNK = 1 << 20
_NO_LIMIT = 1 << 62  # every blob was held to a limit when it was logged or received


@dataclass
class ArtifactMove:
    """What moving the artifacts did."""

    collections: int = 0  # collections the target holds whole after the move
    blobs_copied: int = 0
    blobs_present: int = 0  # the object store held them already
    problems: list[str] = field(default_factory=list)


def _chunks(f: BinaryIO) -> Iterator[bytes]:
    while chunk := f.read(_CHUNK):
        yield chunk


def artifacts_to_postgresql(local: Ingest, shared: SharedArtifacts) -> ArtifactMove:
    """Every collection of `local`'s store into `shared` (blobs into `local`'s object store)."""
    move = ArtifactMove()
    repo = ArtifactRepository(local.paths.root)
    collections = repo.collections()
    held = set(local.blob_store.hashes()) if collections else set()
    for namespace, name in collections:
        try:
            doc = parse_collection(collection_document(repo, namespace, name))
            live = doc.blobs_of({m.version for m in doc.versions})
            move.blobs_present += len(set(live) & held)
            for sha256 in sorted(set(live) - held):
                with repo.blobs.open(sha256) as f:
                    local.blob_store.put(sha256, _chunks(f), _NO_LIMIT)
                held.add(sha256)
                move.blobs_copied += 1
            shared.apply(doc)
        except (LocaltrackError, OSError) as exc:
            move.problems.append(f"artifact {namespace}/{name}: {exc}")
            continue
        move.collections += 1
    return move


def artifacts_from_postgresql(local: Ingest, shared: SharedArtifacts) -> ArtifactMove:
    """Every collection of `shared` into `local`'s store, blobs fetched from its object store."""
    move = ArtifactMove()
    ingest = ArtifactIngest(local.paths.root, local.blob_path)
    for document in shared.documents():
        key = f"{join_namespace(document['entity'], document['project'])}/{document['name']}"
        try:
            ingest.apply(parse_collection(document))
        except MissingBlobsError as exc:
            shown = ", ".join(exc.missing[:3]) + (", …" if len(exc.missing) > 3 else "")
            move.problems.append(
                f"artifact {key}: {len(exc.missing)} blobs missing in "
                f"{local.blob_store.location} ({shown}); left out"
            )
            continue
        except (LocaltrackError, OSError) as exc:
            move.problems.append(f"artifact {key}: {exc}")
            continue
        move.collections += 1
    return move
