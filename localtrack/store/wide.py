"""Pivot long-format metric rows into the wide table `history()` returns.

One row per step (ascending), a ``step`` column, a ``wall_time`` column (the latest wall time
logged at that step), then one column per key, typed by what was logged (bool, int64 or
float64) and null where the key was not logged at that step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

from .metrics import WALL_TYPE, arrow_from_numpy, numpy_values, to_numpy

_ARROW_TYPES = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64()}
_MAX_EXACT_INT = 2**53


def _typed_column(values: np.ndarray, mask: np.ndarray, dtype: str) -> pa.Array:
    if dtype == "int":
        finite = values[~mask]
        if np.all(np.isfinite(finite)) and np.all(np.abs(finite) <= _MAX_EXACT_INT):
            return arrow_from_numpy(np.where(mask, 0, values).astype(np.int64), pa.int64(), mask)
        dtype = "float"
    if dtype == "bool":
        return arrow_from_numpy(np.where(mask, 0, values) != 0, pa.bool_(), mask)
    return arrow_from_numpy(values, pa.float64(), mask)


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting (numpy's hash-based unique is far slower on a million steps);
    values that are already strictly increasing (one key) are returned as they are."""
    if len(values) < 2 or bool(np.all(values[1:] > values[:-1])):
        return values
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]]


def _spread(
    all_steps: np.ndarray, steps: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One key's values at their rows of the wide table, and the mask of rows without one."""
    if len(steps) == len(all_steps):  # logged at every step: the column is the values
        return values, np.zeros(len(all_steps), dtype=bool)
    dense = np.full(len(all_steps), np.nan)
    mask = np.ones(len(all_steps), dtype=bool)
    where = np.searchsorted(all_steps, steps)
    dense[where] = values
    mask[where] = False
    return dense, mask


def to_wide(
    table: pa.Table, dtypes: Mapping[str, str], keys: Sequence[str] | None = None
) -> pa.Table:
    """Pivot a normalized long table (sorted by key, step; no duplicates) to one row per step."""
    steps = numpy_values(table, "step")
    all_steps = sorted_unique(steps)
    walls = numpy_values(table, "wall_time")
    if len(steps) == len(all_steps):  # one row per step (one key): nothing to gather
        wall_at = walls
    else:
        wall_at = np.full(len(all_steps), np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(wall_at, np.searchsorted(all_steps, steps), walls)
    columns: dict[str, pa.Array] = {
        "step": arrow_from_numpy(all_steps.astype(np.int64), pa.int64()),
        "wall_time": arrow_from_numpy(wall_at, WALL_TYPE),
    }
    encoded = table.column("key").combine_chunks().dictionary_encode() if table.num_rows else None
    names = encoded.dictionary.to_pylist() if encoded is not None else []
    codes = to_numpy(encoded.indices) if encoded is not None else np.empty(0, np.int32)
    values = numpy_values(table, "value")
    wanted = list(keys) if keys is not None else sorted(names)
    position = {name: i for i, name in enumerate(names)}
    for key in wanted:
        if key in ("step", "wall_time"):
            continue
        if key not in position:
            dense, mask = np.full(len(all_steps), np.nan), np.ones(len(all_steps), dtype=bool)
        else:  # codes never decrease (the table is sorted by key): a key's rows are one slice
            code = position[key]
            rows = slice(np.searchsorted(codes, code), np.searchsorted(codes, code, "right"))
            dense, mask = _spread(all_steps, steps[rows], values[rows])
        columns[key] = _typed_column(dense, mask, dtypes.get(key, "float"))
    return pa.table(columns)
