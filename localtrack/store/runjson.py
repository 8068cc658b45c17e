"""A run as JSON: the one serializer behind ``localtrack runs/show --json`` and the UI API's run
objects.

JSON has no NaN or infinity, so free-form values (config, summary, system, metric statistics)
carry them as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (docs/api.md, Numbers);
``dumps`` refuses a bare ``NaN`` rather than print one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .exitreason import exit_reason, reason_text
from .runinfo import RunInfo

__all__ = ["CLI_FIELDS", "FIELDS", "UI_FIELDS", "dumps", "json_safe", "run_json"]


def json_safe(value: Any) -> Any:
    """`value` made strict JSON: NaN/±Inf → "NaN"/"Infinity"/"-Infinity", tuples → lists,
    mapping keys → str, anything else JSON cannot hold → its str()."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return str(value)


# field name → how it is read from a RunInfo; every run object in either output picks from here
FIELDS: dict[str, Callable[[RunInfo], Any]] = {
    "id": lambda r: r.id,
    "name": lambda r: r.name,
    "project": lambda r: r.project,
    "entity": lambda r: r.entity,
    "namespace": lambda r: r.namespace,
    "state": lambda r: r.state,
    "created_at": lambda r: r.created_at,
    "updated_at": lambda r: r.updated_at,
    "heartbeat_at": lambda r: r.heartbeat_at,
    "ended_at": lambda r: r.ended_at,
    "duration": lambda r: r.duration,
    "exit_code": lambda r: r.exit_code,
    "tags": lambda r: list(r.tags),
    "group": lambda r: r.group,
    "job_type": lambda r: r.job_type,
    "notes": lambda r: r.notes,
    "host": lambda r: r.host,
    "pid": lambda r: r.pid,
    "max_step": lambda r: r.max_step,
    "config": lambda r: r.config,
    "summary": lambda r: r.summary,
    "warnings": lambda r: list(r.warnings),
    "exit_reason": lambda r: exit_reason(r.meta),
    "reason": lambda r: reason_text(r.meta),
}
CLI_FIELDS = (
    "id", "project", "name", "state", "created_at", "ended_at", "duration", "tags", "group",
    "job_type", "notes", "host", "max_step", "config", "summary", "warnings", "exit_code",
    "exit_reason", "reason",
)  # fmt: skip
UI_FIELDS = (
    "id", "name", "project", "entity", "namespace", "state", "created_at", "updated_at",
    "heartbeat_at", "ended_at", "duration", "exit_code", "tags", "group", "job_type", "notes",
    "host", "pid", "max_step", "exit_reason", "reason",
)  # fmt: skip


def run_json(info: RunInfo, fields: Iterable[str] = CLI_FIELDS) -> dict[str, Any]:
    """The run's `fields`, in that order, as strict JSON values."""
    return {name: json_safe(FIELDS[name](info)) for name in fields}


def dumps(data: Any, **kwargs: Any) -> str:
    """``json.dumps`` of `data` made strict (``json_safe``); never writes a bare NaN."""
    return json.dumps(json_safe(data), allow_nan=False, **kwargs)
