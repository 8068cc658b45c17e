"""run.json: the run's metadata, and what is derived from it (state, summary, index row).

run.json is the truth about a run's identity, config and lifecycle; the index row is derived
from it plus the metric statistics. Pure functions: no I/O except `load`/`save`.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import CorruptDataError, DocumentError
from ..settings import default, resolve
from .atomic import json_bytes, read_json, write_json_atomic
from .index import encode_json
from .keystats import KeyStats
from .layout import FORMAT_VERSION
from .runschema import STATES as STATES
from .runschema import SUMMARY_MODES as SUMMARY_MODES
from .runschema import check_run_json

log = logging.getLogger(__name__)
DEFAULT_STALE_AFTER_S: float = default("stale_after")
SYSTEM_PREFIX = "system/"  # system metrics: their own sample counter as step, not in the summary


def load(path: Path) -> dict[str, Any]:
    """A run's run.json; CorruptDataError unless it is valid JSON that fits the schema
    (``runschema.py``), so no reader indexes or shows a run from a document it cannot use."""
    try:
        meta = read_json(path)
    except RecursionError:
        raise CorruptDataError(f"{path} is nested too deep to be a run.json") from None
    except ValueError as exc:
        raise CorruptDataError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or "id" not in meta:
        raise CorruptDataError(f"{path} does not describe a run (no 'id')")
    try:
        check_run_json(meta, str(path))
    except DocumentError as exc:
        raise CorruptDataError(str(exc)) from None
    meta.pop("format_version", None)  # a property of the file, not of the run
    return meta


def save(path: Path, meta: Mapping[str, Any]) -> None:
    write_json_atomic(path, dict(meta, format_version=FORMAT_VERSION))


def run_json_bytes(meta: Mapping[str, Any]) -> bytes:
    """The bytes ``save`` writes for `meta` (a run.json kept as a blob elsewhere)."""
    return json_bytes(dict(meta, format_version=FORMAT_VERSION))


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_after_s() -> float:
    """Seconds without a heartbeat after which a running run counts as crashed
    (LOCALTRACK_STALE_AFTER; a bad value is a UsageError, never silently the default)."""
    return float(resolve("stale_after"))


def effective_state(
    meta: Mapping[str, Any], heartbeat_at: float | None, now: float | None = None
) -> str:
    """The state readers report: a 'running' run whose writer is gone is 'crashed'.

    Gone means: its process no longer exists (same host), or its heartbeat is older than
    LOCALTRACK_STALE_AFTER seconds (any host).
    """
    state = meta.get("state", "running")
    if state != "running":
        return str(state)
    now = time.time() if now is None else now
    segment = last_segment(meta)
    pid = segment.get("pid")
    if segment.get("host") == socket.gethostname() and isinstance(pid, int) and 0 < pid < 2**31:
        if not pid_alive(pid):
            return "crashed"
        boot_id = segment.get("boot_id")
        if boot_id and boot_id != current_boot_id():
            return "crashed"
    last_sign = (
        heartbeat_at or as_number(meta.get("updated_at")) or as_number(meta.get("created_at"))
    )
    if now - float(last_sign or 0) > stale_after_s():
        return "crashed"
    return "running"


def current_boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


GLOB_CHARS = frozenset("*?[")


def is_glob(name: str) -> bool:
    """Whether a define_metric name is a glob ("val/*") rather than one key's exact name."""
    return not GLOB_CHARS.isdisjoint(name)


def metric_definition(key: str, definitions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What define_metric() says about `key`: ``{"step_metric": ..., "summary": ...}``.

    Calls combine as W&B's do, field by field: a definition of `key`'s exact name beats any glob
    whatever the order of the calls; among matching globs the most recent call wins. A field the
    winner leaves unset (None) falls through to the next definition in that order.
    """
    exact = [d for d in definitions if d.get("name") == key]
    globs = [
        d
        for d in definitions
        if isinstance(d.get("name"), str)
        and is_glob(d["name"])
        and fnmatch.fnmatchcase(key, d["name"])
    ]
    found: dict[str, Any] = {"step_metric": None, "summary": None}
    for definition in [*reversed(exact), *reversed(globs)]:
        for field in found:
            if found[field] is None and definition.get(field) is not None:
                found[field] = definition[field]
    return found


def summary_mode(key: str, definitions: Sequence[Mapping[str, Any]]) -> str:
    """How `key`'s summary value is computed: min, max, mean or last (the default)."""
    return str(metric_definition(key, definitions)["summary"] or "last")


def summary_modes(meta: Mapping[str, Any], keys: Iterable[str]) -> dict[str, str]:
    """Each key's summary mode other than the default `last` (what the runs table shows)."""
    definitions = _definitions(meta)
    modes = {key: summary_mode(key, definitions) for key in keys}
    return {key: mode for key, mode in modes.items() if mode != "last"}


def step_metrics(meta: Mapping[str, Any], keys: Iterable[str]) -> dict[str, str]:
    """The x-axis metric define_metric(step_metric=) gives each key that has one."""
    definitions = _definitions(meta)
    found = {key: metric_definition(key, definitions)["step_metric"] for key in keys}
    return {key: str(x) for key, x in found.items() if x}


def _definitions(meta: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    definitions = meta.get("metric_definitions")
    if not isinstance(definitions, list):
        return []
    return [d for d in definitions if isinstance(d, Mapping)]


def typed_value(value: float | None, dtype: str) -> Any:
    if value is None:
        return None
    if dtype == "bool":
        return bool(value)
    if dtype == "int" and math.isfinite(value) and value == int(value):
        return int(value)
    return value


def compute_summary(meta: Mapping[str, Any], stats: Mapping[str, KeyStats]) -> dict[str, Any]:
    """Per key: the last value (or min/max/mean per define_metric), then explicit overrides.

    System metrics (system/...) are left out, as in W&B.
    """
    definitions = _definitions(meta)
    summary: dict[str, Any] = {}
    for key, s in stats.items():
        if key.startswith(SYSTEM_PREFIX):
            continue
        mode = summary_mode(key, definitions)
        if mode == "min":
            value = s.min
        elif mode == "max":
            value = s.max
        elif mode == "mean":
            value = s.mean
        else:
            value = s.last
        summary[key] = typed_value(value, s.dtype if mode != "mean" else "float")
    summary.update(meta.get("summary_overrides") or {})
    for key in meta.get("summary_deleted") or []:
        summary.pop(key, None)
    return summary


def index_row(
    meta: Mapping[str, Any],
    stats: Mapping[str, KeyStats],
    heartbeat_at: float | None,
    warnings: list[str] | None = None,
) -> dict[str, Any]:
    """The runs-table row for this run.

    A field of the wrong type (an old store may hold one) becomes null rather than an error, so
    one run's junk never costs the others their listing; ``load`` refuses such documents.
    """
    segment = last_segment(meta)
    max_steps = [
        s.max_step
        for k, s in stats.items()
        if s.max_step is not None and not k.startswith(SYSTEM_PREFIX)
    ]
    run_id = str(meta["id"])
    updated = max(as_number(meta.get("updated_at")) or 0.0, float(heartbeat_at or 0))
    tags = meta.get("tags")
    config = meta.get("config")
    state = meta.get("state", "running")
    return {
        "id": run_id,
        "project": as_text(meta.get("project")) or "uncategorized",
        "entity": as_text(meta.get("entity")),
        "name": as_text(meta.get("name")) or run_id,
        "state": state if state in STATES else "crashed",
        "created_at": as_number(meta.get("created_at")),
        "updated_at": updated or None,
        "heartbeat_at": heartbeat_at,
        "ended_at": as_number(meta.get("ended_at")),
        "exit_code": as_integer(meta.get("exit_code")),
        "tags": encode_json(
            [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
        ),
        "run_group": as_text(meta.get("group")),
        "job_type": as_text(meta.get("job_type")),
        "notes": as_text(meta.get("notes")),
        "host": as_text(segment.get("host")),
        "pid": as_integer(segment.get("pid")),
        "config": encode_json(config if isinstance(config, Mapping) else {}),
        "summary": encode_json(_summary_or_empty(meta, stats)),
        "meta": encode_json({k: v for k, v in meta.items() if k not in ("config", "shards")}),
        "max_step": max(max_steps) if max_steps else None,
        "warnings": encode_json(warnings or []),
    }


def as_text(value: object) -> str | None:
    """`value` if it is a string, else None (for fields an old store may hold junk in)."""
    return value if isinstance(value, str) else None


def as_number(value: object) -> float | None:
    """`value` as a finite float if it is a number, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def last_segment(meta: Mapping[str, Any]) -> Mapping[str, Any]:
    """The record of the process that wrote the run last ({} when there is none, or junk)."""
    segments = meta.get("segments")
    segment = segments[-1] if isinstance(segments, list) and segments else {}
    return segment if isinstance(segment, Mapping) else {}


def as_integer(value: object) -> int | None:
    """`value` if it is an integer within 64 bits (not a bool), else None."""
    ok = isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63
    return value if ok else None  # type: ignore[return-value]


def _summary_or_empty(meta: Mapping[str, Any], stats: Mapping[str, KeyStats]) -> dict[str, Any]:
    try:
        return compute_summary(meta, stats)
    except (TypeError, AttributeError, ValueError) as exc:
        log.warning("run %s: summary left empty, its run.json is malformed: %s", meta["id"], exc)
        return {}


def heartbeat_time(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


class MetaDocument:
    """The in-memory run.json of a live run, shared by the training thread and the writer.

    Every change is saved at once, atomically; a lock keeps the two threads' saves in order. A
    save that fails (disk full) never reaches the training loop: the change stays in memory, one
    warning is logged, and the writer saves it on a later round.
    """

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = path
        self._meta = meta
        self._lock = threading.Lock()
        self._unsaved = False

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return _deep_copy(self._meta)

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return _deep_copy(self._meta.get(key, default))

    def update(self, save_now: bool = True, **changes: Any) -> None:
        with self._lock:
            self._meta.update(changes)
            self._meta["updated_at"] = time.time()
            if save_now:
                self._save_locked()

    def save(self) -> None:
        with self._lock:
            self._save_locked()

    def save_if_unsaved(self) -> None:
        """Retry a save that failed earlier (called by the writer thread)."""
        with self._lock:
            if self._unsaved:
                self._save_locked()

    def _save_locked(self) -> None:
        try:
            save(self.path, self._meta)
        except OSError as exc:
            if not self._unsaved:
                log.warning("cannot save %s (%s); kept in memory, will retry", self.path, exc)
            self._unsaved = True
            return
        if self._unsaved:
            log.warning("saved %s again", self.path)
        self._unsaved = False


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
