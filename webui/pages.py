"""The HTML pages. Each renders from the same view model as its /api/v1 twin; the page scripts
(static/js/) then keep it live by polling that twin with If-None-Match.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from . import views as models
from .responses import ui_state
from .routes import view
from .server.access import listing_options
from .server.auth import csrf_token

pages = Blueprint("pages", __name__)


def _render(template: str, page: str, **context: object) -> str:
    poll = current_app.config["LOCALTRACK_POLL_MS"]
    return render_template(template, page=page, poll_ms=poll, **context)


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
    return _render(
        "compare.html", "compare", project=project, view=view, run_ids=run_ids, etag=etag
    )


@view(pages)
def workspace(project: str) -> str:
    """A project's workspace: panels over its runs, sections by key prefix, saved views."""
    from .workspace_api import workspace_view

    data = workspace_view(project)
    etag = ui_state().etag()
    return _render(
        "workspace.html", "workspace", project=project, view=data, csrf=csrf_token(), etag=etag
    )


@view(pages)
def run(run_id: str) -> str:
    """One run: overview, config, summary, warnings, and a chart per metric key."""
    view = models.run_view(ui_state(), run_id)
    return _render("run.html", "run", view=view, run=view["run"])


from . import alert_pages, artifact_api, artifact_pages, sweep_pages  # noqa: E402,F401  (pages, JSON twins)
