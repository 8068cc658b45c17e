"""The sweep page, its JSON twin, and a project's sweeps; live through the ETag polling every page
uses (the sweep's files live under the store root, so a claim or a result moves the counter)."""

from __future__ import annotations

from flask import Response, abort

from . import sweep_models as models
from .api import api
from .pages import _render, pages
from .responses import conditional, error_json, json_response, ui_state
from .routes import view


@view(pages)
def sweep(sweep_id: str) -> str:
    """One sweep: state, best trial, trials table, parallel coordinates, scatter, importance."""
    found = models.find_sweep(ui_state(), sweep_id)
    if found is None:
        abort(404)
    data = models.sweep_view(ui_state(), found)
    return _render("sweep.html", "sweep", sweep_id=sweep_id, view=data, etag=ui_state().etag())


@view(api)
@conditional
def sweep_detail(sweep_id: str) -> Response:
    found = models.find_sweep(ui_state(), sweep_id)
    if found is None:
        return error_json(404, f"no sweep {sweep_id[:40]!r} here", "not_found")
    return json_response(models.sweep_view(ui_state(), found))


@view(api)
@conditional
def sweeps(project: str) -> Response:
    return json_response({"project": project, "sweeps": models.project_sweeps(ui_state(), project)})
