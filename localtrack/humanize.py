"""Numbers for people: durations and counted nouns, worded the same everywhere.

``format_duration`` has a JavaScript twin, ``fmtDuration`` in ``webui/static/js/core.js``: the
two give the same text for the same seconds (``tests/test_humanize.py`` runs both), so a run's
duration reads alike in ``localtrack runs``, ``localtrack show`` and the web UI::

    format_duration(42.25)   -> "42.3s"
    format_duration(185)     -> "3m 05s"
    format_duration(7380)    -> "2h 03m"
    format_duration(200000)  -> "2d 07h"
    plural(1, "run")         -> "1 run"
    plural(3, "problem")     -> "3 problems"
"""

from __future__ import annotations

import math

MISSING = "—"


def format_duration(seconds: float | None) -> str:
    """`seconds` as "42.3s", "3m 05s", "2h 03m" (under 48 h) or "2d 07h"; "—" when unknown.

    Rounds once, to tenths of a second (half up), and derives every unit from that, as the JS
    twin does, so both agree to the character.
    """
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    tenths = math.floor(max(0.0, float(seconds)) * 10 + 0.5)
    if tenths < 600:
        return f"{tenths // 10}.{tenths % 10}s"
    whole = tenths // 10
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """ "1 run", "2 runs": `count` and `noun`, plural unless `count` is 1 (`nouns` if irregular)."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
