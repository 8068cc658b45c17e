"""Bucketing a metric series for charts: per bucket min, max, last, on shared edges.

A chart asks for N buckets over [x0, x1]; every run of the chart is bucketed on the same edges,
so the results line up on one x array. Min and max are kept per bucket, so a spike is never
hidden by sampling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .metrics import arrow_strings, numpy_bools, numpy_values

BUILTIN_X = ("step", "wall_time", "relative_time")


@dataclass(frozen=True)
class Series:
    """A (possibly bucketed) series: one entry per non-empty bucket, or per point when raw."""

    run_id: str
    key: str
    x_axis: str
    x: np.ndarray  # bucket centre (bucketed) or the point's own x (raw)
    min: np.ndarray
    max: np.ndarray
    last: np.ndarray
    count: np.ndarray  # points in each bucket
    edges: np.ndarray | None  # bucket edges (len buckets + 1), None when raw
    total_points: int  # points the key has over its whole range
    points_in_range: int  # points between x0 and x1
    warnings: tuple[str, ...] = ()  # damage left out of this read (a damaged shard, a torn tail)

    @property
    def damaged(self) -> bool:
        return bool(self.warnings)

    @property
    def bucketed(self) -> bool:
        return self.edges is not None

    @property
    def shown_points(self) -> int:
        return len(self.x)


def make_edges(x0: float, x1: float, buckets: int) -> np.ndarray:
    """Evenly spaced bucket edges over [x0, x1]; a zero-width range gets a width of 1."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    if not x1 > x0:
        x1 = x0 + 1
    return np.linspace(float(x0), float(x1), buckets + 1)


def bucketize(
    run_id: str,
    key: str,
    x_axis: str,
    xs: np.ndarray,
    ys: np.ndarray,
    x0: float | None = None,
    x1: float | None = None,
    buckets: int | None = None,
    edges: np.ndarray | None = None,
) -> Series:
    """Cut (xs, ys) to [x0, x1] and reduce it to per-bucket min/max/last.

    With neither `buckets` nor `edges`, or when no more points are in range than buckets, the
    points come back as they are. NaN values count as points but are ignored by min and max;
    a bucket's `last` is its last point's value, whatever it is.
    """
    total = len(xs)
    if len(xs) and np.any(xs[1:] < xs[:-1]):
        order = np.argsort(xs, kind="stable")
        xs, ys = xs[order], ys[order]
    if edges is not None:
        x0 = float(edges[0]) if x0 is None else x0
        x1 = float(edges[-1]) if x1 is None else x1
    lo = 0 if x0 is None else int(np.searchsorted(xs, x0, side="left"))
    hi = len(xs) if x1 is None else int(np.searchsorted(xs, x1, side="right"))
    xs, ys = xs[lo:hi], ys[lo:hi]
    n = len(xs)
    if n == 0 or (edges is None and (buckets is None or n <= buckets)):
        return Series(
            run_id, key, x_axis, xs, ys, ys, ys, np.ones(n, dtype=np.int64), None, total, n
        )
    if edges is None:
        edges = make_edges(float(xs[0]), float(xs[-1]), int(buckets or 1))
    # xs is sorted: each bucket's first point is found by a binary search per edge
    bounds = np.searchsorted(xs, edges, side="left")
    bounds[-1] = n
    bounds = np.maximum.accumulate(np.clip(bounds, 0, n))
    nonempty = np.flatnonzero(bounds[1:] > bounds[:-1])
    starts = bounds[nonempty]
    ends = bounds[nonempty + 1]
    finite = np.where(np.isfinite(ys), ys, np.nan)
    lows = np.fmin.reduceat(finite, starts)
    highs = np.fmax.reduceat(finite, starts)
    centres = (edges[nonempty] + edges[nonempty + 1]) / 2
    return Series(
        run_id,
        key,
        x_axis,
        centres,
        lows,
        highs,
        ys[ends - 1],
        (ends - starts).astype(np.int64),
        edges,
        total,
        n,
    )


def points_of(
    table: pa.Table, key: str, x: str, start: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One key's points from a normalized long table as (x, y) arrays sorted by x.

    x is step, wall_time, relative_time (seconds since `start`, else since the first point) or
    another metric key, whose latest value at or before each point's step is its x.
    """
    # the key as an Arrow scalar: a Python str would make pyarrow import pandas (~1 s, once)
    is_key = numpy_bools(pc.equal(table.column("key"), arrow_strings([key])[0]))
    steps = numpy_values(table, "step")
    values = numpy_values(table, "value")
    ys = values[is_key]
    if x == "step":
        return steps[is_key].astype(np.float64), ys
    if x in ("wall_time", "relative_time"):
        walls = numpy_values(table, "wall_time")[is_key] / 1e6
        if x == "relative_time":
            walls = walls - (start or (walls.min() if len(walls) else 0.0))
        order = np.argsort(walls, kind="stable")
        return walls[order], ys[order]
    return _align_on_metric(steps, values, is_key, ys)


def _align_on_metric(
    steps: np.ndarray, values: np.ndarray, is_key: np.ndarray, ys: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pair each point of a key with the x metric's latest value at or before its step."""
    x_is = ~is_key
    x_steps, x_vals = steps[x_is], values[x_is]
    key_steps = steps[is_key]
    if len(x_steps) == 0:
        return np.empty(0), np.empty(0)
    order = np.argsort(x_steps, kind="stable")
    x_steps, x_vals = x_steps[order], x_vals[order]
    pos = np.searchsorted(x_steps, key_steps, side="right") - 1
    ok = pos >= 0
    xs = x_vals[pos[ok]]
    ys = ys[ok]
    sort = np.argsort(xs, kind="stable")
    return xs[sort], ys[sort]


def bucket_runs(
    loaded: Sequence[tuple[str, np.ndarray, np.ndarray, Sequence[str]]],
    key: str,
    axis: str,
    x0: float | None,
    x1: float | None,
    buckets: int,
) -> list[Series]:
    """Several runs' (run_id, xs, ys, damage) of one key bucketed on the same edges, so their
    buckets line up (raw points when all of them together fit in `buckets`)."""
    lo = x0 if x0 is not None else min((xs[0] for _, xs, _, _ in loaded if len(xs)), default=0)
    hi = x1 if x1 is not None else max((xs[-1] for _, xs, _, _ in loaded if len(xs)), default=1)
    in_range = sum(int(np.count_nonzero((xs >= lo) & (xs <= hi))) for _, xs, _, _ in loaded)
    edges = make_edges(lo, hi, buckets) if in_range > buckets else None
    return [
        replace(
            bucketize(rid, key, axis, xs, ys, lo, hi, None if edges is None else buckets, edges),
            warnings=tuple(damage),
        )
        for rid, xs, ys, damage in loaded
    ]
