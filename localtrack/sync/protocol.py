"""The sync wire protocol, version 1: pure data, no I/O.

Three requests move a run (docs/sync.md has the full description)::

    POST /api/v1/sync/negotiate   {"protocol": 1, "manifests": [manifest, ...]}
                               →  {"protocol": 1, "runs": [{"run_id", "status", "missing"}, ...]}
    PUT  /api/v1/blobs/<sha256>   raw bytes      →  201 {"sha256", "bytes"}
    POST /api/v1/sync/commit      {"protocol": 1, "manifest": manifest}
                               →  {"protocol": 1, "run_id", "changed", "placed", "removed"}

A manifest names a run and its files by content::

    {"run_id": "k3x9…", "project": "mnist", "entity": null, "heartbeat_at": 1.7e9,
     "files": [{"name": "run.json", "sha256": "…", "bytes": 1234},
               {"name": "metrics/0000-000000001-000000004.parquet", "sha256": "…", "bytes": 99}]}

Errors use the API's one envelope ``{"error": {"code": ..., "message": ...}}``; a commit that
lacks blobs answers 409 with ``"missing": [sha256, ...]`` inside the error object.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import DocumentError, ManifestError, ProtocolError
from ..store import runschema
from ..store.ingest.manifest_types import FileRef, RunManifest
from ..store.jsondoc import Check, Invalid, loads, number, type_name

PROTOCOL_VERSION = 1
MIN_PROTOCOL_VERSION = 1
NEGOTIATE_BATCH = 200
MAX_JSON_BYTES = 32 << 20
NEGOTIATE_PATH = "/api/v1/sync/negotiate"
COMMIT_PATH = "/api/v1/sync/commit"
INFO_PATH = "/api/v1/sync/info"
BLOB_PATH = "/api/v1/blobs/"

STATUS_CURRENT = "current"  # the server holds exactly this manifest: nothing to send
STATUS_PENDING = "pending"  # upload `missing` (maybe none), then commit
STATUS_ERROR = "error"  # this run cannot be synced (see code, message)


@dataclass(frozen=True)
class Manifest:
    """A run's manifest as it travels: the store's RunManifest plus who the run belongs to."""

    run: RunManifest
    project: str
    entity: str | None = None

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def files(self) -> tuple[FileRef, ...]:
        return self.run.files

    def digest(self) -> str:
        """A sha256 of the manifest's canonical JSON: equal digests mean the same run content."""
        return hashlib.sha256(canonical_json(self.to_json()).encode()).hexdigest()

    def content_digest(self) -> str:
        """Like digest(), without the heartbeat: what changes only when files change."""
        data = self.to_json()
        data.pop("heartbeat_at", None)
        return hashlib.sha256(canonical_json(data).encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run.run_id,
            "project": self.project,
            "entity": self.entity,
            "heartbeat_at": self.run.heartbeat_at,
            "files": [{"name": f.name, "sha256": f.sha256, "bytes": f.bytes} for f in self.files],
        }

    @classmethod
    def from_json(cls, data: object) -> Manifest:
        """Parse and validate; anything malformed raises ProtocolError naming the problem."""
        if not isinstance(data, Mapping):
            raise ProtocolError("a manifest must be a JSON object")
        files = data.get("files")
        if not isinstance(files, list):
            raise ProtocolError("manifest.files must be a list")
        refs = []
        for item in files:
            if not isinstance(item, Mapping):
                raise ProtocolError("each manifest file must be an object")
            refs.append(FileRef(item.get("name"), item.get("sha256"), item.get("bytes")))  # type: ignore[arg-type]
        heartbeat = data.get("heartbeat_at")
        project, entity = data.get("project"), data.get("entity")
        if not isinstance(project, str):
            raise ProtocolError(f"manifest.project must be a string, got {type_name(project)}")
        for name, check in _MANIFEST_FIELDS.items():
            try:
                check(data.get(name))
            except Invalid as exc:
                raise ProtocolError(f"manifest.{name} {exc}") from None
        run = RunManifest(
            data.get("run_id"),  # type: ignore[arg-type]
            tuple(refs),
            None if heartbeat is None else float(heartbeat),
        )
        try:
            run.validate()
        except ManifestError as exc:
            raise ProtocolError(f"bad manifest: {exc}") from None
        return cls(run, project, entity)


_MANIFEST_FIELDS: dict[str, Check] = {
    "project": runschema.FIELDS["project"],
    "entity": runschema.FIELDS["entity"],
    "heartbeat_at": number(nullable=True),
}


def parse_body(data: bytes) -> Any:
    """A request or reply body as JSON, nested at most ``jsondoc.MAX_DEPTH`` levels deep;
    ProtocolError otherwise (never a RecursionError, whatever the nesting)."""
    try:
        return loads(data, "the request body", MAX_JSON_BYTES)
    except DocumentError as exc:
        raise ProtocolError(str(exc)) from None


@dataclass(frozen=True)
class RunVerdict:
    """The server's answer about one run in a negotiate reply."""

    run_id: str
    status: str
    missing: tuple[str, ...] = ()
    code: str | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"run_id": self.run_id, "status": self.status}
        if self.missing:
            data["missing"] = list(self.missing)
        if self.code:
            data["code"] = self.code
            data["message"] = self.message
        return data

    @classmethod
    def from_json(cls, data: object) -> RunVerdict:
        if not isinstance(data, Mapping) or not isinstance(data.get("run_id"), str):
            raise ProtocolError("each negotiate verdict must be an object with a run_id")
        status = data.get("status")
        if status not in (STATUS_CURRENT, STATUS_PENDING, STATUS_ERROR):
            raise ProtocolError(f"unknown run status {status!r} in the negotiate reply")
        missing = data.get("missing") or []
        if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
            raise ProtocolError("negotiate verdict 'missing' must be a list of sha256 strings")
        return cls(
            data["run_id"],
            str(status),
            tuple(missing),
            _opt(data.get("code")),
            _opt(data.get("message")),
        )


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def check_version(data: Mapping[str, Any]) -> int:
    """The request's protocol version, if this side speaks it; else ProtocolError."""
    version = data.get("protocol")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ProtocolError("the request names no protocol version ('protocol': 1)")
    if not MIN_PROTOCOL_VERSION <= version <= PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol version {version} is not spoken here (this side speaks "
            f"{MIN_PROTOCOL_VERSION}..{PROTOCOL_VERSION}); upgrade the older side"
        )
    return version


def negotiate_request(manifests: Sequence[Manifest]) -> dict[str, Any]:
    return {"protocol": PROTOCOL_VERSION, "manifests": [m.to_json() for m in manifests]}


def parse_negotiate_request(data: object) -> list[object]:
    """The raw manifests of a negotiate request (each parsed on its own, so one bad run fails
    alone)."""
    if not isinstance(data, Mapping):
        raise ProtocolError("the request body must be a JSON object")
    check_version(data)
    manifests = data.get("manifests")
    if not isinstance(manifests, list):
        raise ProtocolError("'manifests' must be a list")
    if len(manifests) > NEGOTIATE_BATCH:
        raise ProtocolError(f"at most {NEGOTIATE_BATCH} manifests per negotiate request")
    return manifests


def negotiate_reply(verdicts: Sequence[RunVerdict]) -> dict[str, Any]:
    return {"protocol": PROTOCOL_VERSION, "runs": [v.to_json() for v in verdicts]}


def parse_negotiate_reply(data: object) -> list[RunVerdict]:
    if not isinstance(data, Mapping) or not isinstance(data.get("runs"), list):
        raise ProtocolError("the negotiate reply has no 'runs' list")
    check_version(data)
    return [RunVerdict.from_json(v) for v in data["runs"]]


def commit_request(manifest: Manifest) -> dict[str, Any]:
    return {"protocol": PROTOCOL_VERSION, "manifest": manifest.to_json()}


def parse_commit_request(data: object) -> Manifest:
    if not isinstance(data, Mapping):
        raise ProtocolError("the request body must be a JSON object")
    check_version(data)
    return Manifest.from_json(data.get("manifest"))
