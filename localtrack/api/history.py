"""Shaping a run's history as ``ApiRun.history`` returns it: keys, x axis, samples, pandas.

Pure functions over a wide pyarrow table (``step``, ``wall_time``, one column per key), shared
by the local and the remote backend.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import UsageError

# W&B's names for the built-in columns
ALIASES = {"_step": "step", "_timestamp": "wall_time", "step": "step", "wall_time": "wall_time"}
BUILTIN = ("step", "wall_time")


def x_column(x_axis: str | None) -> str:
    """The column `x_axis` names: ``_step`` (W&B's default) is ``step``, ``_timestamp`` is
    ``wall_time``; any other name is a metric key."""
    if not x_axis:
        return "step"
    if x_axis == "_runtime":
        raise UsageError("x_axis='_runtime' is not stored; use '_timestamp' (wall_time) or a key")
    return ALIASES.get(x_axis, x_axis)


def wanted_keys(keys: Sequence[str] | str | None, x: str) -> list[str] | None:
    """The metric keys to read for `keys` and x column `x` (None: every key)."""
    if isinstance(keys, str):
        keys = [keys]
    if keys is None:
        return None
    out = [ALIASES.get(k, k) for k in keys]
    out = [k for k in out if k not in BUILTIN]
    if x not in BUILTIN and x not in out:
        out.append(x)
    return out


def shape(table: pa.Table, keys: list[str] | None, x: str, samples: int | None) -> pa.Table:
    """`table` with rows that hold none of `keys` dropped, the x column first (rows without an
    x value dropped), and at most `samples` rows picked evenly (first and last kept)."""
    if x not in table.column_names:
        raise UsageError(f"x_axis {x!r} is not a key of this run")
    if keys:
        present = [k for k in keys if k in table.column_names and k != x]
        if present:
            mask = pc.is_valid(table.column(present[0]))
            for k in present[1:]:
                mask = pc.or_(mask, pc.is_valid(table.column(k)))
            table = table.filter(mask)
    if x not in BUILTIN:
        table = table.filter(pc.is_valid(table.column(x)))
        table = table.select([x, *[c for c in table.column_names if c != x]])
    if samples is not None:
        if samples < 1:
            raise UsageError(f"samples must be a positive number of rows, not {samples}")
        if table.num_rows > samples:
            picks = np.unique(np.linspace(0, table.num_rows - 1, samples).round().astype(np.int64))
            table = table.take(pa.array(picks))
    return table


def to_frame(table: pa.Table, pandas: bool) -> Any:
    """A pandas DataFrame (W&B's form) when `pandas` and pandas is installed, else `table`."""
    if not pandas:
        return table
    try:
        import pandas as _pd  # noqa: F401 - only its presence is checked here
    except ImportError:
        warnings.warn(
            "pandas is not installed: history() returns a pyarrow.Table "
            "(pass pandas=False to ask for one, or pip install pandas)",
            stacklevel=3,
        )
        return table
    return table.to_pandas()


def rows(table: pa.Table, keys: list[str] | None) -> Iterator[dict[str, Any]]:
    """Each row as a dict: ``step``, ``wall_time`` and the keys it holds (all of `keys`, None
    where one was not logged, when keys were asked for)."""
    names = table.column_names
    columns = [table.column(n).to_pylist() for n in names]
    for values in zip(*columns, strict=True):
        row = dict(zip(names, values, strict=True))
        if keys is None:
            row = {k: v for k, v in row.items() if v is not None or k in BUILTIN}
        yield row
