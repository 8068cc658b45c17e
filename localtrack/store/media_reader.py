"""Reading a run's media back: items by key, table pages, histograms over steps."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import CorruptDataError, UsageError
from .layout import RunPaths
from .limits import check_table
from .lru import SizedLRU
from .media import blob_path, media_dir, read_media

IMAGE_COLUMNS_META = b"localtrack.image_columns"


@dataclass(frozen=True)
class MediaItem:
    """One logged media item (image, table, histogram, audio, video, html, plotly, object3d).

    Items of a gallery (a list logged under one key) carry their ``index`` and the list's
    ``count``; a table drawn as a preset chart carries its ``chart``."""

    key: str
    step: int
    wall_time: float
    type: str
    file: str | None = None
    sha256: str | None = None
    caption: str | None = None
    width: int | None = None
    height: int | None = None
    rows: int | None = None
    columns: tuple[str, ...] = ()
    edges: tuple[float, ...] = ()
    counts: tuple[float, ...] = ()
    format: str | None = None
    duration: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    fps: float | None = None
    frames: int | None = None
    points: int | None = None
    boxes: int | None = None
    scripts: bool = False
    index: int = 0
    count: int = 1
    chart: dict[str, Any] | None = field(default=None, hash=False, compare=False)


def _item(record: dict[str, Any]) -> MediaItem:
    return MediaItem(
        key=str(record["key"]),
        step=int(record["step"]),
        wall_time=float(record["wall_time"]),
        type=str(record["type"]),
        file=record.get("file"),
        sha256=record.get("sha256"),
        caption=record.get("caption"),
        width=record.get("width"),
        height=record.get("height"),
        rows=record.get("rows"),
        columns=tuple(record.get("columns") or ()),
        edges=tuple(record.get("edges") or ()),
        counts=tuple(record.get("counts") or ()),
        format=record.get("format"),
        duration=record.get("duration"),
        sample_rate=record.get("sample_rate"),
        channels=record.get("channels"),
        fps=record.get("fps"),
        frames=record.get("frames"),
        points=record.get("points"),
        boxes=record.get("boxes"),
        scripts=bool(record.get("scripts")),
        index=int(record.get("index") or 0),
        count=int(record.get("count") or 1),
        chart=record.get("chart") if isinstance(record.get("chart"), dict) else None,
    )


_ITEMS_CACHE = SizedLRU(256)  # parsed media logs of recently read runs
_TABLE_CACHE = SizedLRU(256 * 1024 * 1024, lambda table: table.nbytes)  # blobs never change


def _log_version(paths: RunPaths) -> tuple:
    directory = media_dir(paths)
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except FileNotFoundError:
        return ()
    return tuple(
        (e.name, e.stat().st_size, e.stat().st_mtime_ns)
        for e in entries
        if e.name.endswith(".jsonl")
    )


def _all_items(paths: RunPaths) -> list[MediaItem]:
    """Every media item of a run, parsed once per version of its media logs."""
    cache_key = (str(paths.dir), _log_version(paths))
    cached = _ITEMS_CACHE.get(cache_key)
    if cached is not None:
        return cached
    latest: dict[tuple[str, int, int], MediaItem] = {}
    for record in read_media(paths):
        try:
            item = _item(record)
        except (KeyError, TypeError, ValueError):
            continue
        if item.index == 0:  # a step logged again replaces the whole gallery
            for i in range(1, _gallery_size(latest, item)):
                latest.pop((item.key, item.step, i), None)
        latest[(item.key, item.step, item.index)] = item
    items = [latest[k] for k in sorted(latest)]
    _ITEMS_CACHE.put(cache_key, items)
    return items


def _gallery_size(latest: dict[tuple[str, int, int], MediaItem], item: MediaItem) -> int:
    old = latest.get((item.key, item.step, 0))
    return old.count if old is not None else 0


def media_items(paths: RunPaths, key: str | None = None) -> list[MediaItem]:
    """Media of a run in (key, step, index) order; a step logged twice keeps its later items."""
    items = _all_items(paths)
    return items if key is None else [i for i in items if i.key == key]


def media_keys(paths: RunPaths) -> dict[str, str]:
    """Each media key and its type."""
    return {item.key: item.type for item in media_items(paths)}


@dataclass(frozen=True)
class TablePage:
    columns: list[str]
    image_columns: list[str]
    rows: list[list[Any]]
    total_rows: int  # rows matching the filter
    offset: int
    step: int
    all_rows: int = 0
    steps: list[int] = field(default_factory=list)


def _table_item(paths: RunPaths, key: str, step: int | None) -> tuple[MediaItem, list[int]]:
    items = [i for i in media_items(paths, key) if i.type == "table"]
    if not items:
        raise UsageError(f"no table {key!r} in this run")
    steps = [i.step for i in items]
    chosen = items[-1] if step is None else next((i for i in items if i.step == step), None)
    if chosen is None:
        raise UsageError(f"table {key!r} was not logged at step {step}; it was at steps {steps}")
    return chosen, steps


def _read_table(paths: RunPaths, item: MediaItem) -> pa.Table:
    key = item.key
    path = blob_path(paths, (item.file or "").rsplit("/", 1)[-1])
    if path is None:
        raise CorruptDataError(
            f"table {key!r} at step {item.step}: its file {item.file} is missing"
        )
    table = _TABLE_CACHE.get(str(path))
    if table is None:
        # a table may have come from a client: measured from its footer before it is decoded
        check_table(f"table {key!r} at step {item.step}", path)
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            raise CorruptDataError(f"table {key!r} at step {item.step} is damaged: {exc}") from exc
        _TABLE_CACHE.put(str(path), table)
    return table


MAX_CHART_ROWS = 200_000


@dataclass(frozen=True)
class ChartData:
    """A preset chart: its item, the steps it was logged at, and its columns (as lists)."""

    item: MediaItem
    steps: list[int]
    columns: dict[str, list[Any]]
    total_rows: int


def chart_data(paths: RunPaths, key: str, step: int | None = None) -> ChartData:
    """A preset chart's table, whole up to MAX_CHART_ROWS rows."""
    item, steps = _table_item(paths, key, step)
    if item.chart is None:
        raise UsageError(f"table {key!r} is not a preset chart")
    table = _read_table(paths, item)
    head = table.slice(0, MAX_CHART_ROWS)
    columns = {name: head.column(name).to_pylist() for name in head.column_names}
    return ChartData(item, steps, columns, table.num_rows)


def table_page(
    paths: RunPaths,
    key: str,
    step: int | None = None,
    offset: int = 0,
    limit: int = 50,
    sort: str | None = None,
    descending: bool = False,
    search: str | None = None,
) -> TablePage:
    """One page of a logged table, sorted and filtered on the server."""
    item, steps = _table_item(paths, key, step)
    table = _read_table(paths, item)
    meta = table.schema.metadata or {}
    import json

    image_columns = json.loads(meta.get(IMAGE_COLUMNS_META, b"[]"))
    all_rows = table.num_rows
    if search:
        masks = [
            pc.match_substring(pc.cast(table.column(c), pa.string()), search, ignore_case=True)
            for c in table.column_names
            if c not in image_columns
        ]
        if masks:
            mask = masks[0]
            for m in masks[1:]:
                mask = pc.or_(mask, m)
            table = table.filter(pc.fill_null(mask, False))
    if sort is not None:
        if sort not in table.column_names:
            raise UsageError(f"table {key!r} has no column {sort!r}")
        order = "descending" if descending else "ascending"
        table = table.take(pc.sort_indices(table, [(sort, order)]))  # nulls sort last
    offset, limit = max(0, int(offset)), max(1, min(int(limit), 1000))
    rows = table.slice(offset, limit).to_pylist()
    return TablePage(
        columns=table.column_names,
        image_columns=image_columns,
        rows=[[r[c] for c in table.column_names] for r in rows],
        total_rows=table.num_rows,
        offset=offset,
        step=item.step,
        all_rows=all_rows,
        steps=steps,
    )


@dataclass(frozen=True)
class HistogramSeries:
    """Histograms of one key over steps, re-binned onto shared edges (for a heatmap)."""

    key: str
    steps: np.ndarray
    edges: np.ndarray
    counts: np.ndarray  # shape (len(steps), len(edges) - 1)


def histogram_series(paths: RunPaths, key: str, bins: int = 64) -> HistogramSeries:
    items = [i for i in media_items(paths, key) if i.type == "histogram"]
    if not items:
        raise UsageError(f"no histogram {key!r} in this run")
    lo = min(i.edges[0] for i in items)
    hi = max(i.edges[-1] for i in items)
    edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
    counts = np.zeros((len(items), bins))
    for row, item in enumerate(items):
        centres = (np.asarray(item.edges[:-1]) + np.asarray(item.edges[1:])) / 2
        idx = np.clip(np.searchsorted(edges, centres, side="right") - 1, 0, bins - 1)
        np.add.at(counts[row], idx, np.asarray(item.counts))
    return HistogramSeries(key, np.array([i.step for i in items]), edges, counts)
