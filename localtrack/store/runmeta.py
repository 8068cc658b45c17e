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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import CorruptDataError
from .atomic import read_json, write_json_atomic
from .index import encode_json
from .layout import FORMAT_VERSION
from .metrics import KeyStats

log = logging.getLogger(__name__)
STATES = ("running", "finished", "failed", "crashed")
SUMMARY_MODES = ("min", "max", "mean", "last")
HEARTBEAT_INTERVAL_S = 5.0
DEFAULT_STALE_AFTER_S = 60.0
SYSTEM_PREFIX = "system/"  # system metrics: their own sample counter as step, not in the summary


def load(path: Path) -> dict[str, Any]:
    try:
        meta = read_json(path)
    except ValueError as exc:
        raise CorruptDataError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or "id" not in meta:
        raise CorruptDataError(f"{path} does not describe a run (no 'id')")
    meta.pop("format_version", None)  # a property of the file, not of the run
    return meta


def save(path: Path, meta: Mapping[str, Any]) -> None:
    write_json_atomic(path, dict(meta, format_version=FORMAT_VERSION))


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
    try:
        return float(os.environ.get("LOCALTRACK_STALE_AFTER", DEFAULT_STALE_AFTER_S))
    except ValueError:
        return DEFAULT_STALE_AFTER_S


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
    segment = (meta.get("segments") or [{}])[-1]
    if segment.get("host") == socket.gethostname() and isinstance(segment.get("pid"), int):
        if not pid_alive(segment["pid"]):
            return "crashed"
        boot_id = segment.get("boot_id")
        if boot_id and boot_id != current_boot_id():
            return "crashed"
    last_sign = heartbeat_at or meta.get("updated_at") or meta.get("created_at") or 0
    if now - float(last_sign) > stale_after_s():
        return "crashed"
    return "running"


def current_boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _definition_for(key: str, definitions: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    found = None
    for definition in definitions:
        if fnmatch.fnmatchcase(key, definition.get("name", "")):
            found = definition
    return found


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
    definitions = list(meta.get("metric_definitions") or [])
    summary: dict[str, Any] = {}
    for key, s in stats.items():
        if key.startswith(SYSTEM_PREFIX):
            continue
        definition = _definition_for(key, definitions)
        mode = (definition or {}).get("summary") or "last"
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
    """The runs-table row for this run."""
    segment = (meta.get("segments") or [{}])[-1]
    max_steps = [
        s.max_step
        for k, s in stats.items()
        if s.max_step is not None and not k.startswith(SYSTEM_PREFIX)
    ]
    return {
        "id": meta["id"],
        "project": meta.get("project") or "uncategorized",
        "entity": meta.get("entity"),
        "name": meta.get("name") or meta["id"],
        "state": meta.get("state", "running"),
        "created_at": meta.get("created_at"),
        "updated_at": max(float(meta.get("updated_at") or 0), float(heartbeat_at or 0)) or None,
        "heartbeat_at": heartbeat_at,
        "ended_at": meta.get("ended_at"),
        "exit_code": meta.get("exit_code"),
        "tags": encode_json(list(meta.get("tags") or [])),
        "run_group": meta.get("group"),
        "job_type": meta.get("job_type"),
        "notes": meta.get("notes"),
        "host": segment.get("host"),
        "pid": segment.get("pid"),
        "config": encode_json(meta.get("config") or {}),
        "summary": encode_json(compute_summary(meta, stats)),
        "meta": encode_json({k: v for k, v in meta.items() if k not in ("config", "shards")}),
        "max_step": max(max_steps) if max_steps else None,
        "warnings": encode_json(warnings or []),
    }


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
