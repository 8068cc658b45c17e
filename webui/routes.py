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
from typing import Any, TypeVar

from flask import Blueprint, Flask

from .route_model import (
    API_PREFIX,
    COMPARE,
    DOCUMENTED_KINDS,
    KINDS,
    NO_MERGE,
    OWN,
    PROJECT,
    PUBLIC,
    READ,
    RUN,
    RUNS,
    SERIES_ARGS,
    WRITE_PROJECT,
    Policy,
    Route,
    api_route,
    page_route,
)
from .routes_clients import CLIENT_API, SYNC_INGEST
from .routes_features import ALERTS, AUDIT, REPORTS, SWEEP_CONTROLLER, SWEEP_UI

__all__ = ["API_PREFIX", "PUBLIC", "Policy", "Route"]

F = TypeVar("F", bound=Callable[..., Any])

ROUTES: tuple[Route, ...] = (
    Route("static", "/static/<path:filename>", "static", PUBLIC, "The UI's CSS, scripts, icons."),
    Route(
        "bundles.scripts",
        "/bundle.js",
        "static",
        PUBLIC,
        "Several of the UI's scripts as one file, in the order given (?f=js/core.js,js/chart.js).",
    ),
    Route("health.healthz", "/healthz", "health", PUBLIC, "Liveness, without touching the store."),
    Route("auth.login_form", "/login", "auth", PUBLIC, "The sign-in form (central server)."),
    Route("auth.login", "/login", "auth", PUBLIC, "Sign in with an API key.", ("POST",)),
    Route("auth.logout", "/logout", "auth", READ, "Sign out.", ("POST",)),
    page_route("projects", "/", OWN, "api.projects", "Every project in the store.", "projects"),
    page_route(
        "runs", "/projects/<path:project>", PROJECT, "api.runs", "A project's runs.", "project"
    ),
    page_route(
        "compare",
        "/projects/<path:project>/compare",
        COMPARE,
        "api.compare",
        "Selected runs side by side.",
        "compare",
    ),
    page_route("run", "/runs/<run_id>", RUN, "api.run", "One run.", "run"),
    page_route(
        "workspace",
        "/projects/<path:project>/workspace",
        PROJECT,
        "api.workspace",
        "A project's workspace: panels, sections, saved views.",
        "workspace",
    ),
    api_route("index", "/", READ, "What the API offers: each route with a one-line description."),
    api_route(
        "projects", "/projects", OWN, "Every project with its run counts.", js="api.projects"
    ),
    api_route(
        "runs",
        "/projects/<path:project>/runs",
        PROJECT,
        "A page of a project's runs table.",
        js="api.runs",
        query="?q&tag&state&where&sort&group_by&columns&page&per_page",
    ),
    api_route(
        "compare",
        "/projects/<path:project>/compare",
        COMPARE,
        "Selected runs side by side.",
        js="api.compare",
        query="?runs=ID,ID",
    ),
    api_route(
        "compare_media",
        "/projects/<path:project>/compare/media",
        COMPARE,
        "The compared runs' media keys; one key's items per run at the nearest step.",
        js="api.compareMedia",
        query="?runs=ID,ID&key&type&step",
    ),
    api_route(
        "run", "/runs/<run_id>", RUN, "One run: overview, config, summary, keys.", js="api.run"
    ),
    api_route(
        "history",
        "/runs/<run_id>/history",
        RUN,
        "A run's whole history as CSV or Parquet.",
        js="api.history",
        query="?format=csv|parquet&keys=K,K",
    ),
    api_route(
        "series",
        "/series",
        RUNS,
        "Chart data on shared buckets.",
        js="api.series",
        query=SERIES_ARGS + "&buckets&group_by",
    ),
    api_route(
        "charts_batch",
        "/charts",
        RUNS,
        "Several charts over the same runs in one reply (JSON or binary columns).",
        js="api.charts",
        key="charts",
        query="?runs=ID,ID&keys=K,K&x&x0&x1&buckets&group_by&format=json|bin",
    ),
    api_route(
        "workspace",
        "/projects/<path:project>/workspace",
        PROJECT,
        "A project's workspace: keys, runs, saved views, the default view.",
        js="api.workspace",
    ),
    api_route(
        "views",
        "/projects/<path:project>/views",
        PROJECT,
        "A project's saved workspace views.",
        js="api.views",
    ),
    api_route(
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
    api_route(
        "export_chart",
        "/export",
        RUNS,
        "A chart's points at full resolution.",
        js="api.exportChart",
        key="export",
        query=SERIES_ARGS + "&format=csv|parquet",
    ),
    api_route("media", "/runs/<run_id>/media", RUN, "Every media key of the run.", js="api.media"),
    api_route(
        "media_file",
        "/runs/<run_id>/media/<name>",
        RUN,
        "A media blob by its content name.",
        js="api.mediaFile",
        shown="/api/v1/runs/<run_id>/media/<sha256>.<ext>",
        options=NO_MERGE,
    ),
    api_route(
        "table",
        "/runs/<run_id>/table",
        RUN,
        "One page of a logged table.",
        js="api.table",
        query="?key&step&offset&limit&sort&order&q",
    ),
    api_route(
        "histograms",
        "/runs/<run_id>/histograms",
        RUN,
        "A key's histograms over steps.",
        js="api.histograms",
        query="?key&bins&max_steps",
    ),
    api_route(
        "histogram",
        "/runs/<run_id>/histogram",
        RUN,
        "One step's histogram.",
        js="api.histogram",
        query="?key&step",
    ),
    api_route(
        "chart",
        "/runs/<run_id>/chart",
        RUN,
        "A preset chart's columns (localtrack.plot).",
        js="api.chart",
        query="?key&step",
    ),
    api_route(
        "cloud",
        "/runs/<run_id>/cloud/<name>",
        RUN,
        "A logged point cloud, downsampled for display.",
        js="api.cloud",
        query="?max_points",
    ),
    api_route(
        "console",
        "/runs/<run_id>/console",
        RUN,
        "Lines of the run's console output.",
        js="api.console",
        query="?q&start&limit",
    ),
    api_route(
        "environment",
        "/runs/<run_id>/environment",
        RUN,
        "Hardware, git, packages, diff.",
        js="api.environment",
    ),
    api_route(
        "run_file",
        "/runs/<run_id>/files/<path:name>",
        RUN,
        "A file of the run's files/ folder to download (folders as in `outputs/notes.txt`).",
        js="api.runFile",
        options=NO_MERGE,
    ),
    page_route(
        "artifacts",
        "/projects/<path:project>/artifacts",
        PROJECT,
        "api.artifacts",
        "A project's artifacts by type and name.",
        "artifacts",
    ),
    page_route(
        "artifact",
        "/projects/<path:project>/artifacts/<name>",
        PROJECT,
        "api.artifact",
        "One artifact's versions.",
        "artifact",
    ),
    page_route(
        "artifact_version",
        "/projects/<path:project>/artifacts/<name>/<version>",
        PROJECT,
        "api.artifact_version",
        "One artifact version: files, metadata, runs.",
        "artifactVersion",
    ),
    page_route(
        "artifact_lineage",
        "/projects/<path:project>/artifacts/<name>/<version>/lineage",
        PROJECT,
        "api.artifact_lineage",
        "The lineage graph around an artifact version.",
        "artifactLineage",
    ),
    api_route(
        "artifacts",
        "/projects/<path:project>/artifacts",
        PROJECT,
        "A project's artifact collections, grouped by type.",
        js="api.artifacts",
    ),
    api_route(
        "artifact",
        "/projects/<path:project>/artifacts/<name>",
        PROJECT,
        "One artifact collection with every live version.",
        js="api.artifact",
    ),
    api_route(
        "artifact_version",
        "/projects/<path:project>/artifacts/<name>/<version>",
        PROJECT,
        "One version: aliases, files, metadata, producer, consumers, alias moves.",
        js="api.artifactVersion",
    ),
    api_route(
        "artifact_lineage",
        "/projects/<path:project>/artifacts/<name>/<version>/lineage",
        PROJECT,
        "Runs and artifact versions upstream and downstream of a version.",
        js="api.artifactLineage",
        query="?depth",
    ),
    api_route(
        "artifact_file",
        "/projects/<path:project>/artifacts/<name>/<version>/file",
        PROJECT,
        "One file of a version (images and text inline, the rest as a download).",
        js="api.artifactFile",
        query="?path",
    ),
    api_route(
        "artifact_preview",
        "/projects/<path:project>/artifacts/<name>/<version>/preview",
        PROJECT,
        "A file's preview: text, a Parquet table's first rows, or an image.",
        js="api.artifactPreview",
        query="?path",
    ),
    api_route(
        "run_artifacts",
        "/runs/<run_id>/artifacts",
        RUN,
        "The artifact versions a run used and logged.",
        js="api.runArtifacts",
    ),
    api_route("changes", "/changes", READ, "The change counter pages poll.", js="api.changes"),
)
ROUTES = ROUTES + CLIENT_API + SYNC_INGEST + SWEEP_CONTROLLER + SWEEP_UI + ALERTS + REPORTS + AUDIT

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
