"""The alerts JSON API: a project's feed, its rules and destinations, and the test button.

Rules live in the store's alert state (``localtrack.alerts.stores``: its files, or a server's
PostgreSQL database); secrets (webhook URLs, SMTP passwords) go to the project's ``secrets.json``
(or the ``alert_secrets`` table) and never come back out: replies say only whether one is set.
Registered on the ``api`` blueprint; imported by ``api.py``.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request

from localtrack.alerts import config
from localtrack.alerts.evaluator import send_test_alert
from localtrack.errors import DocumentError
from localtrack.store.jsondoc import loads

from . import alert_models as models
from .api import api
from .responses import json_response, ui_state
from .routes import view

CLIENT_ONLY = ("secret_set", "secret_field")


@view(api)
def alerts(project: str) -> Response:
    run_id = request.args.get("run") or None
    return json_response(models.alerts_view(ui_state(), project, run_id))


@view(api)
def alert_rules(project: str) -> Response:
    return json_response(models.rules_view(ui_state().alerts().alert_store, project))


def _body(what: str) -> Any:
    """The JSON body; only ``application/json`` (a cross-site page cannot send it without a
    CORS preflight, which this server never grants)."""
    if not request.is_json:
        raise DocumentError(f"send the {what} as JSON (Content-Type: application/json)", what)
    body = loads(request.get_data() or b"{}", what, config.MAX_BYTES)
    if not isinstance(body, dict):
        raise DocumentError(f"send the {what} as a JSON object", what)
    return body


@view(api)
def save_alert_rules(project: str) -> Response:
    """Body: ``{"rules": [...], "destinations": [...], "secrets": {dest id: value}}``. A secret
    is the webhook URL (the SMTP password for e-mail); null clears it, an absent one is kept."""
    body = _body("rules")
    dests = [
        {k: v for k, v in d.items() if k not in CLIENT_ONLY} if isinstance(d, dict) else d
        for d in body.get("destinations") or []
    ]
    doc = {"rules": body.get("rules") or [], "destinations": dests}
    secrets = body.get("secrets") or {}
    if not isinstance(secrets, dict) or not all(
        v is None or isinstance(v, str) for v in secrets.values()
    ):
        raise DocumentError("'secrets' must map destination ids to strings or null", "rules")
    alert_store = ui_state().alerts().alert_store
    stored = alert_store.save_rules(project, doc)
    kinds = {d["id"]: d["type"] for d in stored.get("destinations") or []}
    for dest_id, value in secrets.items():
        if dest_id not in kinds:
            raise DocumentError(f"'secrets' names {dest_id!r}, which is not a destination", "rules")
        field = "password" if kinds[dest_id] == "email" else "url"
        if value is None or value.strip():
            alert_store.set_secret(
                project, dest_id, field, None if value is None else value.strip()
            )
    return json_response(models.rules_view(alert_store, project))


@view(api)
def test_alert(project: str) -> Response:
    """Body: ``{"destination": id}`` (optional). Answers the test alert's event at once;
    delivery runs in the background and its outcome shows in the feed."""
    body = _body("test request") if request.get_data() else {}
    destination = body.get("destination")
    if destination is not None and not isinstance(destination, str):
        raise DocumentError("'destination' must be a destination id", "test request")
    service = ui_state().alerts()
    record = send_test_alert(service.alert_store, project, service.dispatcher, destination)
    return json_response({"event": record}, 202)
