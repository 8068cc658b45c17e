"""Per-key running statistics of a run's metrics, and the kinds of logged values.

Kept apart from metrics.py (the Arrow tables) so that the training process can use them without
importing pyarrow or numpy: ``init()`` and ``log()`` never need either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

DTYPE_RANK = {"bool": 0, "int": 1, "float": 2}

Row = tuple[int, float, Mapping[str, object]]  # (step, wall seconds, {key: value})


def merge_dtype(old: str | None, new: str) -> str:
    """The kind that holds both: bool < int < float."""
    if old is None or DTYPE_RANK.get(new, 2) > DTYPE_RANK.get(old, 2):
        return new
    return old


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
    exact_sum: Fraction | None = field(default=None, repr=False, compare=False)

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
