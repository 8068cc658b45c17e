"""The JSON API under /api/v1: a twin for every HTML page, plus chart data and downloads.

Every GET that reads the store is conditional (ETag / If-None-Match → 304). Errors use the one
envelope from ``responses.error_json``. Documented route by route in docs/api.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, request, send_file

from localtrack.store.lru import SizedLRU

from . import catalog, chartbin, charts, export
from . import files_views as files_models
from . import media_views as media_models
from . import views as models
from .responses import conditional, conditional_data, error_json, json_response, ui_state
from .routes import api_index, view
from .server.access import listing_options

api = Blueprint("api", __name__)


@view(api)
def index() -> Response:
    """What the API offers: each route with a one-line description."""
    return json_response({"version": 1, "routes": api_index()})


@view(api)
@conditional
def projects() -> Response:
    return json_response(models.projects_view(ui_state(), **listing_options()))


@view(api)
@conditional
def runs(project: str) -> Response:
    return json_response(models.runs_view(ui_state(), project, request.args))


@view(api)
@conditional
def compare(project: str) -> Response:
    run_ids = models.parse_run_ids(request.args.get("runs"))
    keys = models.parse_keys(request.args.get("keys"))
    return json_response(models.compare_view(ui_state(), project, run_ids, keys))


@view(api)
@conditional
def run(run_id: str) -> Response:
    return json_response(models.run_view(ui_state(), run_id))


def _names(run_ids: tuple[str, ...] | list[str]) -> dict[str, str]:
    return {rid: info.name for rid, info in ui_state().run_infos(run_ids).items()}


def _groups(run_ids: tuple[str, ...], group_by: str) -> dict[str, str] | None:
    if not group_by:
        return None
    catalog.check_field(group_by)
    reader = ui_state().reader
    records = [catalog.make_record(reader.run(r)) for r in run_ids]
    return {rec.run.id: catalog.group_label(rec, group_by) for rec in records}


@view(api)
@conditional_data
def series() -> Response:
    req = charts.SeriesRequest.from_args(request.args)
    groups = _groups(req.run_ids, str(request.args.get("group_by") or ""))
    data = charts.chart_data(ui_state().reader, req, _names(req.run_ids), groups)
    return json_response(data)


REPLIES_KEPT_BYTES = 32 << 20  # binary chart replies kept (see _replies)


def _replies() -> SizedLRU:
    """Binary chart replies by (query, data ETag): a page opened again (a reload, another tab,
    another user) gets the charts the server computed since the data last changed without
    computing them again. The key is the ETag the 304s already trust (``conditional_data``)."""
    kept = current_app.extensions.get("localtrack.chart_replies")
    if kept is None:
        kept = current_app.extensions.setdefault(
            "localtrack.chart_replies", SizedLRU(REPLIES_KEPT_BYTES, len)
        )
    return kept


@view(api)
@conditional_data
def charts_batch() -> Response:
    """Several charts (keys) over the same runs in one reply: JSON, or binary columns."""
    reqs = charts.batch_requests(request.args)
    fmt = str(request.args.get("format") or "json")
    if fmt not in ("json", "bin"):
        return error_json(400, f"format must be json or bin, not {fmt!r}")
    if fmt == "json":
        return json_response({"charts": _batch(reqs, binary=False)})
    key = (request.query_string, ui_state().data_etag())
    body = _replies().get(key)
    if body is None:
        body = chartbin.pack(_batch(reqs, binary=True))
        _replies().put(key, body)
    return Response(body, mimetype=chartbin.MIMETYPE)


def _batch(reqs: list[charts.SeriesRequest], binary: bool) -> list[dict[str, Any]]:
    """The charts of a batch request, each run's files read once for all its keys."""
    groups = _groups(reqs[0].run_ids, str(request.args.get("group_by") or ""))
    infos = ui_state().run_infos(reqs[0].run_ids)
    names = {rid: info.name for rid, info in infos.items()}
    reader = ui_state().reader
    run_ids, keys, first = list(names), [req.key for req in reqs], reqs[0]
    if first.x == "default":
        axes = reader.default_axes(run_ids, keys, [info.meta for info in infos.values()])
    else:
        axes = dict.fromkeys(keys, first.x)
    series = reader.series_batch(run_ids, axes, first.x0, first.x1, first.buckets)
    return [charts.chart_data(reader, req, names, groups, binary, series[req.key]) for req in reqs]


def _download(body: bytes, fmt: str, name: str) -> Response:
    response = Response(body, mimetype=export.FORMATS[fmt].split(";")[0])
    if fmt == "csv":
        response.headers["Content-Type"] = export.FORMATS["csv"]
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


@view(api)
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


@view(api)
def history(run_id: str) -> Response:
    """One run's whole history, one row per step, as CSV or Parquet."""
    fmt = export.check_format(str(request.args.get("format") or "csv"))
    keys = [k for k in str(request.args.get("keys") or "").split(",") if k]
    reader = ui_state().reader
    info = reader.run(run_id)
    table = export.history_table(reader, info.id, keys or None)
    return _download(export.serialise(table, fmt), fmt, export.safe_filename(info.name, info.id))


@view(api)
def changes() -> Response:
    """The change counter pages poll; also says how the server is watching the store."""
    state = ui_state()
    counter, bucket = state.version()
    return json_response(
        {
            "etag": state.etag(),
            "data_etag": state.data_etag(),
            "counter": counter,
            "clock": bucket,
            "watching": state.feed.observer_kind if state.feed is not None else "off",
            "notifications": state.feed.notifications if state.feed is not None else None,
        }
    )


# -- media, console, environment ------------------------------------------------------------------

YEAR_S = 365 * 24 * 3600
BLOB_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "gif": "image/gif",
    "parquet": "application/vnd.apache.parquet",
    **media_models.BLOB_TYPES,
}


@view(api)
@conditional
def media(run_id: str) -> Response:
    """Every media key of the run: type, steps, and the items of images and tables."""
    return json_response(media_models.media_index(ui_state().reader, run_id))


def _not_there(run_id: str, stored_as: str, message: str) -> Response:
    """404 for a file a run does not hold; when the run's damage names it (a blob the object
    store lost), that line is the message, so the reader learns which run and file are damaged."""
    damage = [d for d in ui_state().reader.checked_damage(run_id) if d.startswith(stored_as + ":")]
    return error_json(404, f"run {run_id}: {damage[0]}" if damage else message)


@view(api)
def media_file(run_id: str, name: str) -> Response:
    """A media blob by its content-addressed name; cached for good, since it never changes."""
    reader = ui_state().reader
    info = reader.run(run_id)
    # a file on disk, or on a replica a large blob read by range from the object store (by its
    # sha256, which the name's pattern was checked for: no path of ours to escape from)
    source = reader.open_media(info.id, name)
    ext = name.rsplit(".", 1)[-1]
    if (
        source is None
        or ext not in BLOB_TYPES
        or (isinstance(source, Path) and not files_models.inside(source, reader.root))
    ):
        return _not_there(
            info.id, f"media/blobs/{name}", f"run {info.id} has no media file {name!r}"
        )
    response = send_file(
        source,
        mimetype=BLOB_TYPES[ext],
        as_attachment=ext == "parquet",
        download_name=export.safe_filename(info.name, name),
        conditional=isinstance(source, Path),
        etag=name.split(".", 1)[0],
        max_age=YEAR_S,
    )
    if not isinstance(source, Path):  # werkzeug cannot size a file object: Range/304 here
        response.content_length = source.size()
        response = response.make_conditional(
            request, accept_ranges=True, complete_length=source.size()
        )
    response.headers["Cache-Control"] = f"private, max-age={YEAR_S}, immutable"
    if ext == "html":
        media_models.sandbox(response)
    return response


@view(api)
@conditional
def table(run_id: str) -> Response:
    """One page of a logged table (sorted, filtered and paged here, not in the browser)."""
    return json_response(media_models.table_view(ui_state().reader, run_id, request.args))


@view(api)
@conditional
def histograms(run_id: str) -> Response:
    """A key's histograms over steps on shared edges (the heatmap)."""
    return json_response(media_models.histograms_view(ui_state().reader, run_id, request.args))


@view(api)
@conditional
def histogram(run_id: str) -> Response:
    """One step's histogram with the bins it was logged with."""
    return json_response(media_models.histogram_view(ui_state().reader, run_id, request.args))


@view(api)
@conditional
def console(run_id: str) -> Response:
    """Lines of the run's console output, searched on the server; the tail by default."""
    return json_response(files_models.console_view(ui_state().reader, run_id, request.args))


@view(api)
@conditional
def environment(run_id: str) -> Response:
    """Hardware, git, command line, Python, packages and the uncommitted diff."""
    return json_response(files_models.environment_view(ui_state().reader, run_id))


@view(api)
def run_file(run_id: str, name: str) -> Response:
    """A file of the run's files/ folder (output.log, requirements.txt, diff.patch, or a saved
    file in a folder: ``outputs/notes.txt``) to download."""
    reader = ui_state().reader
    info = reader.run(run_id)
    path = reader.run_file(info.id, name)
    if path is None or not files_models.inside(path, reader.root):
        return _not_there(info.id, f"files/{name}", f"run {info.id} has no file {name!r}")
    response = send_file(
        path,
        mimetype=files_models.file_type(name),
        as_attachment=True,
        download_name=export.safe_filename(info.name, info.id, name),
        conditional=True,
    )
    response.headers["Cache-Control"] = "no-cache"
    return response


from . import (  # noqa: E402  (these register routes on `api`, so come after it)
    alert_api,  # noqa: F401  (the alert feed, rules and test routes)
    compare_media_api,  # noqa: F401  (the compare page's media)
    media_api,  # noqa: F401  (the chart and cloud routes)
    report_api,  # noqa: F401  (the report pages and routes)
    workspace_api,  # noqa: F401  (the workspace routes)
)
