"""Saved workspace views travel with their project: ``localtrack sync`` sends them to the server
(``PUT /api/v1/projects/<p>/views/<name>``, a write key's project-scoped route) and a bundle
carries them as ``W`` frames. Either way the receiving side checks each view with the store's
schema (``localtrack.store.workspaces.check_view``) and keeps whichever copy was saved last.

A view travels as ``{"project": P, "view": <the view document>, "default": bool}``.
"""

from __future__ import annotations

import logging
import math
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import DocumentError, LocaltrackError
from ..store import jsondoc as jd
from ..store import workspaces

log = logging.getLogger(__name__)


def local_documents(root: Path | str, projects: Iterable[str]) -> list[dict[str, Any]]:
    """Every saved view of `projects` in the store at `root` (a view that fails its schema is
    logged and left behind)."""
    out = []
    for project in sorted(set(projects)):
        for info in workspaces.list_views(root, project):
            try:
                view = workspaces.read_view(root, project, info.name)
            except (DocumentError, workspaces.ViewNotFoundError, OSError) as exc:
                log.warning("view %r of %s not carried: %s", info.name, project, exc)
                continue
            out.append({"project": project, "view": view, "default": info.default})
    return out


def source_documents(source: Any, projects: Iterable[str]) -> list[dict[str, Any]]:
    """The views a sync source carries for `projects`: a store's saved views, or the ones a
    bundle holds (``localtrack sync --bundle``)."""
    store = getattr(source, "store", None)
    if store is not None:
        return local_documents(store.root, projects)
    wanted = set(projects)
    contents = getattr(source, "contents", None)
    return [d for d in getattr(contents, "views", []) if d["project"] in wanted]


def check_document(data: Any) -> dict[str, Any]:
    """A travelling view, checked (DocumentError names the field)."""
    jd.check_fields(
        "workspace view",
        data,
        {
            "project": jd.text(1000, min_chars=1),
            "view": jd.mapping(),
            "default": jd.one_of((True, False)),
        },
        required=("project", "view"),
    )
    view = workspaces.check_view(data["view"])
    stamp = view.get("updated_at")
    if stamp is not None and not (isinstance(stamp, int | float) and math.isfinite(stamp)):
        raise DocumentError("'updated_at' must be a time in seconds", "view", "updated_at")
    return {"project": data["project"], "view": view, "default": bool(data.get("default"))}


def apply_document(root: Path | str, doc: dict[str, Any], index_url: str | None = None) -> str:
    """Save a travelling view into the store at `root` (or its server's PostgreSQL database,
    with `index_url`; the later-saved copy wins); its key."""
    view = doc["view"]
    stamp = view.get("updated_at")
    views = workspaces.open_views(root, index_url)
    saved = views.save_view(
        doc["project"], view["name"], view["state"], None if stamp is None else float(stamp)
    )
    if doc.get("default") and saved.get("updated_at") == view.get("updated_at"):
        views.set_default(doc["project"], view["name"])
    return f"{doc['project']}/{view['name']}"


def push_documents(remote: Any, docs: Iterable[dict[str, Any]]) -> list[str]:
    """PUT each view to the server behind `remote`; the ones it took, as ``project/name``. A view
    the server refuses is logged and left for the next sync, as a failed run would be."""
    sent = []
    for doc in docs:
        view, project = doc["view"], doc["project"]
        path = (
            f"/api/v1/projects/{urllib.parse.quote(project, safe='')}/views/"
            f"{urllib.parse.quote(view['name'], safe='')}"
        )
        body: dict[str, Any] = {"state": view["state"], "updated_at": view.get("updated_at")}
        if doc.get("default"):
            body["default"] = True
        try:
            remote.request_json("PUT", path, body)
        except LocaltrackError as exc:
            log.warning("view %r of %s not synced: %s", view["name"], project, exc)
            continue
        sent.append(f"{project}/{view['name']}")
    return sent
