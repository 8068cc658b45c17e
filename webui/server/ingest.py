"""The server's ingest API under /api/v1: negotiate → PUT blobs → commit (docs/sync.md).

The views only translate HTTP to the store's ``Ingest`` (``localtrack/store/importer.py``) and
back; every check of a blob or manifest happens there, the same code ``localtrack import`` runs.
Who may call them is decided first by ``auth.py`` (write role); which runs a key may touch is
checked here, per run: the namespace (``entity/project``) named by the manifest, the one in the
uploaded run.json and the one of the run already on the server must all be the key's.

A project-scoped key counts as present only the blobs its namespace uploaded or references
(``store/blobscope.py``): it can neither probe for other projects' content nor commit it
without sending the bytes. Unscoped keys count every blob.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from localtrack.apikeys import parse_scope
from localtrack.errors import (
    ArtifactConflictError,
    BlobTooLargeError,
    CorruptDataError,
    DigestMismatchError,
    DocumentError,
    ManifestError,
    MissingBlobsError,
    ProtocolError,
    RunConflictError,
    StoreError,
)
from localtrack.store.artifacts.pgcatalog import SharedArtifacts
from localtrack.store.ingest.artifacts import ArtifactIngest, parse_collection
from localtrack.store.ingest.blobscope import Namespace, NamespaceBlobs
from localtrack.store.ingest.importer import Ingest
from localtrack.store.ingest.manifest_types import RunIdentity, is_sha256
from localtrack.sync import artifact_manifests as wire
from localtrack.sync import protocol

from ..artifact_models import SHARED_ARTIFACTS
from ..responses import error_json, json_response
from ..routes import view
from .access import principal
from .audit import record

log = logging.getLogger(__name__)
ingest = Blueprint("ingest", __name__)
_CHUNK = 1 << 20
GC_INTERVAL_S = 3600.0


class _Forbidden(Exception):
    pass


def ingest_area() -> Ingest:
    area: Ingest = current_app.extensions["localtrack_ingest"]
    return area


def max_blob_bytes() -> int:
    return int(current_app.config["LOCALTRACK_MAX_BLOB_BYTES"])


def _json_body() -> Any:
    request.max_content_length = protocol.MAX_JSON_BYTES
    if not request.is_json:
        raise ProtocolError("the request body must be JSON (Content-Type: application/json)")
    return protocol.parse_body(request.get_data())  # nesting bounded: never a RecursionError


def blob_scopes() -> NamespaceBlobs:
    scopes: NamespaceBlobs = current_app.extensions["localtrack_blob_scopes"]
    return scopes


def _may_touch(entity: str | None, project: str | None) -> bool:
    who = principal()
    return who is None or who.covers(entity, project)


def _key_namespace() -> Namespace | None:
    """The namespace of a project-scoped key; None for unscoped keys (they count every blob)."""
    who = principal()
    if who is None or who.project is None:
        return None
    return parse_scope(who.project)


def _counts() -> Callable[[str], bool] | None:
    namespace = _key_namespace()
    return None if namespace is None else blob_scopes().counts(namespace)


@ingest.errorhandler(ProtocolError)
def _protocol_error(exc: ProtocolError) -> Response:
    return error_json(400, str(exc), "protocol")


@ingest.errorhandler(ManifestError)
def _manifest_error(exc: ManifestError) -> Response:
    return error_json(400, str(exc), "bad_manifest")


@ingest.errorhandler(DigestMismatchError)
def _digest_error(exc: DigestMismatchError) -> Response:
    return error_json(400, str(exc), "digest_mismatch")


@ingest.errorhandler(BlobTooLargeError)
@ingest.errorhandler(RequestEntityTooLarge)
def _too_large(exc: Exception) -> Response:
    limit = max_blob_bytes()
    return error_json(413, f"too large: this server takes blobs up to {limit} bytes", "too_large")


@ingest.errorhandler(MissingBlobsError)
def _missing(exc: MissingBlobsError) -> Response:
    response = error_json(409, str(exc), "missing_blobs")
    body = response.get_json()
    body["error"]["missing"] = exc.missing
    return json_response(body, 409)


@ingest.errorhandler(RunConflictError)
def _conflict(exc: RunConflictError) -> Response:
    return error_json(409, str(exc), "conflict")


@ingest.errorhandler(ArtifactConflictError)
def _artifact_conflict(exc: ArtifactConflictError) -> Response:
    return error_json(409, str(exc), "artifact_conflict")


@ingest.errorhandler(_Forbidden)
def _forbidden(exc: _Forbidden) -> Response:
    return error_json(403, str(exc), "forbidden")


@ingest.errorhandler(CorruptDataError)
def _corrupt(exc: CorruptDataError) -> Response:
    return error_json(422, str(exc), "bad_blob")


@ingest.errorhandler(StoreError)
def _busy(exc: StoreError) -> Response:
    response = error_json(503, str(exc), "busy")
    response.headers["Retry-After"] = "1"
    return response


@view(ingest)
def info() -> Response:
    """What this server speaks and who the key belongs to (``localtrack login`` checks it)."""
    who = principal()
    return json_response(
        {
            "protocol": {"min": protocol.MIN_PROTOCOL_VERSION, "max": protocol.PROTOCOL_VERSION},
            "max_blob_bytes": max_blob_bytes(),
            "negotiate_batch": protocol.NEGOTIATE_BATCH,
            "user": None if who is None else who.user,
            "role": None if who is None else who.role,
            "project": None if who is None else who.project,
        }
    )


@view(ingest)
def negotiate() -> Response:
    """Per manifest: current, or pending with the blobs this server lacks, or an error."""
    raw_manifests = protocol.parse_negotiate_request(_json_body())
    area = ingest_area()
    _maybe_gc(area)
    verdicts = []
    for raw in raw_manifests:
        run_id = str(raw.get("run_id")) if isinstance(raw, dict) else "?"
        try:
            manifest = protocol.Manifest.from_json(raw)
        except ProtocolError as exc:
            verdicts.append(
                protocol.RunVerdict(run_id, protocol.STATUS_ERROR, (), "bad_manifest", str(exc))
            )
            continue
        existing = area.existing_namespace(manifest.run_id)
        if not _may_touch(manifest.entity, manifest.project) or (
            existing is not None and not _may_touch(*existing)
        ):
            verdicts.append(
                protocol.RunVerdict(
                    run_id,
                    protocol.STATUS_ERROR,
                    (),
                    "forbidden",
                    "this key may not write that project",
                )
            )
            continue
        status = area.status(manifest.run, _counts())
        verdicts.append(
            protocol.RunVerdict(
                run_id,
                protocol.STATUS_CURRENT if status.current else protocol.STATUS_PENDING,
                status.missing,
            )
        )
    return json_response(protocol.negotiate_reply(verdicts))


def _body_chunks(limit: int) -> Iterator[bytes]:
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise BlobTooLargeError(f"Content-Length {request.content_length} is over {limit}")
    stream = request.stream
    while chunk := stream.read(_CHUNK):
        yield chunk


@view(ingest)
def put_blob(sha256: str) -> Response:
    """Store a blob under its sha256, streamed to a temp file and verified before it is kept."""
    if not is_sha256(sha256):
        return error_json(400, "blobs are named by their lowercase hex sha256", "bad_name")
    area = ingest_area()
    size = area.receive(sha256, _body_chunks(max_blob_bytes()), max_blob_bytes())
    namespace = _key_namespace()
    if namespace is not None:
        blob_scopes().add(namespace, [sha256])  # it sent the bytes: it may count them now
    return json_response({"sha256": sha256, "bytes": size}, 201)


@view(ingest)
def commit() -> Response:
    """Apply a manifest in one step (all its blobs must be here); idempotent."""
    manifest = protocol.parse_commit_request(_json_body())

    def authorize(identity: RunIdentity) -> None:
        owners = [(manifest.entity, manifest.project), (identity.entity, identity.project)]
        if identity.existing_project is not None:
            owners.append((identity.existing_entity, identity.existing_project))
        for entity, project in owners:
            if not _may_touch(entity, project):
                shown = f"{entity}/{project}" if entity else project
                raise _Forbidden(f"this key may not write runs of project {shown!r}")

    result = ingest_area().commit(manifest.run, authorize, _counts())
    blob_scopes().add((result.entity, result.project), [ref.sha256 for ref in manifest.files])
    who = principal()
    if result.changed:
        record(
            "sync.commit",
            result.run_id,
            project=result.project,
            placed=result.placed,
            removed=result.removed,
        )
        log.info(
            "run %s (%s) committed by %s: %d files placed, %d removed",
            result.run_id,
            result.project,
            None if who is None else who.user,
            result.placed,
            result.removed,
        )
    return json_response(
        {
            "protocol": protocol.PROTOCOL_VERSION,
            "run_id": result.run_id,
            "changed": result.changed,
            "placed": result.placed,
            "removed": result.removed,
        }
    )


def _artifact_area() -> ArtifactIngest | SharedArtifacts:
    shared: SharedArtifacts | None = current_app.extensions.get(SHARED_ARTIFACTS)
    if shared is not None:  # a shared-nothing server: PostgreSQL and the bucket
        return shared
    area = ingest_area()
    return ArtifactIngest(area.paths.root, area.blob_path)


def _authorize_collection(entity: str | None, project: str) -> None:
    if not _may_touch(entity, project):
        shown = f"{entity}/{project}" if entity else project
        raise _Forbidden(f"this key may not write artifacts of project {shown!r}")


@ingest.errorhandler(DocumentError)
def _bad_document(exc: DocumentError) -> Response:
    response = error_json(400, str(exc), "bad_manifest")
    body = response.get_json()
    body["error"]["field"] = exc.field
    return json_response(body, 400)


def _error(key: str, code: str, exc: Exception) -> wire.Verdict:
    return wire.Verdict(key, protocol.STATUS_ERROR, (), code, str(exc))


@view(ingest)
def negotiate_artifacts() -> Response:
    """Per collection document: current, or pending with the blobs this server lacks."""
    raws = wire.parse_negotiate_request(_json_body())
    artifacts = _artifact_area()
    verdicts = []
    for raw in raws:
        key = wire.doc_key(raw) if isinstance(raw, dict) else "?"
        try:
            doc = parse_collection(raw)
            _authorize_collection(doc.entity, doc.project)
            plan = artifacts.plan(doc, _counts())
        except DocumentError as exc:
            verdicts.append(_error(key, "bad_manifest", exc))
            continue
        except _Forbidden as exc:
            verdicts.append(_error(key, "forbidden", exc))
            continue
        except ArtifactConflictError as exc:
            verdicts.append(_error(key, "artifact_conflict", exc))
            continue
        status = protocol.STATUS_CURRENT if plan.current else protocol.STATUS_PENDING
        verdicts.append(wire.Verdict(key, status, tuple(plan.missing)))
    return json_response(wire.negotiate_reply(verdicts))


@view(ingest)
def commit_artifacts() -> Response:
    """Mirror one collection document (versions, alias moves, uses); idempotent."""
    doc = parse_collection(wire.parse_commit_request(_json_body()))
    _authorize_collection(doc.entity, doc.project)
    plan = _artifact_area().apply(doc, _counts())
    blob_scopes().add((doc.entity, doc.project), list(plan.needed))
    for event in plan.events:
        if event.get("op") == "alias":
            record(
                "artifact.alias",
                f"{doc.key}:{event.get('alias')}",
                **{"from": event.get("from"), "to": event.get("to")},
                moved_by=event.get("who"),
            )
    return json_response(
        {
            "protocol": protocol.PROTOCOL_VERSION,
            "collection": doc.key,
            "versions": len(plan.versions),
            "events": len(plan.events),
            "uses": len(plan.uses),
        }
    )


_gc_lock = threading.Lock()
_gc_last: dict[str, float] = {}


def _maybe_gc(area: Ingest) -> None:
    key = str(area.dir)
    now = time.monotonic()
    with _gc_lock:
        if now - _gc_last.get(key, -GC_INTERVAL_S) < GC_INTERVAL_S:
            return
        _gc_last[key] = now
    removed = area.gc()
    if removed:
        log.info("removed %d stale uploads from %s", removed, area.dir)
