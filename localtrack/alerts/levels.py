"""Alert levels and ``wait_duration``, as W&B's ``run.alert()`` takes them."""

from __future__ import annotations

import datetime
import enum
from typing import Any

from ..errors import UsageError

DEFAULT_WAIT_S = 60.0  # W&B's default: one alert per title per minute


class AlertLevel(str, enum.Enum):
    """How serious an alert is (``localtrack.AlertLevel.WARN``; W&B's names and values)."""

    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"

    def __str__(self) -> str:
        return self.value


LEVELS = tuple(level.value for level in AlertLevel)


def parse_level(level: Any) -> str:
    """An AlertLevel or its name (any case) as the stored name; None means INFO."""
    if level is None:
        return AlertLevel.INFO.value
    if isinstance(level, AlertLevel):
        return level.value
    if isinstance(level, str) and level.upper() in LEVELS:
        return level.upper()
    raise UsageError(f"alert level must be one of {', '.join(LEVELS)}, got {level!r}")


def parse_wait(wait_duration: Any) -> float:
    """Seconds from ``wait_duration`` (seconds as int/float, or a timedelta; None: 60 s)."""
    if wait_duration is None:
        return DEFAULT_WAIT_S
    if isinstance(wait_duration, datetime.timedelta):
        seconds = wait_duration.total_seconds()
    elif isinstance(wait_duration, int | float) and not isinstance(wait_duration, bool):
        seconds = float(wait_duration)
    else:
        raise UsageError(
            f"wait_duration must be seconds (int or float) or a datetime.timedelta, "
            f"got {type(wait_duration).__name__}"
        )
    if not seconds >= 0:
        raise UsageError(f"wait_duration must be zero or more seconds, got {wait_duration!r}")
    return seconds
