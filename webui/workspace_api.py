"""The workspace's JSON API: what a project's workspace can show, and its saved views.

Views are files in the store (``localtrack.store.workspaces``), or rows of a server's PostgreSQL
index (``localtrack.store.pgworkspaces``); these routes read and write them
for the page script (``static/js/workspace.js``) and for anyone scripting layouts. Registered on
the ``api`` blueprint; imported by ``api.py``.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request

from localtrack.errors import DocumentError
from localtrack.store import workspaces
from localtrack.store.jsondoc import loads
from localtrack.store.runjson import json_safe

from . import catalog
from . import views as models
from .api import api
from .responses import conditional, error_json, json_response, ui_state
from .routes import view

MAX_RUNS = 200  # runs a workspace draws at once; the rest stay listed, unselected


def _views() -> Any:
    """The store's saved views: its files, or its PostgreSQL index database's rows."""
    reader = ui_state().reader
    return workspaces.open_views(reader.root, reader.store.index_url)


def _view_list(project: str) -> list[dict[str, Any]]:
    return [
        {"name": v.name, "updated_at": v.updated_at, "default": v.default}
        for v in _views().list_views(project)
    ]


def workspace_view(project: str) -> dict[str, Any]:
    """Everything the workspace page needs to start: runs (newest first, with config and
    summary for grouping, filters and the scatter/bar/parallel panels), metric keys by section,
    the saved views and the default view's state."""
    state = ui_state()
    records = models.project_records(state, project)
    runs = []
    names = state.reader.metric_key_names([rec.run.id for rec in records[:MAX_RUNS]])
    keys: set[str] = set().union(*names.values())
    for rec in records[:MAX_RUNS]:
        run = rec.run
        runs.append(
            {
                "id": run.id,
                "name": run.name,
                "state": run.state,
                "group": run.group,
                "tags": list(run.tags),
                "config": json_safe(catalog.flatten(run.config)),
                "summary": json_safe(run.summary),
            }
        )
    saved = _views()
    default = saved.default_view(project)
    current = None
    if default is not None:
        try:
            current = saved.read_view(project, default)
        except (workspaces.ViewNotFoundError, DocumentError):
            current = None
    ordered = sorted(keys)
    return {
        "project": project,
        "runs": runs,
        "runs_total": len(records),
        "keys": ordered,
        "sections": models.sections(ordered),
        "views": _view_list(project),
        "default": default,
        "view": current,
    }


@view(api)
@conditional
def workspace(project: str) -> Response:
    return json_response(workspace_view(project))


@view(api)
@conditional
def views(project: str) -> Response:
    return json_response({"views": _view_list(project), "default": _views().default_view(project)})


@view(api)
def get_view(project: str, name: str) -> Response:
    try:
        return json_response(_views().read_view(project, name))
    except workspaces.ViewNotFoundError as exc:
        return error_json(404, str(exc))


def _body() -> Any:
    """The JSON body. Only ``application/json`` is taken: a cross-site page cannot send that
    (nor PUT/DELETE) without a CORS preflight, which this server never grants."""
    if not request.is_json:
        raise DocumentError("send the view as JSON (Content-Type: application/json)", "view")
    return loads(request.get_data(), "view", workspaces.MAX_BYTES)


@view(api)
def save_view(project: str, name: str) -> Response:
    """Body: ``{"state": {...}, "default": true|false, "updated_at": seconds}``; answers the
    stored document. ``default`` true makes it the project's default view; false stops it being
    the default. ``updated_at`` (sent by ``localtrack sync``): when the view was saved where it
    comes from; a copy here saved later is kept, and answered."""
    body = _body()
    if not isinstance(body, dict) or not isinstance(body.get("state"), dict):
        raise DocumentError('send {"state": {...}} as the body', "view", "state")
    stamp = body.get("updated_at")
    if stamp is not None and (
        isinstance(stamp, bool) or not isinstance(stamp, int | float) or not stamp >= 0
    ):
        raise DocumentError("'updated_at' must be a time in seconds", "view", "updated_at")
    saved = _views()
    doc = saved.save_view(project, name, body["state"], stamp)
    if body.get("default") is True:
        saved.set_default(project, name)
    elif body.get("default") is False and saved.default_view(project) == name:
        saved.set_default(project, None)
    return json_response(doc)


@view(api)
def delete_view(project: str, name: str) -> Response:
    try:
        _views().delete_view(project, name)
    except workspaces.ViewNotFoundError as exc:
        return error_json(404, str(exc))
    return json_response({"deleted": name})
