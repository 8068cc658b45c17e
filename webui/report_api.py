"""Reports in the UI: the list, view and editor pages and their JSON API (docs/reports.md).

Report files live in the store (``localtrack.reports.files``); these routes read, write, pin
and export them, and ``report_data`` turns one into what ``static/js/report.js`` draws. The
editor's live preview posts its unsaved text to ``report_preview``. Registered on the ``api``
and ``pages`` blueprints; imported by ``api.py``.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

from flask import Response, current_app, render_template, request

from localtrack.errors import DocumentError
from localtrack.reports import export as report_export
from localtrack.reports import files
from localtrack.reports.format import parse_report, with_front_matter
from localtrack.store.jsondoc import loads

from .api import api
from .pages import pages
from .report_data import current_steps, report_data
from .responses import conditional, error_json, json_response, ui_state
from .routes import view
from .server.auth import csrf_token


def _doc(rf: files.ReportFile) -> dict[str, Any]:
    report = rf.report
    return {
        "project": rf.project,
        "name": rf.name,
        "title": report.title or rf.name,
        "mode": report.mode,
        "steps": report.steps,
        "panels": len(report.panels),
        "updated_at": rf.updated_at,
        "text": rf.text,
    }


def _read(project: str, name: str) -> files.ReportFile:
    return files.read_report(ui_state().reader.root, project, name)


def _list(project: str) -> list[dict[str, Any]]:
    out = []
    for rf in files.list_reports(ui_state().reader.root, project):
        try:
            entry = _doc(rf)
        except DocumentError as exc:  # edited by hand into something that does not parse
            entry = {
                "name": rf.name,
                "title": rf.name,
                "updated_at": rf.updated_at,
                "error": str(exc),
            }
        entry.pop("text", None)
        out.append(entry)
    return out


def _not_found(exc: files.ReportNotFoundError) -> Response:
    return error_json(404, str(exc))


def _body(what: str) -> dict[str, Any]:
    """A JSON object body (only ``application/json``: a cross-site form cannot send it)."""
    if not request.is_json:
        raise DocumentError(f"send the {what} as JSON (Content-Type: application/json)", "report")
    body = loads(request.get_data(), what, 2 * 1024 * 1024)
    if not isinstance(body, dict):
        raise DocumentError(f"the {what} must be a JSON object", "report")
    return body


@view(api)
@conditional
def reports(project: str) -> Response:
    return json_response({"project": project, "reports": _list(project)})


@view(api)
def report(project: str, name: str) -> Response:
    try:
        return json_response(_doc(_read(project, name)))
    except files.ReportNotFoundError as exc:
        return _not_found(exc)


@view(api)
def save_report(project: str, name: str) -> Response:
    """Body: ``{"text": "...", "updated_at": seconds}``; ``updated_at`` (sent by sync): a copy
    here written later is kept."""
    body = _body("report")
    text, stamp = body.get("text"), body.get("updated_at")
    if not isinstance(text, str):
        raise DocumentError('send {"text": "..."} as the body', "report", "text")
    if stamp is not None and (
        isinstance(stamp, bool) or not isinstance(stamp, int | float) or stamp < 0
    ):
        raise DocumentError("'updated_at' must be a time in seconds", "report", "updated_at")
    saved = files.save_report(ui_state().reader.root, project, name, text, stamp)
    return json_response(_doc(saved))


@view(api)
def delete_report(project: str, name: str) -> Response:
    try:
        files.delete_report(ui_state().reader.root, project, name)
    except files.ReportNotFoundError as exc:
        return _not_found(exc)
    return json_response({"deleted": name})


@view(api)
@conditional
def report_data_view(project: str, name: str) -> Response:
    try:
        rf = _read(project, name)
    except files.ReportNotFoundError as exc:
        return _not_found(exc)
    return json_response(report_data(ui_state().reader, project, rf.report, name))


@view(api)
def report_preview(project: str) -> Response:
    """Body ``{"text": "..."}``: the unsaved report drawn (the editor's live preview)."""
    text = _body("report").get("text")
    if not isinstance(text, str):
        raise DocumentError('send {"text": "..."} as the body', "report", "text")
    return json_response(report_data(ui_state().reader, project, parse_report(text), "preview"))


@view(api)
def pin_report(project: str, name: str) -> Response:
    """Body ``{"pinned": true}``: record each run's current last step (the report stops there);
    ``false``: follow the runs live again."""
    pinned = _body("pin").get("pinned")
    if not isinstance(pinned, bool):
        raise DocumentError('send {"pinned": true} or {"pinned": false}', "report", "pinned")
    root = ui_state().reader.root
    rf = _read(project, name)
    steps = current_steps(ui_state().reader, project, rf.report) if pinned else {}
    text = with_front_matter(
        rf.text,
        mode="pinned" if pinned else "live",
        steps=json.dumps(steps) if pinned else "",
        pinned_at=str(int(time.time())) if pinned else "",
    )
    return json_response(_doc(files.save_report(root, project, name, text)))


def export_file(project: str, name: str, static_dir: Path) -> str:
    """The self-contained HTML of a report as of now (media embedded)."""
    reader = ui_state().reader
    rf = files.read_report(reader.root, project, name)
    data = report_data(reader, project, rf.report, name, embed=True)
    return report_export.export_html(data, report_export.load_assets(static_dir))


@view(api)
def report_export_view(project: str, name: str) -> Response:
    try:
        page = export_file(project, name, Path(current_app.static_folder or ""))
    except files.ReportNotFoundError as exc:
        return _not_found(exc)
    response = Response(page, mimetype="text/html")
    filename = urllib.parse.quote(f"{name}.html")
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{filename}"
    return response


def _render(template: str, page: str, **context: Any) -> str:
    poll = current_app.config["LOCALTRACK_POLL_MS"]
    return render_template(template, page=page, poll_ms=poll, csrf=csrf_token(), **context)


@view(pages)
def reports_page(project: str) -> str:
    """A project's reports, with a form to start a new one."""
    return _render("reports.html", "reports", project=project, reports=_list(project))


@view(pages)
def report_page(project: str, name: str) -> str:
    """One report, drawn live (its panels refresh as the runs log)."""
    doc = _doc(_read(project, name))
    return _render("report.html", "report", project=project, name=name, doc=doc)


@view(pages)
def report_edit(project: str, name: str) -> str:
    """The editor: the report's text beside a live preview; a new name starts a new report."""
    try:
        text = _read(project, name).text
    except files.ReportNotFoundError:
        text = NEW_REPORT.format(title=name)
    return _render("report_edit.html", "report-edit", project=project, name=name, text=text)


NEW_REPORT = """---
title: {title}
mode: live
---
# {title}

Write markdown here. A panel is a fenced block holding one JSON object:

```panel
{{"type": "line", "title": "Loss", "keys": ["loss"]}}
```
"""
