"""CSV and Parquet tables of metric points → runs.

Columns (names as written, case-insensitive):

==============  ===========================================================================
``step``        integer, required
``key``         the metric's name (``metric``, ``name`` and ``tag`` work too)
``value``       number or bool; an empty cell is a row not imported (counted)
``timestamp``   optional: Unix seconds, or a date-time (``wall_time``, ``time`` work too);
                without it every point's wall time is 0 (the Unix epoch)
``run``         optional: one run per distinct value; without it one run per file
==============  ===========================================================================

Without a ``key`` column the table is wide: every other column is a key (``step,loss,acc``).

A run's identity is the file's absolute path (and its ``run`` value), so importing the file
again, or a longer version of it, adds only the rows that are new. Rows that cannot be parsed
(a CSV line with too many cells) are skipped and counted as damage.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ImportSourceError
from ..store.metrics import to_numpy
from .model import ImportReport, KeyPoints, SourceRun

ALIASES = {
    "step": ("step", "_step", "iteration"),
    "key": ("key", "metric", "name", "tag"),
    "value": ("value", "val"),
    "timestamp": ("timestamp", "wall_time", "time"),
    "run": ("run", "run_id", "run_name"),
}


def read_runs(path: Path, report: ImportReport, source: str = "csv") -> Iterator[SourceRun]:
    """One run per file (or per ``run`` value) of the tables at `path`."""
    suffix = ".csv" if source == "csv" else ".parquet"
    if path.is_file():
        files = [path]
    else:
        files = [f for f in sorted(path.rglob(f"*{suffix}")) if not _in_a_store(f, path)]
    if not files:
        raise ImportSourceError(f"no {suffix} files at {path}")
    for file in files:
        try:
            table, skipped = _read_table(file, source)
        except (OSError, pa.ArrowException) as exc:
            report.damage.append(f"{file}: not readable, skipped ({exc})")
            continue
        if skipped:
            report.damage.append(f"{file}: {skipped} malformed rows skipped")
        yield from _runs_of(file, table, report, source)


def _in_a_store(file: Path, top: Path) -> bool:
    """Whether `file` belongs to a localtrack store below `top` (its shards are no source)."""
    for folder in file.parents:
        if (folder / "localtrack.json").is_file():
            return True
        if folder == top:
            return False
    return False


def _read_table(file: Path, source: str) -> tuple[pa.Table, int]:
    if source == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(file), 0
    import pyarrow.csv as csv

    skipped = [0]

    def skip(_row: object) -> str:
        skipped[0] += 1
        return "skip"

    table = csv.read_csv(file, parse_options=csv.ParseOptions(invalid_row_handler=skip))
    return table, skipped[0]


def _column(
    table: pa.Table, role: str, file: Path, required: bool = True
) -> pa.ChunkedArray | None:
    names = {name.lower(): name for name in table.column_names}
    for alias in ALIASES[role]:
        if alias in names:
            return table.column(names[alias])
    if required:
        raise ImportSourceError(
            f"{file} has no {role!r} column (its columns: {', '.join(table.column_names)}); "
            "a table needs step, key and value"
        )
    return None


def _column_name(table: pa.Table, role: str) -> str | None:
    names = {name.lower(): name for name in table.column_names}
    return next((names[a] for a in ALIASES[role] if a in names), None)


def _runs_of(file: Path, table: pa.Table, report: ImportReport, source: str) -> Iterator[SourceRun]:
    runs = _column(table, "run", file, required=False)
    if runs is None:
        yield _one_run(file, table, str(file.resolve()), file.stem, source)
        return
    for value in pc.unique(runs.cast(pa.string())).to_pylist():
        part = table.filter(pc.equal(runs.cast(pa.string()), value))
        yield _one_run(file, part, f"{file.resolve()}#{value}", str(value), source)


def _one_run(file: Path, table: pa.Table, source_id: str, name: str, source: str) -> SourceRun:
    run = SourceRun(source=source, source_id=source_id, location=str(file), name=name)
    steps = _column(table, "step", file)
    assert steps is not None
    if not pa.types.is_integer(steps.type):
        raise ImportSourceError(f"{file}: the step column must hold integers, not {steps.type}")
    walls = _wall_us(_column(table, "timestamp", file, required=False), len(table), file)
    stepped = pc.is_valid(steps)
    if pc.sum(pc.invert(stepped)).as_py():
        run.unmapped[f"{source}: rows without a step"] += pc.sum(pc.invert(stepped)).as_py()
    step_arr = to_numpy(steps.cast(pa.int64()).fill_null(0))
    keys = _column(table, "key", file, required=False)
    if keys is None:  # a wide table: one column per key
        roles = {_column_name(table, role) for role in ("step", "timestamp", "run")}
        for column_name in table.column_names:
            if column_name not in roles:
                column = table.column(column_name)
                _add_key(run, source, column_name, column, stepped, step_arr, walls)
        return run
    values = _column(table, "value", file)
    assert values is not None
    key_arr = keys.cast(pa.string())
    for key in pc.unique(key_arr).to_pylist():
        if key is not None:
            rows = pc.fill_null(pc.equal(key_arr, key), False)
            _add_key(run, source, str(key), values, pc.and_(stepped, rows), step_arr, walls)
    return run


def _add_key(
    run: SourceRun,
    source: str,
    key: str,
    values: pa.ChunkedArray,
    rows: pa.ChunkedArray,
    step_arr: np.ndarray,
    walls: np.ndarray,
) -> None:
    """The points of `key`: `values` at the `rows` that hold one."""
    dtype = _kind(values.type)
    if dtype is None:
        run.unmapped[f"{source}: non-numeric values ({values.type})"] += pc.sum(rows).as_py() or 0
        return
    present = pc.and_(rows, pc.is_valid(values))
    missing = (pc.sum(rows).as_py() or 0) - (pc.sum(present).as_py() or 0)
    if missing:
        run.unmapped[f"{source}: rows without a value"] += missing
    mask = to_numpy(present)
    value_arr = to_numpy(values.cast(pa.float64()).fill_null(0.0))
    run.metrics.append(KeyPoints(key, step_arr[mask], value_arr[mask], walls[mask], dtype))


def _kind(type_: pa.DataType) -> str | None:
    if pa.types.is_boolean(type_):
        return "bool"
    if pa.types.is_integer(type_):
        return "int"
    if pa.types.is_floating(type_) or pa.types.is_null(type_):
        return "float"
    return None


def _wall_us(column: pa.ChunkedArray | None, rows: int, file: Path) -> np.ndarray:
    if column is None:
        return np.zeros(rows, dtype=np.int64)
    if pa.types.is_timestamp(column.type):
        micros = column.cast(pa.timestamp("us", tz=column.type.tz)).cast(pa.int64())
        return to_numpy(micros.fill_null(0))
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        seconds = to_numpy(column.cast(pa.float64()).fill_null(0.0))
        return (seconds * 1e6).astype(np.int64)  # truncated, as the store keeps its own
    raise ImportSourceError(
        f"{file}: the timestamp column must hold Unix seconds or date-times, not {column.type}"
    )
