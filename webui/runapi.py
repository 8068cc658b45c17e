"""The JSON routes ``localtrack.Api(base_url=…)`` reads through (docs/api.md, "Reading runs
from Python"): filtered run lists, one whole run, history pages, a bucketed series, a run's
file list.

Filters and orders are ``localtrack.store.runfilter``'s, the very module the local ``Api``
uses; history pages come from ``localtrack.store.historypage`` in bounded memory.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request

from localtrack.errors import UsageError
from localtrack.store.historypage import HistoryPager
from localtrack.store.runfilter import compile_filter, sort_runs
from localtrack.store.runjson import FIELDS, run_json
from localtrack.store.serieswire import series_to_parquet

from . import export
from .responses import conditional, json_response, ui_state
from .routes import view

runapi = Blueprint("runapi", __name__)
NEXT_STEP_HEADER = "X-Localtrack-Next-Step"
MAX_RUNS_PAGE = 1000
MAX_HISTORY_PAGE = 100_000
MAX_SERIES_BUCKETS = 100_000


def _int_arg(name: str, default: int | None, low: int, high: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"?{name} must be a whole number, not {raw!r}") from None
    if value < low or (high is not None and value > high):
        raise UsageError(f"?{name} must be between {low} and {high}, not {value}")
    return value


def full_run(reader: Any, run_id: str) -> dict[str, Any]:
    """Every field of a run, config and summary included (strict JSON)."""
    return run_json(reader.run(run_id), FIELDS)


@view(runapi)
@conditional
def run_query(project: str) -> Response:
    """A page of a project's runs, filtered and ordered as ``Api().runs`` asks."""
    raw = request.args.get("filters") or ""
    try:
        filters = json.loads(raw) if raw else None
    except ValueError as exc:
        raise UsageError(f"?filters is not JSON: {exc}") from None
    keep = compile_filter(filters)
    infos = [i for i in ui_state().reader.runs(project) if keep(i)]
    order = request.args.get("order")
    if order:
        infos = sort_runs(infos, order)
    offset = _int_arg("offset", 0, 0) or 0
    limit = _int_arg("limit", 200, 1, MAX_RUNS_PAGE) or 200
    page = infos[offset : offset + limit]
    after = offset + limit if offset + limit < len(infos) else None
    body = {"runs": [run_json(i, FIELDS) for i in page], "total": len(infos)}
    return json_response({**body, "offset": offset, "next_offset": after})


@view(runapi)
@conditional
def run_record(run_id: str) -> Response:
    """One run with every field, config and summary."""
    return json_response({"run": full_run(ui_state().reader, run_id)})


@view(runapi)
def history_page(run_id: str) -> Response:
    """Up to ?limit steps of a run's history from ?min_step, as Parquet; the next page's
    ?min_step in the X-Localtrack-Next-Step header (absent at the end)."""
    reader = ui_state().reader
    info = reader.run(run_id)
    keys: list[str] | None = request.args.getlist("key")
    if not keys and "keys" not in request.args:
        keys = None
    limit = _int_arg("limit", 1000, 1, MAX_HISTORY_PAGE) or 1000
    min_step = _int_arg("min_step", None, -(2**62))
    max_step = _int_arg("max_step", None, -(2**62))
    pager = HistoryPager(reader.store.run(info.id), keys)
    page = pager.page(min_step, max_step, limit)
    response = Response(export.serialise(page.table, "parquet"), mimetype=export.FORMATS["parquet"])
    if page.next_step is not None:
        response.headers[NEXT_STEP_HEADER] = str(page.next_step)
    if page.warnings:
        response.headers["X-Localtrack-Damage"] = str(len(page.warnings))
    response.headers["Cache-Control"] = "no-cache"
    return response


def _float_arg(name: str) -> float | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise UsageError(f"?{name} must be a number, not {raw!r}") from None


@view(runapi)
def series_data(run_id: str) -> Response:
    """A key's per-bucket min/max/last over [?x0, ?x1] on ?x, as ``ApiRun.series`` returns
    it (Parquet; ``localtrack.store.serieswire``)."""
    reader = ui_state().reader
    info = reader.run(run_id)
    key = request.args.get("key") or ""
    if not key:
        raise UsageError("give the metric as ?key=K (run.metric_keys() lists them)")
    buckets = _int_arg("buckets", None, 1, MAX_SERIES_BUCKETS)
    x = request.args.get("x") or None
    series = reader.series(info.id, key, _float_arg("x0"), _float_arg("x1"), buckets, x)
    response = Response(series_to_parquet(series), mimetype=export.FORMATS["parquet"])
    response.headers["Cache-Control"] = "no-cache"
    return response


@view(runapi)
@conditional
def run_files(run_id: str) -> Response:
    """The files of a run's files/ folder: name, size, modification time."""
    from localtrack.api.local import LocalBackend

    reader = ui_state().reader
    info = reader.run(run_id)
    files = LocalBackend(reader, lambda run, problems: None).files(info.id)
    data = [{"name": f.name, "size": f.size, "updated_at": f.updated_at} for f in files]
    return json_response({"run_id": info.id, "files": data})
