"""Whose run an incoming run.json describes, and whether it may replace the run already here.

Two runs share an id only by accident; what tells them apart is where and when each started.
An import that would overwrite another run, or a run a live process here is still writing, is
refused with ``RunConflictError``.
"""

from __future__ import annotations

import socket
from typing import Any

from ...errors import ManifestError, RunConflictError
from ..runmeta import pid_alive
from ..runschema import parse_run_json_bytes


def parse_run_json(data: bytes, run_id: str) -> dict[str, Any]:
    """The run.json sent for `run_id`, parsed and checked against the schema (``runschema``);
    DocumentError naming the field that does not fit, ManifestError unless it describes that run."""
    meta = parse_run_json_bytes(data, f"run.json of {run_id}")
    if meta.get("id") != run_id:
        raise ManifestError(f"run.json sent for run {run_id} describes another run")
    return meta


def check_same_run(
    run_id: str, existing: dict[str, Any], incoming: dict[str, Any], committed_before: bool
) -> None:
    """Refuse an import over another run with this id, or over a run a live process here
    writes (unless an earlier commit placed it)."""
    if _origin(existing) != _origin(incoming):
        raise RunConflictError(
            f"run id {run_id!r} already belongs to another run here (created "
            f"{existing.get('created_at')} on {_first_host(existing)}); give one of them "
            "another id (init(id=...)) before syncing"
        )
    if not committed_before and _has_local_writer(existing):
        raise RunConflictError(
            f"run {run_id!r} is being written by a live process on this machine; "
            "import it after that run finished"
        )


def _first_host(meta: dict[str, Any]) -> str | None:
    segments = meta.get("segments") or [{}]
    first = segments[0] if isinstance(segments, list) and segments else {}
    return first.get("host") if isinstance(first, dict) else None


def _origin(meta: dict[str, Any]) -> tuple[Any, ...]:
    """What tells one run from another with the same id: when and where it started."""
    segments = meta.get("segments") or [{}]
    first = segments[0] if isinstance(segments, list) and segments else {}
    first = first if isinstance(first, dict) else {}
    return (meta.get("created_at"), first.get("host"), first.get("started_at"))


def _has_local_writer(meta: dict[str, Any]) -> bool:
    if meta.get("state") != "running":
        return False
    segments = meta.get("segments") or [{}]
    last = segments[-1] if isinstance(segments, list) and segments else {}
    if not isinstance(last, dict) or last.get("host") != socket.gethostname():
        return False
    pid = last.get("pid")
    return isinstance(pid, int) and pid_alive(pid)
