"""The route registry's entries for sweeps (the agents' controller API and the pages), alerts,
reports and the server's audit log; webui/routes.py joins them to the core table."""

from __future__ import annotations

from .route_model import (
    ADMIN_PROJECT,
    API_PREFIX,
    OWN,
    PROJECT,
    WRITE_OWN,
    WRITE_PROJECT,
    Policy,
    Route,
    api_route,
    page_route,
)


def _sweepctl(name: str, rule: str, method: str, doc: str) -> Route:
    """A route of the sweep controller a server hosts (webui/server/sweepctl.py)."""
    return Route(f"sweepctl.{name}", rule, "ingest", WRITE_OWN, doc, (method,), API_PREFIX)


SWEEP_CONTROLLER: tuple[Route, ...] = (
    _sweepctl("create", "/sweeps", "POST", "Create a sweep on the server (`sweep --to URL`)."),
    _sweepctl("controller", "/sweeps/<sweep_id>/controller", "GET", "A sweep for its agents."),
    _sweepctl("claim", "/sweeps/<sweep_id>/claim", "POST", "Claim a sweep's next trial."),
    _sweepctl(
        "progress",
        "/sweeps/<sweep_id>/trials/<key>/progress",
        "POST",
        "A trial's hyperband rungs; answers whether to stop it.",
    ),
    _sweepctl("result", "/sweeps/<sweep_id>/trials/<key>/result", "POST", "How a trial ended."),
    _sweepctl(
        "agent_beat", "/sweeps/<sweep_id>/agents/<agent_id>", "POST", "An agent's heartbeat."
    ),
    _sweepctl("control", "/sweeps/<sweep_id>/control", "POST", "Pause, resume, stop, cancel."),
    _sweepctl("receive_state", "/sweeps/<sweep_id>/state", "POST", "A synced sweep's state files."),
)
SWEEP_UI: tuple[Route, ...] = (
    page_route("sweep", "/sweeps/<sweep_id>", OWN, "api.sweep_detail", "One sweep.", "sweep"),
    api_route(
        "sweep_detail",
        "/sweeps/<sweep_id>",
        OWN,
        "One sweep: state, best, trials, importance (fANOVA), rungs.",
        js="api.sweep",
        key="sweep",
    ),
    api_route(
        "sweeps", "/projects/<path:project>/sweeps", PROJECT, "A project's sweeps.", js="api.sweeps"
    ),
)
ALERTS: tuple[Route, ...] = (
    page_route(
        "alerts",
        "/projects/<path:project>/alerts",
        PROJECT,
        "api.alerts",
        "A project's alert feed, rules and destinations.",
        "alerts",
    ),
    api_route(
        "alerts",
        "/projects/<path:project>/alerts",
        PROJECT,
        "A project's alert feed (newest first, with delivery outcomes), rules and destinations.",
        js="api.alerts",
        query="?run=ID",
    ),
    api_route(
        "alert_rules",
        "/projects/<path:project>/alerts/rules",
        PROJECT,
        "A project's rules.json: rules and destinations (secrets only as set / not set).",
        js="api.alertRules",
    ),
    Route(
        "api.save_alert_rules",
        "/projects/<path:project>/alerts/rules",
        "api",
        ADMIN_PROJECT,
        "Replace a project's alert rules and destinations; set or clear their secrets.",
        ("PUT",),
        API_PREFIX,
        key="save_alert_rules",
    ),
    Route(
        "api.test_alert",
        "/projects/<path:project>/alerts",
        "api",
        ADMIN_PROJECT,
        "Send a test alert to the project's destinations (or one of them).",
        ("POST",),
        API_PREFIX,
        key="test_alert",
    ),
)
REPORT = "/projects/<path:project>/reports/<name>"
REPORTS: tuple[Route, ...] = (  # webui/report_api.py, docs/reports.md
    Route(
        "pages.reports_page",
        "/projects/<path:project>/reports",
        "page",
        PROJECT,
        "A project's reports.",
        twin="api.reports",
        js="reports",
    ),
    Route(
        "pages.report_page",
        REPORT,
        "page",
        PROJECT,
        "One report, drawn live.",
        twin="api.report_data_view",
        js="report",
    ),
    Route(
        "pages.report_edit",
        REPORT + "/edit",
        "page",
        PROJECT,
        "A report's editor with a live preview.",
        twin="api.report",
        js="reportEdit",
    ),
    api_route(
        "reports",
        "/projects/<path:project>/reports",
        PROJECT,
        "A project's reports.",
        js="api.reports",
    ),
    api_route("report", REPORT, PROJECT, "One report's text and front matter.", js="api.report"),
    Route(
        "api.save_report",
        REPORT,
        "api",
        WRITE_PROJECT,
        "Save (create or replace) a report.",
        ("PUT",),
        API_PREFIX,
        key="save_report",
    ),
    Route(
        "api.delete_report",
        REPORT,
        "api",
        WRITE_PROJECT,
        "Delete a report.",
        ("DELETE",),
        API_PREFIX,
        key="delete_report",
    ),
    api_route(
        "report_data_view",
        REPORT + "/data",
        PROJECT,
        "A report drawn: sanitised text and every panel's data.",
        js="api.reportData",
        key="report_data",
    ),
    Route(
        "api.report_preview",
        "/projects/<path:project>/report-preview",
        "api",
        PROJECT,
        "An unsaved report's text drawn (the editor's live preview).",
        ("POST",),
        API_PREFIX,
        js="api.reportPreview",
        key="report_preview",
    ),
    Route(
        "api.pin_report",
        REPORT + "/pin",
        "api",
        WRITE_PROJECT,
        "Pin a report to its runs' current steps, or let it follow them live.",
        ("POST",),
        API_PREFIX,
        js="api.reportPin",
        key="pin_report",
    ),
    api_route(
        "report_export_view",
        REPORT + "/export",
        PROJECT,
        "A report as one self-contained HTML file.",
        js="api.reportExport",
        key="report_export",
    ),
)
AUDIT: tuple[Route, ...] = (  # the central server only: webui/server/audit_pages.py
    Route(
        "audit_ui.audit_page",
        "/admin/audit",
        "page",
        Policy("admin"),
        "The server's audit log: keys, syncs, imports, edits, deletions, alias moves, logins.",
        twin="audit_api.audit_entries",
        js="audit",
    ),
    Route(
        "audit_api.audit_entries",
        "/audit",
        "api",
        Policy("admin"),
        "The server's audit log, newest first (admin key; the central server only).",
        prefix=API_PREFIX,
        js="api.audit",
        key="audit",
        query="?user&action&since&until&before&limit",
    ),
)
