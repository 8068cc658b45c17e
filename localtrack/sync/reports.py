"""Reports travel with their project, as saved workspace views do (``views.py``):
``localtrack sync`` PUTs each to the server (``PUT /api/v1/projects/<p>/reports/<name>``, a
write key's project-scoped route) and a bundle carries them as ``R`` frames. The receiving side
checks each with ``check_document`` (the name, the text within limits, every panel parsed by
``localtrack.reports.format``) and keeps whichever copy was written last.

A report travels as ``{"project": P, "name": N, "text": "...", "updated_at": seconds}``.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import DocumentError, LocaltrackError
from ..reports import files
from ..reports.format import MAX_CHARS, parse_report
from ..store import jsondoc as jd

log = logging.getLogger(__name__)


def local_documents(root: Path | str, projects: Iterable[str]) -> list[dict[str, Any]]:
    """Every report of `projects` in the store at `root` (one that does not parse is logged and
    left behind)."""
    out = []
    for project in sorted(set(projects)):
        for rf in files.list_reports(root, project):
            try:
                parse_report(rf.text)
            except DocumentError as exc:
                log.warning("report %r of %s not carried: %s", rf.name, project, exc)
                continue
            out.append(
                {"project": project, "name": rf.name, "text": rf.text, "updated_at": rf.updated_at}
            )
    return out


def source_documents(source: Any, projects: Iterable[str]) -> list[dict[str, Any]]:
    """The reports a sync source carries: a store's files, or a bundle's ``R`` frames."""
    store = getattr(source, "store", None)
    if store is not None:
        return local_documents(store.root, projects)
    wanted = set(projects)
    contents = getattr(source, "contents", None)
    return [d for d in getattr(contents, "reports", []) if d["project"] in wanted]


def check_document(data: Any) -> dict[str, Any]:
    """A travelling report, checked (DocumentError names what is wrong)."""
    jd.check_fields(
        "report",
        data,
        {
            "project": jd.text(1000, min_chars=1),
            "name": jd.text(64, min_chars=1),
            "text": jd.text(MAX_CHARS, multiline=True),
            "updated_at": jd.number(),
        },
        required=("project", "name", "text", "updated_at"),
    )
    files.check_name(data["name"])
    parse_report(data["text"])
    return {k: data[k] for k in ("project", "name", "text", "updated_at")}


def apply_document(root: Path | str, doc: dict[str, Any]) -> str:
    """Save a travelling report into the store at `root` (the later-written copy wins)."""
    files.save_report(root, doc["project"], doc["name"], doc["text"], float(doc["updated_at"]))
    return f"{doc['project']}/{doc['name']}"


def push_documents(remote: Any, docs: Iterable[dict[str, Any]]) -> list[str]:
    """PUT each report to the server behind `remote`; the ones it took, as ``project/name``."""
    sent = []
    for doc in docs:
        path = (
            f"/api/v1/projects/{urllib.parse.quote(doc['project'], safe='')}/reports/"
            f"{urllib.parse.quote(doc['name'], safe='')}"
        )
        try:
            remote.request_json("PUT", path, {"text": doc["text"], "updated_at": doc["updated_at"]})
        except LocaltrackError as exc:
            log.warning("report %r of %s not synced: %s", doc["name"], doc["project"], exc)
            continue
        sent.append(f"{doc['project']}/{doc['name']}")
    return sent
