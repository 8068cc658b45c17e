"""The long-format metrics table: one row per logged scalar, and the operations on it.

Columns: ``step`` int64, ``key`` string, ``value`` float64, ``wall_time`` timestamp[us, UTC].
Booleans and integers are stored as float64; each key's original kind ("bool", "int", "float") is
kept beside the data (Parquet metadata ``localtrack.dtypes``) and restored on read.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

WALL_TYPE = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        pa.field("step", pa.int64(), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("value", pa.float64()),
        pa.field("wall_time", WALL_TYPE, nullable=False),
    ]
)
DTYPES_META = b"localtrack.dtypes"
_BATCH_PREFIX = struct.Struct("<Q")

DTYPE_RANK = {"bool": 0, "int": 1, "float": 2}

Row = tuple[int, float, Mapping[str, object]]  # (step, wall seconds, {key: value})


def merge_dtype(old: str | None, new: str) -> str:
    """The kind that holds both: bool < int < float."""
    if old is None or DTYPE_RANK.get(new, 2) > DTYPE_RANK.get(old, 2):
        return new
    return old


def rows_to_table(rows: Iterable[Row]) -> pa.Table:
    """Turn logged rows into a long-format table (in logging order)."""
    keys: list[str] = []
    values: list[object] = []
    steps: list[int] = []
    walls: list[float] = []
    for step, wall, data in rows:
        n = len(data)
        keys.extend(data)
        values.extend(data.values())
        steps.extend(repeat(step, n))
        walls.extend(repeat(wall, n))
    wall_us = (np.asarray(walls, dtype=np.float64) * 1e6).astype(np.int64)
    return pa.table(
        [
            pa.array(np.asarray(steps, dtype=np.int64)),
            pa.array(keys, type=pa.string()),
            pa.array(np.asarray(values, dtype=np.float64)),
            pa.array(wall_us).cast(WALL_TYPE),
        ],
        schema=SCHEMA,
    )


def empty_table() -> pa.Table:
    return SCHEMA.empty_table()


def sort_by_key_step(table: pa.Table) -> pa.Table:
    """Sort by (key, step), keeping logging order among equal pairs (a stable sort)."""
    if table.num_rows == 0:
        return table
    order = pc.sort_indices(table, sort_keys=[("key", "ascending"), ("step", "ascending")])
    return table.take(order)


def drop_overwritten(table: pa.Table) -> pa.Table:
    """Keep only the last row of each (key, step) pair in a table sorted by (key, step).

    A step logged twice for the same key keeps the value logged later.
    """
    n = table.num_rows
    if n < 2:
        return table
    steps = table.column("step").to_numpy()
    keys = table.column("key")
    same_step = steps[1:] == steps[:-1]
    if not same_step.any():
        return table
    same_key = pc.equal(keys.slice(1), keys.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    duplicate_of_next = np.append(same_step & same_key, False)
    if not duplicate_of_next.any():
        return table
    return table.filter(pa.array(~duplicate_of_next))


def is_sorted_by_key_step(table: pa.Table) -> bool:
    """True when rows are already in (key, step) order."""
    n = table.num_rows
    if n < 2:
        return True
    keys = table.column("key")
    a, b = keys.slice(0, n - 1), keys.slice(1)
    if pc.any(pc.greater(a, b)).as_py():
        return False
    same_key = pc.equal(a, b).to_numpy(zero_copy_only=False)
    steps = table.column("step").to_numpy()
    return not bool(np.any(same_key & (steps[1:] < steps[:-1])))


def sort_rows(tables: list[pa.Table]) -> pa.Table:
    """Concatenate tables given in logging order and sort by (key, step), keeping every row."""
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return empty_table()
    table = pa.concat_tables(tables).combine_chunks() if len(tables) > 1 else tables[0]
    if not is_sorted_by_key_step(table):
        table = sort_by_key_step(table)
    return table


def normalize(tables: list[pa.Table]) -> pa.Table:
    """What readers see: rows sorted by (key, step), a step logged twice keeping its later value.

    Shards keep every logged row (so statistics can be rebuilt exactly); overwrites are resolved
    here, on read.
    """
    return drop_overwritten(sort_rows(tables))


def encode_batch(batch_seq: int, table: pa.Table, dtypes: Mapping[str, str]) -> bytes:
    """Serialize a batch for the tail log: batch number + Arrow IPC stream with dtype metadata."""
    meta = {DTYPES_META: json.dumps(dict(dtypes)).encode()}
    table = table.replace_schema_metadata(meta)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    return _BATCH_PREFIX.pack(batch_seq) + sink.getvalue().to_pybytes()


@dataclass(frozen=True)
class DecodedBatch:
    batch_seq: int
    table: pa.Table
    dtypes: dict[str, str]


def decode_batch(payload: bytes) -> DecodedBatch:
    (batch_seq,) = _BATCH_PREFIX.unpack_from(payload)
    reader = pa.ipc.open_stream(pa.py_buffer(payload[_BATCH_PREFIX.size :]))
    table = reader.read_all()
    dtypes = dtypes_from_metadata(table.schema.metadata)
    return DecodedBatch(batch_seq, table.replace_schema_metadata(None), dtypes)


def dtypes_from_metadata(metadata: Mapping[bytes, bytes] | None) -> dict[str, str]:
    if not metadata or DTYPES_META not in metadata:
        return {}
    return dict(json.loads(metadata[DTYPES_META]))


@dataclass
class KeyStats:
    """Running statistics of one metric key; merged batch by batch."""

    dtype: str = "float"
    count: int = 0
    min: float | None = None
    max: float | None = None
    sum: float = 0.0
    finite_count: int = 0
    last: float | None = None  # the value at the highest step (logged last among equals)
    last_step: int | None = None
    max_step: int | None = None
    last_wall: float | None = None

    @property
    def mean(self) -> float | None:
        return self.sum / self.finite_count if self.finite_count else None

    def as_row(self) -> dict[str, object]:
        return {
            "dtype": self.dtype,
            "count": self.count,
            "min": self.min,
            "max": self.max,
            "sum": self.sum,
            "finite_count": self.finite_count,
            "last": self.last,
            "last_step": self.last_step,
            "max_step": self.max_step,
            "last_wall": self.last_wall,
        }


def _opt_min(a: float | None, b: float) -> float:
    return b if a is None or b < a else a


def _opt_max(a: float | None, b: float) -> float:
    return b if a is None or b > a else a


def update_stats(stats: dict[str, KeyStats], table: pa.Table, dtypes: Mapping[str, str]) -> None:
    """Fold a batch (rows in logging order) into per-key running statistics."""
    if table.num_rows == 0:
        return
    encoded = table.column("key").combine_chunks().dictionary_encode()
    codes = encoded.indices.to_numpy()
    names = encoded.dictionary.to_pylist()
    values = table.column("value").to_numpy(zero_copy_only=False)
    steps = table.column("step").to_numpy()
    walls = table.column("wall_time").cast(pa.int64()).to_numpy()
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    ends = np.r_[starts[1:], len(order)]
    for start, end in zip(starts, ends, strict=False):
        idx = order[start:end]
        name = names[sorted_codes[start]]
        vals = values[idx]
        finite = vals[np.isfinite(vals)]
        s = stats.get(name) or KeyStats()
        s.dtype = merge_dtype(s.dtype if s.count else None, dtypes.get(name, "float"))
        s.count += len(idx)
        if len(finite):
            s.min = _opt_min(s.min, float(finite.min()))
            s.max = _opt_max(s.max, float(finite.max()))
            s.sum += float(finite.sum())
            s.finite_count += len(finite)
        key_steps = steps[idx]
        top = int(key_steps.max())
        if s.max_step is None or top >= s.max_step:
            last = idx[np.flatnonzero(key_steps == top)[-1]]
            s.last = float(values[last])
            s.last_step = top
            s.last_wall = int(walls[last]) / 1e6
            s.max_step = top
        stats[name] = s
