"""A live run's key statistics from memory: what is written, plus what is not written yet.

``run.summary`` reads these on the training thread instead of waiting for the writer to flush
(and fsync) the rows it holds; the values are the same as after a flush.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import pyarrow as pa

from .badrows import rows_to_table_isolating
from .metrics import KeyStats, Row, merge_dtype, update_stats
from .segments import blocks_to_table, scan
from .segwriter import TailSegments


def undecoded_tables(segs: TailSegments) -> tuple[list[pa.Table], dict[str, str]]:
    """The rows of the mapped tail that the writer has not decoded (and counted) yet, and their
    kinds. Call it holding the writer's stats lock, on the thread that appends the rows."""
    tables: list[pa.Table] = []
    dtypes: dict[str, str] = {}
    for chunk in list(segs.chunks):
        if chunk.pos > chunk.decoded:
            found = scan(chunk.buf, chunk.decoded, chunk.pos, list(segs.keysets), verify=False)
            table, kinds = blocks_to_table(found.blocks)
            tables.append(table)
            for key, kind in kinds.items():
                dtypes[key] = merge_dtype(dtypes.get(key), kind)
    return tables, dtypes


def stats_with_unwritten(
    stats: Mapping[str, KeyStats],
    pending: Sequence[pa.Table],
    rows: Sequence[Row],
    dtypes: Mapping[str, str],
) -> dict[str, KeyStats]:
    """`stats` (of counted rows) with the `pending` tables (in logging order) and the queued
    `rows` folded in; `stats` itself is left as it is."""
    tables = [t for t in pending if t.num_rows]
    if rows:
        table, _ = rows_to_table_isolating(rows)  # the writer reports what it drops
        if table.num_rows:
            tables.append(table)
    out = dict(stats)
    if not tables:
        return out
    touched: set[str] = set()
    for table in tables:
        touched.update(table.column("key").unique().to_pylist())
    for key in touched & out.keys():
        out[key] = copy.copy(out[key])  # update_stats changes entries in place
    for table in tables:
        update_stats(out, table, dtypes)
    return out
