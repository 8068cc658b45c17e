"""Chart data: series of one key for several runs, aligned on one shared x array for uPlot.

``StoreReader.series_many`` buckets every run on the same edges, keeping only each run's non-empty
buckets; here they are laid onto the union of their x values (null where a run has no point), which
is the one-x-array shape uPlot draws fastest. Group means (mean line, min/max band over the runs of
a group) are computed on that same grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from localtrack.errors import UsageError
from localtrack.store.reader import StoreReader
from localtrack.store.series import Series

DEFAULT_BUCKETS = 1000
MAX_BUCKETS = 4000
MAX_RUNS = 200


@dataclass(frozen=True)
class SeriesRequest:
    """What a chart asks for; built from query arguments by ``from_args``."""

    run_ids: tuple[str, ...]
    key: str
    x: str = "step"
    x0: float | None = None
    x1: float | None = None
    buckets: int = DEFAULT_BUCKETS

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> SeriesRequest:
        runs = tuple(dict.fromkeys(r for r in str(args.get("runs") or "").split(",") if r))
        key = str(args.get("key") or "")
        if not runs or not key:
            raise UsageError("give ?runs=ID,ID&key=METRIC (and optionally x, x0, x1, buckets)")
        if len(runs) > MAX_RUNS:
            raise UsageError(f"a chart can hold at most {MAX_RUNS} runs, not {len(runs)}")
        x = str(args.get("x") or "step")
        x0, x1 = _float_arg(args, "x0"), _float_arg(args, "x1")
        if x0 is not None and x1 is not None and x1 < x0:
            raise UsageError(f"x1 ({x1}) must not be less than x0 ({x0})")
        buckets = _float_arg(args, "buckets")
        if buckets is None:
            buckets = DEFAULT_BUCKETS
        if not (buckets == int(buckets) and 1 <= buckets <= MAX_BUCKETS):
            raise UsageError(f"buckets must be a whole number from 1 to {MAX_BUCKETS}")
        return cls(runs, key, x, x0, x1, int(buckets))


MAX_KEYS = 64


def batch_requests(args: Mapping[str, Any]) -> list[SeriesRequest]:
    """One ``SeriesRequest`` per key of ``?runs=…&keys=K,K&…`` (the other arguments shared)."""
    keys = list(dict.fromkeys(k for k in str(args.get("keys") or "").split(",") if k))
    if not keys:
        raise UsageError("give ?runs=ID,ID&keys=METRIC,METRIC (and optionally x, buckets)")
    if len(keys) > MAX_KEYS:
        raise UsageError(f"one request can hold at most {MAX_KEYS} charts, not {len(keys)}")
    base = dict(args)
    return [SeriesRequest.from_args({**base, "key": key}) for key in keys]


def _float_arg(args: Mapping[str, Any], name: str) -> float | None:
    raw = args.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(str(raw))
    except ValueError:
        raise UsageError(f"{name} must be a number, not {raw!r}") from None
    if not math.isfinite(value):
        raise UsageError(f"{name} must be a finite number, not {raw!r}")
    return value


Y_DIGITS = 6  # significant digits sent for y values: what the legend shows; downloads keep all


def significant(values: np.ndarray, digits: int = Y_DIGITS) -> np.ndarray:
    """Round to `digits` significant digits, so each number's JSON text is short and fast to write.

    k / 10**p and k * 10**p are correctly rounded, so the result is the double nearest to the
    short decimal and prints as that decimal.
    """
    out = np.array(values, dtype=np.float64)
    idx = np.flatnonzero(np.isfinite(out) & (out != 0))
    power = (digits - 1) - np.floor(np.log10(np.abs(out[idx]))).astype(np.int64)
    fine = np.abs(power) <= 22  # 10**p is exact up to 22; tinier or huger values stay as they are
    idx, power = idx[fine], power[fine]
    scale = 10.0 ** np.abs(power)
    up = power >= 0
    v = out[idx]
    v[up] = np.round(v[up] * scale[up]) / scale[up]
    v[~up] = np.round(v[~up] / scale[~up]) * scale[~up]
    out[idx] = v
    return out


def floats(values: np.ndarray, digits: int | None = None) -> list[float | None]:
    """A float array as a JSON-ready list (optionally rounded): NaN and infinities become null."""
    arr = np.asarray(values, dtype=np.float64)
    if digits is not None:
        arr = significant(arr, digits)
    out: list[float | None] = arr.tolist()
    bad = np.flatnonzero(~np.isfinite(arr))
    for i in bad.tolist():
        out[i] = None
    return out


def _as_array(values: np.ndarray, digits: int | None = None) -> np.ndarray:
    """A column kept as float64 (for the binary body, which has its own precision)."""
    return np.asarray(values, dtype=np.float64)


def _grid(series: Sequence[Series]) -> np.ndarray:
    parts = [s.x for s in series if len(s.x)]
    if not parts:
        return np.empty(0)
    # sort-based unique: numpy's default (hash-based) unique is far slower on large grids
    ordered = np.sort(np.concatenate(parts))
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]]


def _place(grid: np.ndarray, s: Series, values: np.ndarray) -> np.ndarray:
    out = np.full(len(grid), np.nan)
    if len(s.x):
        out[np.searchsorted(grid, s.x)] = values
    return out


def chart_data(
    reader: StoreReader,
    req: SeriesRequest,
    names: Mapping[str, str],
    groups: Mapping[str, str] | None = None,
    arrays: bool = False,
    series: list[Series] | None = None,
) -> dict[str, Any]:
    """The JSON a chart draws: shared x, per run last/min/max, counts for the honest label.

    With `groups` (run id → group label) the response also holds one mean line per group with
    a band from the lowest to the highest run at each x. With `arrays` the columns stay numpy
    float64 arrays (NaN = no point) for ``chartbin.pack``, not JSON lists. `series`:
    the request's series when the caller read them already (``StoreReader.series_batch``).
    """
    col = _as_array if arrays else floats
    # x=default: the key's define_metric step_metric, else step (the chart can switch to step)
    x = None if req.x == "default" else req.x
    if series is None:
        series = reader.series_many(list(req.run_ids), req.key, req.x0, req.x1, req.buckets, x)
    axis = series[0].x_axis if series else "step"
    grid = _grid(series)
    placed = [
        (s, _place(grid, s, s.last), _place(grid, s, s.min), _place(grid, s, s.max)) for s in series
    ]
    total = sum(s.total_points for s in series)
    in_range = sum(s.points_in_range for s in series)
    shown = sum(s.shown_points for s in series)
    bucketed = any(s.bucketed for s in series)
    out: dict[str, Any] = {
        "key": req.key,
        "x_axis": axis,
        "x_default": req.x == "default",
        "x0": req.x0,
        "x1": req.x1,
        "buckets": req.buckets,
        "bucketed": bucketed,
        "total_points": total,
        "points_in_range": in_range,
        "shown_points": shown,
        "label": honest_label(shown, in_range, bucketed),
        "x": col(grid),
        "runs": [
            {
                "id": s.run_id,
                "name": names.get(s.run_id, s.run_id),
                "last": col(last, Y_DIGITS),
                "min": col(lo, Y_DIGITS) if s.bucketed else None,
                "max": col(hi, Y_DIGITS) if s.bucketed else None,
                "total_points": s.total_points,
                "points_in_range": s.points_in_range,
                "shown_points": s.shown_points,
                "warnings": list(s.warnings),  # damaged data left out, as on the run page
            }
            for s, last, lo, hi in placed
        ],
    }
    if groups:
        out["groups"] = group_lines(placed, groups, col)
    return out


def group_lines(
    placed: Sequence[tuple[Series, np.ndarray, np.ndarray, np.ndarray]],
    groups: Mapping[str, str],
    col: Callable[..., Any] = floats,
) -> list[dict[str, Any]]:
    """Per group label: the mean of its runs' lines, the min/max across those runs, and their
    (population) standard deviation."""
    by_label: dict[str, list[np.ndarray]] = {}
    members: dict[str, list[str]] = {}
    for s, last, _, _ in placed:
        label = groups.get(s.run_id, "(none)")
        by_label.setdefault(label, []).append(last)
        members.setdefault(label, []).append(s.run_id)
    out = []
    for label in sorted(by_label):
        stack = np.vstack(by_label[label])
        have = np.isfinite(stack)
        counts = have.sum(axis=0)
        filled = np.where(have, stack, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(counts > 0, filled.sum(axis=0) / np.maximum(counts, 1), np.nan)
        low = np.where(counts > 0, np.where(have, stack, np.inf).min(axis=0), np.nan)
        high = np.where(counts > 0, np.where(have, stack, -np.inf).max(axis=0), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            sq = np.where(have, (stack - mean) ** 2, 0.0).sum(axis=0)
            std = np.where(counts > 0, np.sqrt(sq / np.maximum(counts, 1)), np.nan)
        out.append(
            {
                "value": label,
                "run_ids": members[label],
                "mean": col(mean, Y_DIGITS),
                "min": col(low, Y_DIGITS),
                "max": col(high, Y_DIGITS),
                "std": col(std, Y_DIGITS),
            }
        )
    return out


def honest_label(shown: int, in_range: int, bucketed: bool) -> str:
    """The sampling label under a chart: "1,000 of 1,000,000 points, min/max kept"."""
    if bucketed:
        return f"{shown:,} of {in_range:,} points, min/max kept"
    return f"{in_range:,} of {in_range:,} points"
