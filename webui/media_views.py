"""View models for a run's media: the index of its keys, one page of a table, histograms.

Everything is read through ``StoreReader`` (``media``, ``table_page``, ``histograms``). Blobs are
named to the browser by their file name only (``<sha256>.png``); the page fetches them from
``/api/v1/runs/<run_id>/media/<name>``, where ``StoreReader.media_file`` accepts nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from localtrack.errors import UsageError
from localtrack.store.reader import MediaItem, StoreReader

from .catalog import int_arg, json_value
from .charts import Y_DIGITS, floats

TYPE_ORDER = (
    "image", "video", "audio", "chart", "plotly", "object3d", "html", "table", "histogram",
)  # fmt: skip
BLOB_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "html": "text/html",
    "json": "application/json",
    "obj": "text/plain",
    "gltf": "model/gltf+json",
    "glb": "model/gltf-binary",
    "stl": "model/stl",
}
# A logged HTML page runs in a unique opaque origin: no scripts, no forms, no requests out, no
# access to the app (its frame has sandbox="" too); only inline styles and data: images.
HTML_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "frame-ancestors 'self'"
)


def sandbox(response: Any) -> None:
    """Headers for a logged HTML page: its own restrictive policy instead of the app's."""
    response.headers["Content-Security-Policy"] = HTML_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Content-Disposition"] = "inline"


_DIGITS = re.compile(r"(\d+)")
DEFAULT_TABLE_ROWS = 50
MAX_TABLE_ROWS = 500
DEFAULT_BINS = 64
MAX_BINS = 256
DEFAULT_HEATMAP_STEPS = 400
MAX_HEATMAP_STEPS = 2000


def required_key(args: Mapping[str, Any]) -> str:
    key = str(args.get("key") or "")
    if not key:
        raise UsageError("give the media key as ?key=NAME (GET …/media lists them)")
    return key


def natural(key: str) -> list[tuple[int, Any]]:
    """A sort key that puts layer2 before layer10."""
    return [(0, int(part)) if part.isdigit() else (1, part.lower()) for part in _DIGITS.split(key)]


def blob_name(file: str | None) -> str | None:
    """``media/blobs/<sha>.png`` → ``<sha>.png`` (the name the media route serves)."""
    return file.rsplit("/", 1)[-1] if file else None


_FIELDS = {
    "image": ("caption", "width", "height"),
    "table": ("rows", "columns"),
    "audio": ("caption", "format", "duration", "sample_rate", "channels"),
    "video": ("caption", "format", "duration", "fps", "frames", "width", "height"),
    "html": ("scripts",),
    "plotly": (),
    "object3d": ("caption", "format", "points", "boxes"),
    "chart": ("chart", "rows"),
}


def kind_of(item: MediaItem) -> str:
    """The UI's kind: a table drawn as a preset is a "chart"."""
    return "chart" if item.type == "table" and item.chart else item.type


def _item_json(item: MediaItem) -> dict[str, Any]:
    out: dict[str, Any] = {
        "step": item.step,
        "wall_time": item.wall_time,
        "file": blob_name(item.file),
    }
    for name in _FIELDS.get(kind_of(item), ()):
        value = getattr(item, name)
        out[name] = list(value) if isinstance(value, tuple) else value
    if item.count > 1 or item.index:
        out.update(index=item.index, count=item.count)
    return out


def media_index(reader: StoreReader, run_id: str) -> dict[str, Any]:
    """Every media key of a run with its type and the steps it was logged at.

    Images and tables list their items (caption, size, rows); histograms only their steps, since
    their bins come from ``/histograms``.
    """
    run = reader.run(run_id)
    by_key: dict[tuple[str, str], list[MediaItem]] = {}
    for item in reader.media(run.id):
        by_key.setdefault((kind_of(item), item.key), []).append(item)
    order = {t: i for i, t in enumerate(TYPE_ORDER)}
    keys = []
    ordered = sorted(by_key.items(), key=lambda e: (order.get(e[0][0], 9), natural(e[0][1])))
    for (kind, key), items in ordered:
        entry: dict[str, Any] = {
            "key": key,
            "type": kind,
            "count": len(items),
            "steps": sorted({i.step for i in items}),
        }
        if kind != "histogram":
            entry["items"] = [_item_json(i) for i in items]
            entry["gallery"] = any(i.count > 1 for i in items)
        keys.append(entry)
    counts = {t: sum(1 for k in keys if k["type"] == t) for t in TYPE_ORDER}
    counts = {t: n for t, n in counts.items() if n or t in ("image", "table", "histogram")}
    return {"run_id": run.id, "counts": counts, "keys": keys}


def table_view(reader: StoreReader, run_id: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """One page of a logged table, sorted, filtered and paged on the server."""
    run = reader.run(run_id)
    key = required_key(args)
    step = int_arg(args, "step", None, -(2**62), 2**62)
    offset = int_arg(args, "offset", 0, 0, 2**62)
    limit = int_arg(args, "limit", DEFAULT_TABLE_ROWS, 1, MAX_TABLE_ROWS)
    sort = str(args.get("sort") or "") or None
    order = str(args.get("order") or "asc")
    if order not in ("asc", "desc"):
        raise UsageError(f"order must be asc or desc, not {order!r}")
    search = str(args.get("q") or "").strip()
    page = reader.table_page(
        run.id, key, step, offset, limit, sort, order == "desc", search or None
    )
    images = set(page.image_columns)
    flags = [c in images for c in page.columns]
    rows = [
        [
            blob_name(v) if is_image else json_value(v)
            for v, is_image in zip(row, flags, strict=True)
        ]
        for row in page.rows
    ]
    return {
        "key": key,
        "step": page.step,
        "steps": list(page.steps),
        "columns": list(page.columns),
        "image_columns": list(page.image_columns),
        "rows": rows,
        "offset": page.offset,
        "limit": limit,
        "total_rows": page.total_rows,
        "all_rows": page.all_rows,
        "sort": sort,
        "order": order,
        "q": search,
    }


def histograms_view(reader: StoreReader, run_id: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """A key's histograms over steps on shared edges: the heatmap's data.

    With more steps than ``max_steps``, consecutive steps are merged (their counts summed) so the
    heatmap keeps one column per few pixels; ``step_from``/``steps`` give each column's range.
    """
    run = reader.run(run_id)
    key = required_key(args)
    bins = int_arg(args, "bins", DEFAULT_BINS, 1, MAX_BINS)
    max_steps = int_arg(args, "max_steps", DEFAULT_HEATMAP_STEPS, 1, MAX_HEATMAP_STEPS)
    series = reader.histograms(run.id, key, bins)
    steps = np.asarray(series.steps, dtype=np.int64)
    counts = np.asarray(series.counts, dtype=np.float64)
    n = len(steps)
    starts = np.arange(n)
    if n > max_steps:
        starts = np.unique(np.linspace(0, n, max_steps, endpoint=False).astype(np.int64))
        counts = np.add.reduceat(counts, starts, axis=0)
    ends = np.append(starts[1:], n) - 1
    return {
        "key": key,
        "bins": bins,
        "total_steps": n,
        "merged": bool(n > max_steps),
        "all_steps": steps.tolist(),
        "step_from": steps[starts].tolist(),
        "steps": steps[ends].tolist(),
        "edges": floats(series.edges, Y_DIGITS),
        "counts": [floats(row, Y_DIGITS) for row in counts],
    }


def histogram_view(reader: StoreReader, run_id: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """One histogram with its own bins, as logged (the latest step unless ``step`` is given)."""
    run = reader.run(run_id)
    key = required_key(args)
    step = int_arg(args, "step", None, -(2**62), 2**62)
    items = [i for i in reader.media(run.id, key) if i.type == "histogram"]
    if not items:
        raise UsageError(f"no histogram {key!r} in this run")
    chosen = items[-1] if step is None else next((i for i in items if i.step == step), None)
    if chosen is None:
        raise UsageError(f"histogram {key!r} was not logged at step {step}")
    return {
        "key": key,
        "step": chosen.step,
        "wall_time": chosen.wall_time,
        "edges": floats(np.asarray(chosen.edges), Y_DIGITS),
        "counts": floats(np.asarray(chosen.counts), Y_DIGITS),
    }


DEFAULT_CLOUD_POINTS = 100_000
MAX_CLOUD_POINTS = 1_000_000
CHART_BINS = 30


def chart_view(reader: StoreReader, run_id: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """A preset chart (localtrack.plot): its preset and columns; a histogram's bins computed here."""
    run = reader.run(run_id)
    key = required_key(args)
    step = int_arg(args, "step", None, -(2**62), 2**62)
    data = reader.chart(run.id, key, step)
    chart = dict(data.item.chart or {})
    columns = {name: [json_value(v) for v in values] for name, values in data.columns.items()}
    out: dict[str, Any] = {
        "key": key,
        "step": data.item.step,
        "steps": data.steps,
        "chart": chart,
        "columns": columns,
        "total_rows": data.total_rows,
    }
    if chart.get("preset") == "histogram":
        column = chart.get("fields", {}).get("value")
        values = np.asarray(
            [v for v in data.columns.get(column, []) if isinstance(v, (int, float))], dtype=float
        )
        values = values[np.isfinite(values)]
        if values.size:
            counts, edges = np.histogram(values, bins=CHART_BINS)
            out["bins"] = {"edges": floats(edges, Y_DIGITS), "counts": counts.tolist()}
        else:
            out["bins"] = {"edges": [], "counts": []}
    return out


def cloud_view(
    reader: StoreReader, run_id: str, name: str, args: Mapping[str, Any]
) -> dict[str, Any]:
    """A logged point cloud with at most ``max_points`` points (an even stride), boxes whole."""
    import json

    run = reader.run(run_id)
    limit = int_arg(args, "max_points", DEFAULT_CLOUD_POINTS, 1, MAX_CLOUD_POINTS)
    path = reader.media_file(run.id, name) if name.endswith(".json") else None
    if path is None:
        raise UsageError(f"run {run.id} has no point cloud {name!r}")
    document = json.loads(path.read_bytes())
    points = document.get("points") or []
    total = len(points)
    if total > limit:
        keep = np.linspace(0, total - 1, limit).astype(np.int64)
        points = [points[i] for i in keep]
    return {
        "total_points": total,
        "shown_points": len(points),
        "points": points,
        "boxes": document.get("boxes") or [],
        "vectors": document.get("vectors") or [],
    }
