"""Downloads: full-resolution chart data and run histories as CSV or Parquet.

The one place in the UI that touches pyarrow, and only to serialise what ``StoreReader`` returned
(points as numpy arrays, or the history table).
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from localtrack.errors import UsageError
from localtrack.store.reader import StoreReader

FORMATS = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"format must be csv or parquet, not {fmt!r}")
    return fmt


def safe_filename(*parts: str) -> str:
    """A download name made of letters, digits, '-', '_' and '.' only."""
    joined = "-".join(p for p in parts if p)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", joined).strip("._") or "data"


def serialise(table: pa.Table, fmt: str) -> bytes:
    """A table as CSV or Parquet bytes."""
    sink = io.BytesIO()
    if check_format(fmt) == "csv":
        pacsv.write_csv(table, sink)
    else:
        pq.write_table(table, sink)
    return sink.getvalue()


def chart_table(
    reader: StoreReader,
    run_ids: Sequence[str],
    names: Mapping[str, str],
    key: str,
    x: str = "step",
    x0: float | None = None,
    x1: float | None = None,
) -> pa.Table:
    """Every point of `key` for each run within [x0, x1] on the chart's x axis (long format)."""
    ids: list[str] = []
    run_names: list[str] = []
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for run_id in run_ids:
        px, py = reader.points(run_id, key, x)
        keep = np.ones(len(px), dtype=bool)
        if x0 is not None:
            keep &= px >= x0
        if x1 is not None:
            keep &= px <= x1
        full_id = reader.resolve_run_id(run_id)
        count = int(keep.sum())
        ids.extend([full_id] * count)
        run_names.extend([names.get(full_id, full_id)] * count)
        xs.append(px[keep])
        ys.append(py[keep])
    x_values = np.concatenate(xs) if xs else np.empty(0)
    if x == "step":
        x_array = pa.array(x_values.astype(np.int64))
    else:
        x_array = pa.array(x_values.astype(np.float64))
    value_name = key if key not in ("run_id", "run_name", x) else "value"
    return pa.table(
        {
            "run_id": pa.array(ids, type=pa.string()),
            "run_name": pa.array(run_names, type=pa.string()),
            x: x_array,
            value_name: pa.array(np.concatenate(ys) if ys else np.empty(0), type=pa.float64()),
        }
    )


def history_table(reader: StoreReader, run_id: str, keys: Sequence[str] | None) -> pa.Table:
    """A run's full history, one row per step (what ``StoreReader.history`` returns)."""
    return reader.history(run_id, list(keys) if keys else None)
