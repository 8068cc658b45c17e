"""The audit log page (``/admin/audit``) and its JSON twin (``/api/v1/audit``): admins only.

Both read the same view model: a page of entries, newest first, filtered by user, action
(``login`` matches ``login.ok`` and ``login.failed``) and time (``since``/``until``, ISO 8601 UTC
or epoch seconds), and paged back with ``before=<id>`` (the entries are append-only, so a page
never shifts under a reader). Only the central server has them; a non-admin gets the API's one
JSON error (403) from the gate (``policies.py``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, render_template, request, url_for

from localtrack.errors import UsageError
from localtrack.store.auditlog import ACTIONS, MAX_PAGE, AuditQuery, parse_time

from ..responses import json_response
from ..routes import view
from .access import principal
from .audit import audit_log

audit_ui = Blueprint("audit_ui", __name__)
audit_api = Blueprint("audit_api", __name__)
PER_PAGE = 50
FILTERS = ("user", "action", "since", "until")


def _int_arg(name: str, default: int | None) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise UsageError(f"{name} must be a whole number, not {raw[:40]!r}") from None


def _query() -> AuditQuery:
    args = {name: request.args.get(name, "").strip() or None for name in FILTERS}
    return AuditQuery(
        user=args["user"],
        action=args["action"],
        since=None if args["since"] is None else parse_time(args["since"], "since"),
        until=None if args["until"] is None else parse_time(args["until"], "until"),
        before=_int_arg("before", None),
        limit=max(1, min(MAX_PAGE, _int_arg("limit", PER_PAGE) or PER_PAGE)),
    )


def audit_view(endpoint: str) -> dict[str, Any]:
    """The entries the request's filters select, and the URL of the next (older) page."""
    query = _query()
    found = audit_log()
    rows = [] if found is None else found.rows(query)
    filters = {name: request.args.get(name, "").strip() for name in FILTERS}
    kept: dict[str, Any] = {k: v for k, v in filters.items() if v}
    older = None
    if len(rows) == query.limit and rows:
        older = url_for(endpoint, **kept, before=rows[-1].id, limit=query.limit)
    return {
        "entries": [row.to_json() for row in rows],
        "filters": filters,
        "actions": list(ACTIONS),
        "next": older,
        "newest": url_for(endpoint, **kept) if query.before is not None else None,
    }


@view(audit_ui)
def audit_page() -> str:
    """The audit log as a table with a filter form and older/newest links."""
    return render_template(
        "audit.html", page="audit", poll_ms=0, view=audit_view(request.endpoint or "")
    )


@view(audit_api)
def audit_entries() -> Response:
    return json_response(audit_view(request.endpoint or ""))


def _nav() -> dict[str, Any]:
    """The nav's link to the audit log, for admins only."""
    who = principal()
    return {"audit_url": url_for("audit_ui.audit_page") if who and who.has_role("admin") else None}


def install(app: Flask) -> None:
    app.register_blueprint(audit_ui)
    app.register_blueprint(audit_api, url_prefix="/api/v1")
    app.context_processor(_nav)
