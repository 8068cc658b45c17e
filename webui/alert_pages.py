"""The alerts page: a project's alert feed with delivery outcomes, and its rules and
destinations, edited in place. Renders from the same view model as its /api/v1 twin
(``alert_models.py``); ``static/js/alerts.js`` keeps the feed live and edits the rules."""

from __future__ import annotations

from flask import request

from . import alert_models as models
from .pages import _render, pages
from .responses import ui_state
from .routes import view
from .server.auth import csrf_token


@view(pages)
def alerts(project: str) -> str:
    """A project's alerts: the feed (optionally one run's: ?run=ID), rules, destinations."""
    data = models.alerts_view(ui_state(), project, request.args.get("run") or None)
    return _render("alerts.html", "alerts", project=project, view=data, csrf=csrf_token())
