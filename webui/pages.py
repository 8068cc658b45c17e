"""The HTML pages. Each renders from the same view model as its /api/v1 twin; the page scripts
(static/js/) then keep it live by polling that twin with If-None-Match.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for

from . import views as models
from .responses import ui_state
from .routes import view
from .server.access import listing_options
from .server.auth import csrf_token

pages = Blueprint("pages", __name__)


def _render(template: str, page: str, **context: object) -> str:
    poll = current_app.config["LOCALTRACK_POLL_MS"]
    return render_template(template, page=page, poll_ms=poll, **context)


FIRST_CHARTS = 3  # = chart.js's FIRST: the charts of a page's first chart request, up to
FIRST_LINES = 60  # = chart.js's FIRST_LINES: lines (charts × runs) in it, and at least one chart


def first_count(runs: int) -> int:
    """How many charts a page's first chart request holds (chart.js's perRequest(FIRST, FIRST_LINES, runs)): a 100-run
    workspace asks for its first panel alone, which then paints while the rest are read."""
    return max(1, min(FIRST_CHARTS, FIRST_LINES // max(1, runs)))


FIRST_BUCKETS = 200  # what a chart card 380-449 px wide asks for (chart.js's Chart.buckets)


def first_charts(run_ids: Sequence[str], sections: Sequence[dict[str, Any]]) -> str | None:
    """The URL of a page's first chart request (its first charts, by section), which the page
    preloads from its <head>: the data the first screen shows is then asked for before the
    scripts that draw it have arrived. chart.js uses the preloaded reply when the request it
    would make is this one (same runs, keys and resolution), and asks for its own otherwise."""
    keys = [k for s in sections for k in s["keys"] if not k.startswith("system/")]
    keys = keys[: first_count(len(run_ids))]
    if not run_ids or not keys:
        return None
    runs = ",".join(run_ids)
    return url_for(
        "api.charts_batch",
        runs=runs,
        x="default",
        buckets=FIRST_BUCKETS,
        keys=",".join(keys),
        format="bin",
    )


@view(pages)
def projects() -> str:
    """Every project in the store, or how to log a first run when there is none."""
    return _render(
        "projects.html", "projects", view=models.projects_view(ui_state(), **listing_options())
    )


@view(pages)
def runs(project: str) -> str:
    """A project's runs table; rows, sorting and filtering come from the JSON twin."""
    from .sweep_models import project_sweeps

    records = models.project_records(ui_state(), project)
    sweeps = project_sweeps(ui_state(), project)
    return _render("runs.html", "runs", project=project, run_count=len(records), sweeps=sweeps)


@view(pages)
def compare(project: str) -> str:
    """Selected runs overlaid, with a config diff, parallel coordinates and a scatter plot."""
    run_ids = models.parse_run_ids(request.args.get("runs"))
    keys = models.parse_keys(request.args.get("keys"))
    etag = ui_state().etag()  # taken before the read, as responses.conditional does
    view = models.compare_view(ui_state(), project, run_ids, keys)
    first = first_charts([r["id"] for r in view["runs"]], view["sections"])
    return _render(
        "compare.html",
        "compare",
        project=project,
        view=view,
        run_ids=run_ids,
        etag=etag,
        first_charts=first,
    )


@view(pages)
def workspace(project: str) -> str:
    """A project's workspace: panels over its runs, sections by key prefix, saved views."""
    from .workspace_api import workspace_view

    data = workspace_view(project)
    etag = ui_state().etag()
    # the first panels of the workspace as it opens without a saved default view
    sections = [{"keys": sorted(s["keys"], key=data["keys"].index)} for s in data["sections"][:1]]
    first = None if data["view"] else first_charts([r["id"] for r in data["runs"]], sections)
    return _render(
        "workspace.html",
        "workspace",
        project=project,
        view=data,
        csrf=csrf_token(),
        etag=etag,
        first_charts=first,
    )


@view(pages)
def run(run_id: str) -> str:
    """One run: overview, config, summary, warnings, and a chart per metric key."""
    view = models.run_view(ui_state(), run_id)
    first = first_charts([view["run"]["id"]], view["sections"])
    return _render("run.html", "run", view=view, run=view["run"], first_charts=first)


from . import alert_pages, artifact_api, artifact_pages, sweep_pages  # noqa: E402,F401  (pages, JSON twins)
