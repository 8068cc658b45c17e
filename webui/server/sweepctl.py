"""The sweep controller a central server hosts (``localtrack agent ID --to URL``), under /api/v1.

Agents on any machine claim trials, report rungs and results, and beat their heart here; the
server's store holds the sweep (``localtrack.sweeps.controller.Sweep``: exclusive-create claims
inside the index's ``BEGIN IMMEDIATE``, so no trial is handed out twice, and a dead agent's trial
is settled and re-queued by the next claim). With a PostgreSQL index the sweep is rows of that
database instead, which every replica shares (``localtrack/sweeps/pgstate.py``). ``POST /sweeps/<id>/state`` receives a sweep that
``localtrack sync`` carries (``localtrack.sweeps.wire``: one schema, then a merge).

Every route needs a write key; a sweep outside a scoped key's namespace answers 404 with the
message of a sweep that does not exist. Bodies are checked field by field before use.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, request

from localtrack.errors import DocumentError, ProtocolError, SweepError
from localtrack.sweeps import wire
from localtrack.sweeps.controller import AgentInfo, Sweep, create_sweep
from localtrack.sweeps.pgstate import open_sweep_files
from localtrack.sweeps.state import CONTROL_STATES, parse_key
from localtrack.sync import protocol

from ..responses import error_json, json_response, ui_state
from ..routes import view
from .access import principal

log = logging.getLogger(__name__)
sweepctl = Blueprint("sweepctl", __name__)


class _Missing(Exception):
    pass


@sweepctl.errorhandler(_Missing)
def _missing(exc: _Missing) -> Response:
    return error_json(404, f"no sweep {str(exc)[:40]!r} here", "not_found")


@sweepctl.errorhandler(DocumentError)
@sweepctl.errorhandler(ProtocolError)
@sweepctl.errorhandler(SweepError)
def _bad(exc: Exception) -> Response:
    return error_json(400, str(exc), "bad_request")


def _root() -> Path:
    return Path(ui_state().reader.root)


def _index_url() -> str | None:
    """The server's PostgreSQL database, where its sweeps are (None: ``<root>/sweeps/``)."""
    return ui_state().reader.store.index_url


def _body() -> dict[str, Any]:
    request.max_content_length = protocol.MAX_JSON_BYTES
    if not request.is_json:
        raise ProtocolError("the request body must be JSON (Content-Type: application/json)")
    data = protocol.parse_body(request.get_data())
    if not isinstance(data, dict):
        raise ProtocolError("the request body must be a JSON object")
    return data


def _may(entity: str | None, project: str | None) -> bool:
    who = principal()
    return who is None or who.covers(entity, project)


def _sweep(sweep_id: str) -> Sweep:
    """The sweep, if it is here and the key's to touch (else 404, the same for both)."""
    try:
        found = Sweep(_root(), sweep_id, _index_url())
    except SweepError:
        raise _Missing(sweep_id) from None
    if not _may(found.document.get("entity"), found.project):
        raise _Missing(sweep_id)
    return found


def _reply(found: Sweep, **data: Any) -> Response:
    return json_response({**data, "control": found.files.control()})


@view(sweepctl)
def create() -> Response:
    body = _body()
    raw, project, entity = body.get("config"), body.get("project"), body.get("entity")
    if not isinstance(raw, dict):
        raise ProtocolError("'config' must be the sweep config, an object")
    project = project or raw.get("project") or "uncategorized"
    if not isinstance(project, str) or not (entity is None or isinstance(entity, str)):
        raise ProtocolError("'project' and 'entity' must be strings")
    if not _may(entity, project):
        return error_json(403, f"this key may not write to project {project!r}", "forbidden")
    sweep_id = create_sweep(_root(), raw, project, entity, _index_url())
    log.info("created sweep %s in %s", sweep_id, project)
    return json_response({"id": sweep_id}, 201)


@view(sweepctl)
def controller(sweep_id: str) -> Response:
    found = _sweep(sweep_id)
    return _reply(found, document=found.document, status=found.status())


@view(sweepctl)
def claim(sweep_id: str) -> Response:
    found = _sweep(sweep_id)
    agent = wire.check_agent(_body().get("agent"))
    info = AgentInfo(
        agent["id"], str(agent.get("host") or ""), int(agent.get("pid") or 0), agent.get("boot_id")
    )
    found.heartbeat(info)
    attempt = found.held_by(info) or found.next_trial(info)  # held: our answer was lost
    return _reply(found, attempt=None if attempt is None else attempt.claim)


@view(sweepctl)
def progress(sweep_id: str, key: str) -> Response:
    found = _sweep(sweep_id)
    wire.check_key(key)
    body = _body()
    rungs = wire.check_rungs(body.get("rungs"))
    best = wire.check_rungs(body.get("best") or {}, "best") or None
    if not found.files.is_claimed(*parse_key(key)):
        raise _Missing(f"{sweep_id}/{key}")
    stop = found.report_progress(key, rungs, best)
    if stop is not None:
        found.files.request_stop(key, stop)
    return _reply(found, stop=stop)


@view(sweepctl)
def result(sweep_id: str, key: str) -> Response:
    found = _sweep(sweep_id)
    wire.check_key(key)
    record = wire.check_result(_body().get("result"))
    if not found.files.is_claimed(*parse_key(key)):
        raise _Missing(f"{sweep_id}/{key}")
    return _reply(found, recorded=found.record_result(key, record))


@view(sweepctl)
def agent_beat(sweep_id: str, agent_id: str) -> Response:
    found = _sweep(sweep_id)
    body = _body()
    agent = wire.check_agent(body.get("agent"))
    if agent["id"] != agent_id:
        raise ProtocolError("the agent in the body is not the one in the URL")
    if body.get("leave") is True:
        found.files.leave(agent_id)
    else:
        found.files.beat(agent)
    return _reply(found)


@view(sweepctl)
def control(sweep_id: str) -> Response:
    found = _sweep(sweep_id)
    state = _body().get("state")
    if state not in CONTROL_STATES:
        raise ProtocolError(f"'state' must be one of {', '.join(CONTROL_STATES)}")
    found.files.set_control(str(state))
    return _reply(found)


@view(sweepctl)
def receive_state(sweep_id: str) -> Response:
    data = wire.check_state(_body())
    if data["id"] != sweep_id:
        raise ProtocolError("the sweep state names another sweep")
    sweep_doc = data["sweep"]
    if not _may(sweep_doc.get("entity"), sweep_doc.get("project")):
        raise _Missing(sweep_id)
    if open_sweep_files(_root(), sweep_id, _index_url()).exists():
        _sweep(sweep_id)  # the one here must be the key's too
    new = wire.apply_state(_root(), data, _index_url())
    return json_response({"id": sweep_id, "new": new})
