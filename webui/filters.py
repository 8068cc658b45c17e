"""Jinja filters for the server-rendered parts of pages (the JS twin lives in static/js/core.js)."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from flask import Flask
from markupsafe import Markup


def fmt_time(ts: float | None) -> str:
    """A Unix time as 'YYYY-MM-DD HH:MM:SS' in the server's local zone; '—' when unknown."""
    if ts is None:
        return "—"
    return dt.datetime.fromtimestamp(float(ts)).strftime("%Y-%m-%d %H:%M:%S")


def time_tag(ts: float | None) -> Markup:
    """A <time> element; core.js rewrites its text in the browser's own time zone."""
    if ts is None:
        return Markup("—")
    iso = dt.datetime.fromtimestamp(float(ts), tz=dt.timezone.utc).isoformat()
    return Markup('<time datetime="{}" data-ts="{}">{}</time>').format(iso, float(ts), fmt_time(ts))


def fmt_duration(seconds: float | None) -> str:
    """Seconds as '3h 02m', '4m 05s' or '12.3s'."""
    if seconds is None:
        return "—"
    s = float(seconds)
    if s < 60:
        return f"{s:.1f}s"
    minutes, sec = divmod(int(s), 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def fmt_value(value: Any) -> str:
    """A config or summary value for a table cell: numbers compact, containers as JSON."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.4g}"
        return f"{value:.6g}"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def register(app: Flask) -> None:
    app.add_template_filter(fmt_time, "time")
    app.add_template_filter(time_tag, "time_tag")
    app.add_template_filter(fmt_duration, "duration")
    app.add_template_filter(fmt_value, "value")
