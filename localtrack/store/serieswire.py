"""A ``Series`` as Parquet bytes and back: how a server hands a bucketed series to
``localtrack.Api(base_url=…)`` (``GET /api/v1/runs/<run_id>/series-data``).

Columns ``x``, ``min``, ``max``, ``last`` (float64) and ``count`` (int64), one row per bucket (or
point); the rest of the Series (key, x axis, edges, point counts, damage) travels as JSON in the
schema metadata under ``localtrack.series``. NaN and infinities survive, as Parquet keeps them.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import CorruptDataError
from .series import Series

META_KEY = b"localtrack.series"
COLUMNS = ("x", "min", "max", "last", "count")


def series_to_parquet(series: Series) -> bytes:
    """The Parquet bytes of `series`."""
    table = pa.table(
        {
            "x": pa.array(series.x, pa.float64()),
            "min": pa.array(series.min, pa.float64()),
            "max": pa.array(series.max, pa.float64()),
            "last": pa.array(series.last, pa.float64()),
            "count": pa.array(series.count, pa.int64()),
        }
    )
    meta = {
        "run_id": series.run_id,
        "key": series.key,
        "x_axis": series.x_axis,
        "edges": None if series.edges is None else [float(e) for e in series.edges],
        "total_points": series.total_points,
        "points_in_range": series.points_in_range,
        "warnings": list(series.warnings),
    }
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def series_from_parquet(data: bytes) -> Series:
    """The Series that `series_to_parquet` wrote; CorruptDataError when `data` is not one."""
    try:
        table = pq.read_table(pa.BufferReader(data))
        meta = json.loads((table.schema.metadata or {})[META_KEY])
        columns = {name: table.column(name).to_numpy() for name in COLUMNS}
        edges = meta["edges"]
        return Series(
            run_id=str(meta["run_id"]),
            key=str(meta["key"]),
            x_axis=str(meta["x_axis"]),
            x=columns["x"],
            min=columns["min"],
            max=columns["max"],
            last=columns["last"],
            count=columns["count"],
            edges=None if edges is None else np.asarray(edges, dtype=np.float64),
            total_points=int(meta["total_points"]),
            points_in_range=int(meta["points_in_range"]),
            warnings=tuple(str(w) for w in meta["warnings"]),
        )
    except (pa.ArrowException, KeyError, TypeError, ValueError) as exc:
        raise CorruptDataError(f"not a localtrack series reply: {exc}") from exc
