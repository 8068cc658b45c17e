"""Artifacts over the wire: collection documents, their negotiate/commit, and the client side.

A collection (``project/name``: its versions, alias events and uses) travels as one document
(``store/ingest/artifacts.py`` defines and checks it). Two requests move it, beside the runs'::

    POST /api/v1/artifacts/negotiate  {"protocol": 1, "collections": [doc, ...]}
                                   →  {"protocol": 1, "collections": [{"collection": "p/n",
                                        "status": "current"|"pending"|"error", "missing": [...]}]}
    POST /api/v1/artifacts/commit     {"protocol": 1, "collection": doc}
                                   →  {"protocol": 1, "collection": "p/n", "versions": n, ...}

Blobs go up with the same ``PUT /api/v1/blobs/<sha256>`` as run files: the server lists only the
blobs of versions it does not hold yet and that it lacks, so a blob the server has is never
re-sent and a dataset shared by 100 runs crosses once. The client remembers, per server, the
digest of each document the server acknowledged (``<root>/sync/artifacts.json``): a second sync
of an unchanged collection sends nothing at all. ``localtrack sync --bundle`` pushes a bundle's
documents the same way (``push_documents``), its blobs read from the bundle file.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import AuthError, LocaltrackError, ProtocolError
from ..store.artifacts.repository import ArtifactRepository
from ..store.atomic import read_json, write_json_atomic
from ..store.ingest.artifacts import collection_document
from . import protocol
from .remote import Remote, ServerUnreachableError
from .state import SYNC_DIR, target_key
from .transport import Request

log = logging.getLogger(__name__)
NEGOTIATE_PATH = "/api/v1/artifacts/negotiate"
COMMIT_PATH = "/api/v1/artifacts/commit"
ACKS_FILE = "artifacts.json"
SENT, CURRENT, FAILED, WOULD_SEND = "sent", "current", "failed", "would-send"


def doc_key(doc: Mapping[str, Any]) -> str:
    """ "entity/project/name", or "project/name" without an entity (as ``CollectionDoc.key``)."""
    entity = doc.get("entity")
    prefix = f"{entity}/" if entity else ""
    return f"{prefix}{doc.get('project')}/{doc.get('name')}"


def doc_digest(doc: Mapping[str, Any]) -> str:
    return hashlib.sha256(protocol.canonical_json(doc).encode()).hexdigest()


def local_documents(
    root: Path | str,
    run_ids: Iterable[str] | None = None,
    projects: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """The documents of the store's collections: all of them (no filters), or those of
    `projects` and those any of `run_ids` produced or used (lineage stays whole)."""
    repo = ArtifactRepository(root)
    runs = set(run_ids or ())
    wanted = set(projects or ())
    everything = run_ids is None and projects is None
    docs = []
    for project, name in repo.collections():
        doc = collection_document(repo, project, name)
        touched = {v.get("run_id") for v in doc["versions"]} | {
            u.get("run_id") for u in doc["uses"]
        }
        if everything or project in wanted or touched & runs:
            docs.append(doc)
    return docs


# -- the wire ------------------------------------------------------------------------------------


def negotiate_request(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"protocol": protocol.PROTOCOL_VERSION, "collections": list(docs)}


def parse_negotiate_request(data: object) -> list[object]:
    if not isinstance(data, Mapping):
        raise ProtocolError("the request body must be a JSON object")
    protocol.check_version(data)
    docs = data.get("collections")
    if not isinstance(docs, list):
        raise ProtocolError("'collections' must be a list")
    if len(docs) > protocol.NEGOTIATE_BATCH:
        raise ProtocolError(f"at most {protocol.NEGOTIATE_BATCH} collections per request")
    return docs


def parse_commit_request(data: object) -> object:
    if not isinstance(data, Mapping):
        raise ProtocolError("the request body must be a JSON object")
    protocol.check_version(data)
    return data.get("collection")


@dataclass(frozen=True)
class Verdict:
    collection: str
    status: str
    missing: tuple[str, ...] = ()
    code: str | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"collection": self.collection, "status": self.status}
        if self.missing:
            out["missing"] = list(self.missing)
        if self.code:
            out["code"], out["message"] = self.code, self.message
        return out

    @classmethod
    def from_json(cls, data: object) -> Verdict:
        if not isinstance(data, Mapping) or not isinstance(data.get("collection"), str):
            raise ProtocolError("each artifact verdict must be an object with a collection")
        missing = data.get("missing") or []
        if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
            raise ProtocolError("artifact verdict 'missing' must be a list of sha256 strings")
        status = data.get("status")
        if status not in (protocol.STATUS_CURRENT, protocol.STATUS_PENDING, protocol.STATUS_ERROR):
            raise ProtocolError(f"unknown artifact status {status!r}")
        code, message = data.get("code"), data.get("message")
        return cls(
            data["collection"],
            str(status),
            tuple(missing),
            None if code is None else str(code),
            None if message is None else str(message),
        )


def negotiate_reply(verdicts: Sequence[Verdict]) -> dict[str, Any]:
    return {"protocol": protocol.PROTOCOL_VERSION, "collections": [v.to_json() for v in verdicts]}


# -- the client ----------------------------------------------------------------------------------


@dataclass
class ArtifactResult:
    """How one collection's sync ended."""

    collection: str
    outcome: str = CURRENT
    blobs: int = 0
    bytes: int = 0
    message: str = ""

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


class ArtifactAcks:
    """Per server, the digest of each collection document it acknowledged."""

    def __init__(self, root: Path | str, url: str) -> None:
        self.path = Path(root) / SYNC_DIR / ACKS_FILE
        self.target = target_key(url)
        try:
            data = read_json(self.path)
        except (OSError, ValueError):
            data = {}
        self.all: dict[str, dict[str, str]] = data if isinstance(data, dict) else {}

    def current(self, doc: Mapping[str, Any]) -> bool:
        return self.all.get(self.target, {}).get(doc_key(doc)) == doc_digest(doc)

    def ack(self, doc: Mapping[str, Any]) -> None:
        self.all.setdefault(self.target, {})[doc_key(doc)] = doc_digest(doc)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, self.all)


def sync_artifacts(
    root: Path | str,
    remote: Remote,
    docs: Sequence[Mapping[str, Any]],
    dry_run: bool = False,
    workers: int = 4,
) -> list[ArtifactResult]:
    """Send `docs` (and the blobs the server lacks) to `remote`; AuthError, ProtocolError and
    ServerUnreachableError abort, anything else fails only its collection."""
    repo = ArtifactRepository(root)

    def open_blob(sha: str) -> BinaryIO:
        return repo.blobs.open(sha)

    acks = ArtifactAcks(root, remote.url)
    return push_documents(remote, docs, open_blob, acks, dry_run, workers)


def push_documents(
    remote: Remote,
    docs: Sequence[Mapping[str, Any]],
    open_blob: Callable[[str], BinaryIO],
    acks: ArtifactAcks | None = None,
    dry_run: bool = False,
    workers: int = 4,
) -> list[ArtifactResult]:
    """`sync_artifacts` for any source of documents and blobs; `acks` (None: none kept) skips
    the documents the server acknowledged before."""
    results = []
    try:
        for doc in docs:
            result = ArtifactResult(doc_key(doc))
            results.append(result)
            if acks is not None and acks.current(doc):
                continue
            try:
                _sync_one(open_blob, remote, doc, result, dry_run, workers)
            except (AuthError, ProtocolError, ServerUnreachableError):
                raise
            except (LocaltrackError, OSError) as exc:
                result.outcome, result.message = FAILED, str(exc)
                continue
            if acks is not None and result.outcome in (SENT, CURRENT):
                acks.ack(doc)
    finally:
        if acks is not None and not dry_run:
            acks.save()
    return results


def _post(remote: Remote, path: str, body: dict[str, Any]) -> Any:
    data = protocol.canonical_json(body).encode()
    headers = remote._headers("application/json")
    return remote.call(lambda: Request("POST", path, headers, data)).json()


def _sync_one(
    open_blob: Callable[[str], BinaryIO],
    remote: Remote,
    doc: Mapping[str, Any],
    result: ArtifactResult,
    dry_run: bool,
    workers: int,
) -> None:
    reply = _post(remote, NEGOTIATE_PATH, negotiate_request([doc]))
    raw = reply.get("collections") if isinstance(reply, dict) else None
    if not isinstance(raw, list) or len(raw) != 1:
        raise ProtocolError("the artifact negotiate reply does not answer the collection sent")
    verdict = Verdict.from_json(raw[0])
    if verdict.status == protocol.STATUS_ERROR:
        result.outcome, result.message = FAILED, f"{verdict.code}: {verdict.message}"
        return
    if verdict.status == protocol.STATUS_CURRENT:
        return
    sizes = _blob_sizes(doc)
    result.blobs = len(verdict.missing)
    result.bytes = sum(sizes.get(s, 0) for s in verdict.missing)
    if dry_run:
        result.outcome = WOULD_SEND
        return

    def send(sha: str) -> None:
        if sha not in sizes:
            raise ProtocolError(f"the server asked for blob {sha[:12]}…, which no version names")
        remote.put_blob(sha, sizes[sha], lambda: open_blob(sha))

    with ThreadPoolExecutor(max(1, workers)) as pool:
        list(pool.map(send, verdict.missing))
    _post(remote, COMMIT_PATH, {"protocol": protocol.PROTOCOL_VERSION, "collection": doc})
    result.outcome = SENT


def _blob_sizes(doc: Mapping[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for version in doc.get("versions") or ():
        for entry in (version.get("entries") or {}).values():
            if entry.get("ref") is None:
                out[entry["sha256"]] = int(entry["size"])
    return out
