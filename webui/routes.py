"""The route registry: every URL the apps answer, declared once.

Each ``Route`` names its endpoint, URL rule, methods, kind (page, api, ingest, auth, health,
static), the access policy it needs, its JSON twin (pages) and a one-line doc. From this one
list come: the views' URL rules (``Routes.view``), the ``/api/v1/`` index, the URL templates the
page scripts build addresses from (``js_urls``), ``server.policies.POLICIES``, and the checks in
``problems`` / ``doc_problems`` that fail a test when a route lacks a policy, a twin or a doc.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, Flask

F = TypeVar("F", bound=Callable[..., Any])

API_PREFIX = "/api/v1"
KINDS = ("page", "api", "ingest", "auth", "health", "static")
DOCUMENTED_KINDS = ("api", "health")  # each has a `### ` heading in docs/api.md


@dataclass(frozen=True)
class Policy:
    """What an endpoint needs: a role ("public", "read", "write", "admin") and where the
    project it touches comes from ("none", "all" = every project, "project" view argument,
    "run" view argument, "runs" query argument, "view" = the view checks it itself)."""

    role: str
    scopes: tuple[str, ...] = ("none",)


PUBLIC = Policy("public")
READ = Policy("read")


@dataclass(frozen=True)
class Route:
    """One URL the apps answer. ``rule`` is relative to ``prefix`` (the blueprint's)."""

    endpoint: str
    rule: str
    kind: str
    policy: Policy | None
    doc: str
    methods: tuple[str, ...] = ("GET",)
    prefix: str = ""
    twin: str | None = None  # a page's /api/v1 twin (an endpoint)
    js: str | None = None  # its name in the page scripts' URL map
    query: str = ""  # the query arguments the index lists ("?q&tag")
    shown: str | None = None  # the path the index shows, when not the rule's
    key: str | None = None  # its name in the index, when not the endpoint's
    options: tuple[tuple[str, Any], ...] = ()  # more werkzeug Rule options

    @property
    def full_rule(self) -> str:
        return self.prefix + self.rule

    @property
    def path(self) -> str:
        """The rule with its converters dropped: ``/runs/<path:p>`` → ``/runs/<p>``."""
        return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"<\1>", self.full_rule)

    @property
    def name(self) -> str:
        return self.endpoint.split(".", 1)[-1]


def _api(name: str, rule: str, policy: Policy, doc: str, **kw: Any) -> Route:
    return Route(f"api.{name}", rule, "api", policy, doc, prefix=API_PREFIX, **kw)


def _page(name: str, rule: str, policy: Policy, twin: str, doc: str, js: str) -> Route:
    return Route(f"pages.{name}", rule, "page", policy, doc, twin=twin, js=js)


def _ingest(name: str, rule: str, method: str, policy: Policy, doc: str) -> Route:
    return Route(f"ingest.{name}", rule, "ingest", policy, doc, (method,), API_PREFIX)


RUN, RUNS, PROJECT = (
    Policy("read", ("run",)),
    Policy("read", ("runs",)),
    Policy("read", ("project",)),
)
COMPARE = Policy("read", ("project", "runs"))
WRITE, WRITE_OWN = Policy("write"), Policy("write", ("view",))
WRITE_PROJECT = Policy("write", ("project",))
OWN = Policy("read", ("view",))  # lists only the key's projects
NO_MERGE = (("merge_slashes", False),)
SERIES_ARGS = "?runs=ID,ID&key=K&x&x0&x1"

ROUTES: tuple[Route, ...] = (
    Route("static", "/static/<path:filename>", "static", PUBLIC, "The UI's CSS, scripts, icons."),
    Route("health.healthz", "/healthz", "health", PUBLIC, "Liveness, without touching the store."),
    Route("auth.login_form", "/login", "auth", PUBLIC, "The sign-in form (central server)."),
    Route("auth.login", "/login", "auth", PUBLIC, "Sign in with an API key.", ("POST",)),
    Route("auth.logout", "/logout", "auth", READ, "Sign out.", ("POST",)),
    _page("projects", "/", OWN, "api.projects", "Every project in the store.", "projects"),
    _page("runs", "/projects/<path:project>", PROJECT, "api.runs", "A project's runs.", "project"),
    _page(
        "compare",
        "/projects/<path:project>/compare",
        COMPARE,
        "api.compare",
        "Selected runs side by side.",
        "compare",
    ),
    _page("run", "/runs/<run_id>", RUN, "api.run", "One run.", "run"),
    _page(
        "workspace",
        "/projects/<path:project>/workspace",
        PROJECT,
        "api.workspace",
        "A project's workspace: panels, sections, saved views.",
        "workspace",
    ),
    _api("index", "/", READ, "What the API offers: each route with a one-line description."),
    _api("projects", "/projects", OWN, "Every project with its run counts.", js="api.projects"),
    _api(
        "runs",
        "/projects/<path:project>/runs",
        PROJECT,
        "A page of a project's runs table.",
        js="api.runs",
        query="?q&tag&state&where&sort&group_by&columns&page&per_page",
    ),
    _api(
        "compare",
        "/projects/<path:project>/compare",
        COMPARE,
        "Selected runs side by side.",
        js="api.compare",
        query="?runs=ID,ID",
    ),
    _api(
        "compare_media",
        "/projects/<path:project>/compare/media",
        COMPARE,
        "The compared runs' media keys; one key's items per run at the nearest step.",
        js="api.compareMedia",
        query="?runs=ID,ID&key&type&step",
    ),
    _api("run", "/runs/<run_id>", RUN, "One run: overview, config, summary, keys.", js="api.run"),
    _api(
        "history",
        "/runs/<run_id>/history",
        RUN,
        "A run's whole history as CSV or Parquet.",
        js="api.history",
        query="?format=csv|parquet&keys=K,K",
    ),
    _api(
        "series",
        "/series",
        RUNS,
        "Chart data on shared buckets.",
        js="api.series",
        query=SERIES_ARGS + "&buckets&group_by",
    ),
    _api(
        "charts_batch",
        "/charts",
        RUNS,
        "Several charts over the same runs in one reply (JSON or binary columns).",
        js="api.charts",
        key="charts",
        query="?runs=ID,ID&keys=K,K&x&x0&x1&buckets&group_by&format=json|bin",
    ),
    _api(
        "workspace",
        "/projects/<path:project>/workspace",
        PROJECT,
        "A project's workspace: keys, runs, saved views, the default view.",
        js="api.workspace",
    ),
    _api(
        "views",
        "/projects/<path:project>/views",
        PROJECT,
        "A project's saved workspace views.",
        js="api.views",
    ),
    _api(
        "get_view",
        "/projects/<path:project>/views/<name>",
        PROJECT,
        "One saved workspace view.",
        js="api.view",
        key="view",
    ),
    Route(
        "api.save_view",
        "/projects/<path:project>/views/<name>",
        "api",
        WRITE_PROJECT,
        "Save (create or replace) a workspace view.",
        ("PUT",),
        API_PREFIX,
        key="save_view",
    ),
    Route(
        "api.delete_view",
        "/projects/<path:project>/views/<name>",
        "api",
        WRITE_PROJECT,
        "Delete a saved workspace view.",
        ("DELETE",),
        API_PREFIX,
        key="delete_view",
    ),
    _api(
        "export_chart",
        "/export",
        RUNS,
        "A chart's points at full resolution.",
        js="api.exportChart",
        key="export",
        query=SERIES_ARGS + "&format=csv|parquet",
    ),
    _api("media", "/runs/<run_id>/media", RUN, "Every media key of the run.", js="api.media"),
    _api(
        "media_file",
        "/runs/<run_id>/media/<name>",
        RUN,
        "A media blob by its content name.",
        js="api.mediaFile",
        shown="/api/v1/runs/<run_id>/media/<sha256>.<ext>",
        options=NO_MERGE,
    ),
    _api(
        "table",
        "/runs/<run_id>/table",
        RUN,
        "One page of a logged table.",
        js="api.table",
        query="?key&step&offset&limit&sort&order&q",
    ),
    _api(
        "histograms",
        "/runs/<run_id>/histograms",
        RUN,
        "A key's histograms over steps.",
        js="api.histograms",
        query="?key&bins&max_steps",
    ),
    _api(
        "histogram",
        "/runs/<run_id>/histogram",
        RUN,
        "One step's histogram.",
        js="api.histogram",
        query="?key&step",
    ),
    _api(
        "chart",
        "/runs/<run_id>/chart",
        RUN,
        "A preset chart's columns (localtrack.plot).",
        js="api.chart",
        query="?key&step",
    ),
    _api(
        "cloud",
        "/runs/<run_id>/cloud/<name>",
        RUN,
        "A logged point cloud, downsampled for display.",
        js="api.cloud",
        query="?max_points",
    ),
    _api(
        "console",
        "/runs/<run_id>/console",
        RUN,
        "Lines of the run's console output.",
        js="api.console",
        query="?q&start&limit",
    ),
    _api(
        "environment",
        "/runs/<run_id>/environment",
        RUN,
        "Hardware, git, packages, diff.",
        js="api.environment",
    ),
    _api(
        "run_file",
        "/runs/<run_id>/files/<path:name>",
        RUN,
        "A file of the run's files/ folder to download (folders as in `outputs/notes.txt`).",
        js="api.runFile",
        options=NO_MERGE,
    ),
    _page(
        "artifacts",
        "/projects/<path:project>/artifacts",
        PROJECT,
        "api.artifacts",
        "A project's artifacts by type and name.",
        "artifacts",
    ),
    _page(
        "artifact",
        "/projects/<path:project>/artifacts/<name>",
        PROJECT,
        "api.artifact",
        "One artifact's versions.",
        "artifact",
    ),
    _page(
        "artifact_version",
        "/projects/<path:project>/artifacts/<name>/<version>",
        PROJECT,
        "api.artifact_version",
        "One artifact version: files, metadata, runs.",
        "artifactVersion",
    ),
    _page(
        "artifact_lineage",
        "/projects/<path:project>/artifacts/<name>/<version>/lineage",
        PROJECT,
        "api.artifact_lineage",
        "The lineage graph around an artifact version.",
        "artifactLineage",
    ),
    _api(
        "artifacts",
        "/projects/<path:project>/artifacts",
        PROJECT,
        "A project's artifact collections, grouped by type.",
        js="api.artifacts",
    ),
    _api(
        "artifact",
        "/projects/<path:project>/artifacts/<name>",
        PROJECT,
        "One artifact collection with every live version.",
        js="api.artifact",
    ),
    _api(
        "artifact_version",
        "/projects/<path:project>/artifacts/<name>/<version>",
        PROJECT,
        "One version: aliases, files, metadata, producer, consumers, alias moves.",
        js="api.artifactVersion",
    ),
    _api(
        "artifact_lineage",
        "/projects/<path:project>/artifacts/<name>/<version>/lineage",
        PROJECT,
        "Runs and artifact versions upstream and downstream of a version.",
        js="api.artifactLineage",
        query="?depth",
    ),
    _api(
        "artifact_file",
        "/projects/<path:project>/artifacts/<name>/<version>/file",
        PROJECT,
        "One file of a version (images and text inline, the rest as a download).",
        js="api.artifactFile",
        query="?path",
    ),
    _api(
        "artifact_preview",
        "/projects/<path:project>/artifacts/<name>/<version>/preview",
        PROJECT,
        "A file's preview: text, a Parquet table's first rows, or an image.",
        js="api.artifactPreview",
        query="?path",
    ),
    _api(
        "run_artifacts",
        "/runs/<run_id>/artifacts",
        RUN,
        "The artifact versions a run used and logged.",
        js="api.runArtifacts",
    ),
    _api("changes", "/changes", READ, "The change counter pages poll.", js="api.changes"),
    # localtrack.Api(base_url=…) reads and edits through these (webui/runapi.py, server/runedits.py)
    Route(
        "runapi.run_query",
        "/projects/<path:project>/run-query",
        "api",
        PROJECT,
        "A page of a project's runs with every field, filtered and ordered as Api().runs asks.",
        prefix=API_PREFIX,
        query="?filters=JSON&order&offset&limit",
    ),
    Route(
        "runapi.run_record",
        "/runs/<run_id>/record",
        "api",
        RUN,
        "One run with every field, config and summary.",
        prefix=API_PREFIX,
    ),
    Route(
        "runapi.history_page",
        "/runs/<run_id>/history-page",
        "api",
        RUN,
        "A page of steps of a run's history as Parquet (X-Localtrack-Next-Step: the next page).",
        prefix=API_PREFIX,
        query="?key=K&key=K&min_step&max_step&limit",
    ),
    Route(
        "runapi.series_data",
        "/runs/<run_id>/series-data",
        "api",
        RUN,
        "A key's per-bucket min/max/last as Parquet (what ApiRun.series returns).",
        prefix=API_PREFIX,
        query="?key=K&x&x0&x1&buckets",
    ),
    Route(
        "runapi.run_files",
        "/runs/<run_id>/files",
        "api",
        RUN,
        "The files of a run's files/ folder.",
        prefix=API_PREFIX,
    ),
    Route(
        "runedits.update_run",
        "/runs/<run_id>",
        "api",
        Policy("write", ("run",)),
        "Change a run's name, notes, tags, group, job_type, config or summary (server).",
        ("PATCH",),
        API_PREFIX,
        key="update_run",
    ),
    Route(
        "runedits.delete_run_view",
        "/runs/<run_id>",
        "api",
        Policy("admin", ("run",)),
        "Delete a run (server, admin key).",
        ("DELETE",),
        API_PREFIX,
        key="delete_run",
    ),
    _ingest("info", "/sync/info", "GET", READ, "What this server accepts (limits, version)."),
    _ingest(
        "negotiate", "/sync/negotiate", "POST", WRITE_OWN, "Which blobs of a run the server lacks."
    ),
    _ingest("put_blob", "/blobs/<sha256>", "PUT", WRITE, "Upload one blob."),
    _ingest("commit", "/sync/commit", "POST", WRITE_OWN, "Publish a run's uploaded files."),
    _ingest(
        "negotiate_artifacts",
        "/artifacts/negotiate",
        "POST",
        WRITE_OWN,
        "Which blobs of an artifact collection the server lacks.",
    ),
    _ingest(
        "commit_artifacts",
        "/artifacts/commit",
        "POST",
        WRITE_OWN,
        "Publish an artifact collection's versions, alias moves and uses.",
    ),
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
    _page("sweep", "/sweeps/<sweep_id>", OWN, "api.sweep_detail", "One sweep.", "sweep"),
    _api(
        "sweep_detail",
        "/sweeps/<sweep_id>",
        OWN,
        "One sweep: state, best, trials, importance (fANOVA), rungs.",
        js="api.sweep",
        key="sweep",
    ),
    _api(
        "sweeps", "/projects/<path:project>/sweeps", PROJECT, "A project's sweeps.", js="api.sweeps"
    ),
)
ADMIN_PROJECT = Policy("admin", ("project",))  # destinations make the server send requests
ALERTS: tuple[Route, ...] = (
    _page(
        "alerts",
        "/projects/<path:project>/alerts",
        PROJECT,
        "api.alerts",
        "A project's alert feed, rules and destinations.",
        "alerts",
    ),
    _api(
        "alerts",
        "/projects/<path:project>/alerts",
        PROJECT,
        "A project's alert feed (newest first, with delivery outcomes), rules and destinations.",
        js="api.alerts",
        query="?run=ID",
    ),
    _api(
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
    _api(
        "reports",
        "/projects/<path:project>/reports",
        PROJECT,
        "A project's reports.",
        js="api.reports",
    ),
    _api("report", REPORT, PROJECT, "One report's text and front matter.", js="api.report"),
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
    _api(
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
    _api(
        "report_export_view",
        REPORT + "/export",
        PROJECT,
        "A report as one self-contained HTML file.",
        js="api.reportExport",
        key="report_export",
    ),
)
ROUTES = ROUTES + SWEEP_CONTROLLER + SWEEP_UI + ALERTS + REPORTS

BY_ENDPOINT: dict[str, Route] = {r.endpoint: r for r in ROUTES}


def view(blueprint: Blueprint) -> Callable[[F], F]:
    """Register a view function at the rule its registry entry (``<blueprint>.<function>``)
    declares; a view without an entry is an error at import time."""

    def register(func: F) -> F:
        route = BY_ENDPOINT[f"{blueprint.name}.{func.__name__}"]
        blueprint.add_url_rule(
            route.rule, view_func=func, methods=list(route.methods), **dict(route.options)
        )
        return func

    return register


def api_index(routes: Iterable[Route] = ROUTES) -> dict[str, str]:
    """The /api/v1/ index: every API route but the index itself, with its arguments."""
    return {
        r.key or r.name: f"{' '.join(r.methods)} {r.shown or r.path}{r.query}"
        for r in routes
        if r.kind == "api" and r.endpoint != "api.index"
    }


def js_urls(routes: Iterable[Route] = ROUTES) -> dict[str, str]:
    """The URL templates the page scripts fill in (core.js ``LT.urls``): name → path."""
    return {r.js: r.path for r in routes if r.js}


def policies(routes: Iterable[Route] = ROUTES) -> dict[str, Policy]:
    """Endpoint → the policy it needs (``server.policies.POLICIES``)."""
    return {r.endpoint: r.policy for r in routes if r.policy is not None}


def problems(app: Flask, routes: Iterable[Route] = ROUTES) -> list[str]:
    """What is wrong between `app`'s URL map and the registry: a rule without an entry (or at
    another URL or method), an entry without a policy or doc, a page without an API twin."""
    table = {r.endpoint: r for r in routes}
    found = []
    for rule in app.url_map.iter_rules():
        route = table.get(rule.endpoint)
        methods = set(rule.methods or ()) - {"HEAD", "OPTIONS"}
        if route is None:
            found.append(f"{rule.rule} ({rule.endpoint}) is not in the route registry")
        elif route.full_rule != rule.rule or set(route.methods) != methods:
            found.append(
                f"{rule.endpoint}: the app has {rule.rule} {sorted(methods)}, "
                f"the registry {route.full_rule} {list(route.methods)}"
            )
    for route in table.values():
        if route.kind not in KINDS:
            found.append(f"{route.endpoint}: unknown kind {route.kind!r}")
        if route.policy is None:
            found.append(f"{route.endpoint} has no access policy")
        if not route.doc.strip():
            found.append(f"{route.endpoint} has no doc line")
        if route.kind == "page":
            twin = table.get(route.twin or "")
            if twin is None or twin.kind != "api":
                found.append(f"page {route.endpoint} has no JSON twin in /api/v1")
    return found


def _shape(path: str) -> str:
    return re.sub(r"<[^<>]+>(?:\.<[^<>]+>)*", "<>", path.split("?", 1)[0])


def doc_problems(markdown: str, routes: Iterable[Route] = ROUTES) -> list[str]:
    """Routes of the documented kinds without a ``### `METHOD path` `` heading in the API docs,
    and headings that name no such route."""
    headings = {
        f"{m} {_shape(p)}" for m, p in re.findall(r"^### `([A-Z]+) ([^`\s]+)", markdown, re.M)
    }
    declared = {
        f"{m} {_shape(r.path)}" for r in routes if r.kind in DOCUMENTED_KINDS for m in r.methods
    }
    missing = [f"{d} has no `### ` heading in docs/api.md" for d in sorted(declared - headings)]
    stale = [
        f"docs/api.md documents {h}, which no route serves" for h in sorted(headings - declared)
    ]
    return missing + stale


def check(app: Flask, markdown: str, routes: Iterable[Route] = ROUTES) -> list[str]:
    """Every problem ``problems`` and ``doc_problems`` find."""
    routes = list(routes)
    return problems(app, routes) + doc_problems(markdown, routes)
