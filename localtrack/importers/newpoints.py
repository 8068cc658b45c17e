"""Which of a source's points a run already holds, so an import adds only what is new.

A point is its (step, wall time, value bits); a source may hold the same point twice, so the
comparison counts: the third copy of a point is new when the run holds two. Comparing whole
points (rather than "steps after the last one imported") keeps it right when a source gains
points in the middle (an MLflow metric logged late) and never drops a point the run holds.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..store.metrics import to_numpy
from .model import KeyPoints


def held_points(tables: Iterable[pa.Table]) -> dict[str, np.ndarray]:
    """The points a run holds, per key, as rows of (step, wall µs, value bits) int64."""
    parts: dict[str, list[np.ndarray]] = {}
    for table in tables:
        if not table.num_rows:
            continue
        keys = pc.dictionary_encode(table.column("key").combine_chunks())
        codes = to_numpy(keys.indices).astype(np.int64)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(keys.dictionary) + 1))
        rows = _rows(
            to_numpy(table.column("step"))[order],
            to_numpy(table.column("wall_time").cast(pa.int64()))[order],
            to_numpy(table.column("value"))[order],
        )
        for i, key in enumerate(keys.dictionary.to_pylist()):
            parts.setdefault(key, []).append(rows[bounds[i] : bounds[i + 1]])
    return {key: np.concatenate(chunks) for key, chunks in parts.items()}


def new_points(source: KeyPoints, held: np.ndarray | None) -> KeyPoints:
    """The points of `source` that `held` does not already hold (counting repeats)."""
    if held is None or not len(held):
        return source
    mine = _rows(source.steps, source.wall_us, source.values)
    if len(held) <= len(mine) and np.array_equal(mine[: len(held)], held):
        # The usual case, checked in one pass: the run holds the source's first points in
        # the source's order (a source that only grew), so the rest is what is new.
        return _subset(source, np.arange(len(held), len(mine)))
    fresh = ~np.isin(_numbered(mine), _numbered(held))
    if fresh.all():
        return source
    return _subset(source, fresh)


def _subset(source: KeyPoints, which: np.ndarray) -> KeyPoints:
    return KeyPoints(
        source.key, source.steps[which], source.values[which], source.wall_us[which], source.dtype
    )


def _rows(steps: np.ndarray, walls: np.ndarray, values: np.ndarray) -> np.ndarray:
    rows = np.empty((len(steps), 3), dtype=np.int64)
    rows[:, 0] = steps
    rows[:, 1] = walls
    rows[:, 2] = np.ascontiguousarray(values, dtype=np.float64).view(np.int64)
    return rows


def _numbered(rows: np.ndarray) -> np.ndarray:
    """Each row with its occurrence number among equal rows, as one comparable item."""
    order = np.lexsort(rows.T[::-1])
    ordered = rows[order]
    starts = np.ones(len(rows), dtype=bool)
    if len(rows) > 1:
        starts[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
    first = np.maximum.accumulate(np.where(starts, np.arange(len(rows)), 0))
    occurrence = np.empty(len(rows), dtype=np.int64)
    occurrence[order] = np.arange(len(rows)) - first
    out = np.empty((len(rows), 4), dtype=np.int64)
    out[:, :3] = rows
    out[:, 3] = occurrence
    return np.ascontiguousarray(out).view("V32").ravel()
