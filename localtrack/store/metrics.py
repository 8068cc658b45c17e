"""The long-format metrics table: one row per logged scalar, and the operations on it.

Columns: ``step`` int64, ``key`` string, ``value`` float64, ``wall_time`` timestamp[us, UTC].
Booleans and integers are stored as float64; each key's original kind ("bool", "int", "float") is
kept beside the data (Parquet metadata ``localtrack.dtypes``) and restored on read.
"""

from __future__ import annotations

import itertools
import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .keystats import DTYPE_RANK as DTYPE_RANK
from .keystats import KeyStats as KeyStats
from .keystats import Row as Row
from .keystats import merge_dtype as merge_dtype

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


def _key_pieces(rows: Iterable[Row]) -> dict[str, list[tuple[np.ndarray, ...]]]:
    """Group rows by their key set, then cut each group into per-key columns (vectorised)."""
    groups: dict[tuple[str, ...], tuple[list[int], list[float], list[int], list[object]]] = {}
    for seq, (step, wall, data) in enumerate(rows):
        keyset = tuple(data)
        group = groups.get(keyset)
        if group is None:
            group = groups[keyset] = ([], [], [], [])
        group[0].append(step)
        group[1].append(wall)
        group[2].append(seq)
        group[3].extend(data.values())
    pieces: dict[str, list[tuple[np.ndarray, ...]]] = {}
    for keyset, (steps, walls, seqs, values) in groups.items():
        step_arr = np.asarray(steps, dtype=np.int64)
        wall_arr = (np.asarray(walls, dtype=np.float64) * 1e6).astype(np.int64)
        seq_arr = np.asarray(seqs, dtype=np.int64)
        matrix = np.asarray(values, dtype=np.float64).reshape(len(steps), len(keyset))
        for j, key in enumerate(keyset):
            pieces.setdefault(key, []).append((step_arr, matrix[:, j], wall_arr, seq_arr))
    return pieces


def rows_to_table(rows: Iterable[Row]) -> pa.Table:
    """Turn logged rows into a long-format table sorted by (key, step), logging order among ties.

    Every table localtrack keeps (tail batches and shards alike) is sorted this way.
    """
    return pieces_to_table(_key_pieces(rows))


def pieces_to_table(pieces: Mapping[str, list[tuple[np.ndarray, ...]]]) -> pa.Table:
    """Per-key (steps, values, wall µs, logging order) pieces → a long table sorted by (key, step)."""
    keys = sorted(pieces)
    parts: list[tuple[np.ndarray, ...]] = []
    for key in keys:
        chunks = pieces[key]
        if len(chunks) == 1:
            steps, values, walls, _ = chunks[0]
            if len(steps) > 1 and np.any(steps[1:] < steps[:-1]):
                order = np.argsort(steps, kind="stable")
                steps, values, walls = steps[order], values[order], walls[order]
        else:
            steps, values, walls, seqs = (np.concatenate(c) for c in zip(*chunks, strict=True))
            order = np.lexsort((seqs, steps))
            steps, values, walls = steps[order], values[order], walls[order]
        parts.append((steps, values, walls))
    if not parts:
        return empty_table()
    lengths = np.fromiter((len(p[0]) for p in parts), dtype=np.int64, count=len(parts))
    codes = np.repeat(np.arange(len(keys), dtype=np.int32), lengths)
    key_column = pa.DictionaryArray.from_arrays(
        arrow_from_numpy(codes, pa.int32()), arrow_strings(keys)
    )
    return pa.table(
        [
            arrow_from_numpy(np.concatenate([p[0] for p in parts]), pa.int64()),
            key_column.cast(pa.string()),
            arrow_from_numpy(np.concatenate([p[1] for p in parts]), pa.float64()),
            arrow_from_numpy(np.concatenate([p[2] for p in parts]), WALL_TYPE),
        ],
        schema=SCHEMA,
    )


def arrow_from_numpy(
    values: np.ndarray, type_: pa.DataType, mask: np.ndarray | None = None
) -> pa.Array:
    """Wrap a numpy array as Arrow (True in `mask` = null), without pyarrow's lazy pandas import."""
    n = len(values)
    validity = None
    if mask is not None and mask.any():
        validity = pa.py_buffer(np.packbits(~np.asarray(mask, dtype=bool), bitorder="little"))
    if type_ == pa.bool_():
        bits = np.packbits(np.asarray(values, dtype=bool), bitorder="little")
        return pa.Array.from_buffers(type_, n, [validity, pa.py_buffer(bits)])
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(type_, n, [validity, pa.py_buffer(values)])


def arrow_strings(values: list[str]) -> pa.Array:
    """A string array built from buffers (pa.array() would import pandas on first use)."""
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    data = b"".join(encoded)
    return pa.Array.from_buffers(
        pa.string(), len(encoded), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


_NUMPY_TYPES = {
    pa.int64(): np.int64,
    pa.int32(): np.int32,
    pa.float64(): np.float64,
    pa.uint8(): np.uint8,
}


def to_numpy(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numpy view of a null-free numeric or boolean Arrow array.

    Reads the buffers directly: pyarrow's own to_numpy() imports pandas on first use, which
    costs a training process a noticeable pause.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    if pa.types.is_timestamp(array.type):
        array = array.view(pa.int64())
    n, offset = len(array), array.offset
    data = array.buffers()[1]
    if pa.types.is_boolean(array.type):
        if data is None:
            return np.zeros(n, dtype=bool)
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        return bits[offset : offset + n].astype(bool)
    dtype = _NUMPY_TYPES[array.type]
    if data is None:
        return np.zeros(n, dtype=dtype)
    return np.frombuffer(data, dtype=dtype, count=n, offset=offset * np.dtype(dtype).itemsize)


def numpy_bools(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean numpy array from an Arrow boolean result (nulls count as False)."""
    if array.null_count:
        array = pc.fill_null(array, False)
    return to_numpy(array)


def numpy_values(table: pa.Table, column: str) -> np.ndarray:
    """A numeric column as numpy (timestamps as int64 microseconds)."""
    return to_numpy(table.column(column))


def empty_table() -> pa.Table:
    return SCHEMA.empty_table()


def sort_by_key_step(table: pa.Table) -> pa.Table:
    """Sort by (key, step), keeping the existing order among equal pairs (a stable sort)."""
    if table.num_rows == 0:
        return table
    encoded = table.column("key").combine_chunks().dictionary_encode()
    dictionary = encoded.dictionary.to_pylist()
    rank = np.empty(len(dictionary), dtype=np.int64)
    rank[sorted(range(len(dictionary)), key=dictionary.__getitem__)] = np.arange(len(dictionary))
    key_rank = rank[to_numpy(encoded.indices)]
    order = np.lexsort((numpy_values(table, "step"), key_rank))
    return table.take(arrow_from_numpy(order, pa.int64()))


def drop_overwritten(table: pa.Table) -> pa.Table:
    """Keep only the last row of each (key, step) pair in a table sorted by (key, step).

    A step logged twice for the same key keeps the value logged later.
    """
    n = table.num_rows
    if n < 2:
        return table
    steps = numpy_values(table, "step")
    keys = table.column("key")
    same_step = steps[1:] == steps[:-1]
    if not same_step.any():
        return table
    same_key = numpy_bools(pc.equal(keys.slice(1), keys.slice(0, n - 1)))
    duplicate_of_next = np.append(same_step & same_key, False)
    if not duplicate_of_next.any():
        return table
    return table.filter(arrow_from_numpy(~duplicate_of_next, pa.bool_()))


def is_sorted_by_key_step(table: pa.Table) -> bool:
    """True when rows are already in (key, step) order."""
    n = table.num_rows
    if n < 2:
        return True
    keys = table.column("key")
    a, b = keys.slice(0, n - 1), keys.slice(1)
    if pc.any(pc.greater(a, b)).as_py():
        return False
    same_key = numpy_bools(pc.equal(a, b))
    steps = numpy_values(table, "step")
    return not bool(np.any(same_key & (steps[1:] < steps[:-1])))


def sort_rows(tables: list[pa.Table]) -> pa.Table:
    """Merge tables given in logging order into one sorted by (key, step), keeping every row."""
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return empty_table()
    table = pa.concat_tables(tables).combine_chunks() if len(tables) > 1 else tables[0]
    if len(tables) > 1:
        table = _interleave_by_key(tables, table)
    if not is_sorted_by_key_step(table):
        table = sort_by_key_step(table)
    return table


def _interleave_by_key(tables: list[pa.Table], joined: pa.Table) -> pa.Table:
    """Rows of tables that are each sorted by key, regrouped key by key in table order.

    When later tables hold later steps (the usual case) this is the (key, step) order at the cost
    of one take, not a sort; the caller checks and sorts when it is not.
    """
    ranges: dict[str, list[tuple[int, int]]] = {}
    offset = 0
    for table in tables:
        if is_sorted_by_key_step(table):
            names, starts, ends = _key_bounds(table)
            for name, start, end in zip(names, starts.tolist(), ends.tolist(), strict=True):
                ranges.setdefault(name, []).append((offset + start, offset + end))
        else:
            return joined
        offset += table.num_rows
    spans = [span for name in sorted(ranges) for span in ranges[name]]
    if all(a == b for (_, a), (b, _) in itertools.pairwise(spans)):
        return joined  # each key's rows already follow each other (one key, or shards in order)
    order = np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in spans])
    return joined.take(arrow_from_numpy(order, pa.int64()))


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


def exact_sum(values: np.ndarray) -> Fraction:
    """The exact sum of finite float64 values, independent of their order or grouping.

    Each value is mantissa × 2^exponent with an integer 53-bit mantissa; mantissas are summed
    per exponent in 21/16/16-bit slices, whose float64 sums stay exact (below 2^53) for up to
    2^31 values. So statistics rebuilt from differently grouped files (reindex) give
    bit-identical sums and means.
    """
    if len(values) == 0:
        return Fraction(0)
    mantissas, exponents = np.frexp(values)
    ints = (mantissas * float(2**53)).astype(np.int64)
    exponents = exponents.astype(np.int64) - 53
    low_exp = int(exponents.min())
    bins = exponents - low_exp
    low = ints & 0xFFFFFFFF
    slices = (
        (np.bincount(bins, weights=ints >> 32), 32),
        (np.bincount(bins, weights=low >> 16), 16),
        (np.bincount(bins, weights=low & 0xFFFF), 0),
    )
    total = Fraction(0)
    for k in np.flatnonzero(np.bincount(bins)).tolist():
        mantissa_sum = sum(int(sums[k]) << shift for sums, shift in slices)
        total += Fraction(mantissa_sum) * (Fraction(2) ** (k + low_exp))
    return total


def _opt_min(a: float | None, b: float) -> float:
    return b if a is None or b < a else a


def _opt_max(a: float | None, b: float) -> float:
    return b if a is None or b > a else a


def _key_bounds(table: pa.Table) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Names and [start, end) row ranges of each key in a table sorted by key."""
    keys = table.column("key").combine_chunks()
    n = len(keys)
    changes = numpy_bools(pc.not_equal(keys.slice(1), keys.slice(0, n - 1)))
    starts = np.flatnonzero(np.r_[True, changes])
    ends = np.r_[starts[1:], n]
    names = keys.take(arrow_from_numpy(starts, pa.int64())).to_pylist()
    return names, starts, ends


def update_stats(stats: dict[str, KeyStats], table: pa.Table, dtypes: Mapping[str, str]) -> None:
    """Fold a table sorted by (key, step) into per-key running statistics.

    Tables must be folded in logging order; `last` is the value at the highest step, the one
    logged last among equal steps.
    """
    if table.num_rows == 0:
        return
    if not is_sorted_by_key_step(table):  # a merged shard: several sorted runs
        table = sort_by_key_step(table)
    names, starts, ends = _key_bounds(table)
    values = numpy_values(table, "value")
    steps = numpy_values(table, "step")
    walls = numpy_values(table, "wall_time")
    finite_mask = np.isfinite(values)
    finite = np.where(finite_mask, values, np.nan)
    lows = np.fmin.reduceat(finite, starts)
    highs = np.fmax.reduceat(finite, starts)
    finite_counts = np.add.reduceat(finite_mask.astype(np.int64), starts)
    for i, name in enumerate(names):
        s = stats.get(name) or KeyStats()
        s.dtype = merge_dtype(s.dtype if s.count else None, dtypes.get(name, "float"))
        s.count += int(ends[i] - starts[i])
        if finite_counts[i]:
            s.min = _opt_min(s.min, float(lows[i]))
            s.max = _opt_max(s.max, float(highs[i]))
            chunk = values[starts[i] : ends[i]]
            base = s.exact_sum if s.exact_sum is not None else Fraction(s.sum)
            s.exact_sum = base + exact_sum(chunk[finite_mask[starts[i] : ends[i]]])
            s.sum = float(s.exact_sum)
            s.finite_count += int(finite_counts[i])
        last = ends[i] - 1
        top = int(steps[last])
        if s.max_step is None or top >= s.max_step:
            s.last = float(values[last])
            s.last_step = top
            s.last_wall = int(walls[last]) / 1e6
            s.max_step = top
        stats[name] = s
