"""The JSON API under /api/v1: a twin for every HTML page, plus chart data and downloads.

Every GET that reads the store is conditional (ETag / If-None-Match → 304). Errors use the one
envelope from ``responses.error_json``. Documented route by route in docs/api.md.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from . import catalog, charts, export, models
from .responses import conditional, json_response, ui_state

api = Blueprint("api", __name__)


@api.get("/")
def index() -> Response:
    """What the API offers: each route with a one-line description."""
    routes = {
        "projects": "GET /api/v1/projects",
        "runs": "GET /api/v1/projects/<project>/runs?q&tag&state&where&sort&group_by&columns&page&per_page",
        "compare": "GET /api/v1/projects/<project>/compare?runs=ID,ID",
        "run": "GET /api/v1/runs/<run_id>",
        "history": "GET /api/v1/runs/<run_id>/history?format=csv|parquet&keys=K,K",
        "series": "GET /api/v1/series?runs=ID,ID&key=K&x&x0&x1&buckets&group_by",
        "export": "GET /api/v1/export?runs=ID,ID&key=K&x&x0&x1&format=csv|parquet",
        "changes": "GET /api/v1/changes",
    }
    return json_response({"version": 1, "routes": routes})


@api.get("/projects")
@conditional
def projects() -> Response:
    return json_response(models.projects_view(ui_state()))


@api.get("/projects/<project>/runs")
@conditional
def runs(project: str) -> Response:
    return json_response(models.runs_view(ui_state(), project, request.args))


@api.get("/projects/<project>/compare")
@conditional
def compare(project: str) -> Response:
    run_ids = models.parse_run_ids(request.args.get("runs"))
    return json_response(models.compare_view(ui_state(), project, run_ids))


@api.get("/runs/<run_id>")
@conditional
def run(run_id: str) -> Response:
    return json_response(models.run_view(ui_state(), run_id))


def _names(run_ids: tuple[str, ...] | list[str]) -> dict[str, str]:
    reader = ui_state().reader
    return {reader.resolve_run_id(r): reader.run(r).name for r in run_ids}


def _groups(run_ids: tuple[str, ...], group_by: str) -> dict[str, str] | None:
    if not group_by:
        return None
    catalog.check_field(group_by)
    reader = ui_state().reader
    records = [catalog.make_record(reader.run(r)) for r in run_ids]
    return {rec.run.id: catalog.group_label(rec, group_by) for rec in records}


@api.get("/series")
@conditional
def series() -> Response:
    req = charts.SeriesRequest.from_args(request.args)
    groups = _groups(req.run_ids, str(request.args.get("group_by") or ""))
    data = charts.chart_data(ui_state().reader, req, _names(req.run_ids), groups)
    return json_response(data)


def _download(body: bytes, fmt: str, name: str) -> Response:
    response = Response(body, mimetype=export.FORMATS[fmt].split(";")[0])
    if fmt == "csv":
        response.headers["Content-Type"] = export.FORMATS["csv"]
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


@api.get("/export")
def export_chart() -> Response:
    """A chart's points at full resolution (long format: run_id, run_name, x, key)."""
    req = charts.SeriesRequest.from_args(request.args)
    fmt = export.check_format(str(request.args.get("format") or "csv"))
    reader = ui_state().reader
    table = export.chart_table(
        reader, req.run_ids, _names(req.run_ids), req.key, req.x, req.x0, req.x1
    )
    name = export.safe_filename(req.key, "by", req.x, f"{len(req.run_ids)}runs")
    return _download(export.serialise(table, fmt), fmt, name)


@api.get("/runs/<run_id>/history")
def history(run_id: str) -> Response:
    """One run's whole history, one row per step, as CSV or Parquet."""
    fmt = export.check_format(str(request.args.get("format") or "csv"))
    keys = [k for k in str(request.args.get("keys") or "").split(",") if k]
    reader = ui_state().reader
    info = reader.run(run_id)
    table = export.history_table(reader, info.id, keys or None)
    return _download(export.serialise(table, fmt), fmt, export.safe_filename(info.name, info.id))


@api.get("/changes")
def changes() -> Response:
    """The change counter pages poll; also says how the server is watching the store."""
    state = ui_state()
    counter, bucket = state.version()
    return json_response(
        {
            "etag": state.etag(),
            "counter": counter,
            "clock": bucket,
            "watching": state.feed.observer_kind if state.feed is not None else "off",
        }
    )
