"""Changing and deleting runs on the central server: what ``ApiRun.update()`` and
``ApiRun.delete()`` send through ``localtrack.Api(base_url=…)``.

``PATCH /api/v1/runs/<id>`` needs a write key, ``DELETE`` an admin key (route registry); both
go through ``localtrack.store.runedit``, which checks the new run.json against its schema,
replaces it atomically and refreshes the index row (on a shared-nothing server: a new run.json
blob and its rows, in one PostgreSQL transaction, ``store/ingest/pgcommits.py``).
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from localtrack.errors import LocaltrackError, UsageError
from localtrack.store.runedit import delete_run, edit_run

from ..responses import json_response, ui_state
from ..routes import view
from ..runapi import full_run
from .audit import record

runedits = Blueprint("runedits", __name__)


@view(runedits)
def update_run(run_id: str) -> Response:
    """Apply the JSON body's name/notes/tags/group/job_type/config/summary to the run."""
    changes = request.get_json(silent=True)
    if not isinstance(changes, dict):
        raise UsageError("the body must be a JSON object of the fields to change")
    reader = ui_state().reader
    full_id = reader.resolve_run_id(run_id)
    edit_run(reader.store, full_id, changes)
    record("run.edit", full_id, fields=sorted(str(k) for k in changes))
    return json_response({"run": full_run(reader, full_id)})


@view(runedits)
def delete_run_view(run_id: str) -> Response:
    """Remove the run: its index rows and its directory."""
    reader = ui_state().reader
    full_id = reader.resolve_run_id(run_id)
    try:
        info = reader.run(full_id)
        what = {"project": info.project, "name": info.name}
    except LocaltrackError:  # a run too damaged to read is still deleted (and recorded)
        what = {}
    delete_run(reader.store, full_id)
    record("run.delete", full_id, **what)
    return json_response({"deleted": full_id})
