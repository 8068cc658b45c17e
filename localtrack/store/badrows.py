"""Converting queued rows into one metrics table without letting a bad row cost the others.

``log()`` validates keys, steps and values, so every queued row normally converts. This is the
defence behind it (DESIGN.md §9, "the writer isolates it"): when a batch fails to convert, it is
split in halves until the failing rows are found, each failing row is tried key by key, and only
the values that cannot be stored are dropped — each one reported with its key, step and reason.
Finding k bad rows in a batch of n costs about k·log2(n) extra conversions.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from .metrics import Row, rows_to_table
from .writerhealth import DroppedValue as DroppedValue


def rows_to_table_isolating(rows: Sequence[Row]) -> tuple[pa.Table, list[DroppedValue]]:
    """rows_to_table(rows), minus the values that cannot be stored (listed, with the reason)."""
    try:
        return rows_to_table(rows), []
    except Exception:  # any failure: find the rows that cause it, below
        pass
    dropped: list[DroppedValue] = []
    good = _good_rows(list(rows), dropped)
    return rows_to_table(good), dropped


def _good_rows(rows: list[Row], dropped: list[DroppedValue]) -> list[Row]:
    """The rows (and, within a bad row, the keys) that convert; the rest go to `dropped`."""
    try:
        rows_to_table(rows)
        return rows
    except Exception as exc:
        if len(rows) == 1:
            return _good_keys(rows[0], exc, dropped)
    middle = len(rows) // 2
    return _good_rows(rows[:middle], dropped) + _good_rows(rows[middle:], dropped)


def _good_keys(row: Row, error: Exception, dropped: list[DroppedValue]) -> list[Row]:
    step, wall, data = row
    kept: dict[object, object] = {}
    for key, value in data.items():
        try:
            rows_to_table([(step, wall, {key: value})])  # type: ignore[dict-item]
        except Exception as exc:
            dropped.append(DroppedValue(key, step, f"{type(exc).__name__}: {exc}"))
        else:
            kept[key] = value
    if not kept and not data:
        dropped.append(DroppedValue(None, step, f"{type(error).__name__}: {error}"))
    if not kept:
        return []
    try:
        rows_to_table([(step, wall, kept)])  # type: ignore[list-item]
    except Exception as exc:  # keys fine alone but not together (cannot happen today)
        dropped.extend(DroppedValue(key, step, f"{type(exc).__name__}: {exc}") for key in kept)
        return []
    return [(step, wall, kept)]  # type: ignore[list-item]
