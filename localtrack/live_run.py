"""Run: the logging client. ``log()`` only validates and queues; a writer thread does all I/O."""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import UnsupportedValueError, UsageError
from .media import Media
from .runconfig import Config, Summary
from .store.layout import RunPaths
from .store.metrics import KeyStats
from .store.runmeta import SUMMARY_MODES, MetaDocument, compute_summary
from .store.writer import RunWriter
from .values import Unsupported, check_key, coerce_scalar, flatten

log = logging.getLogger(__name__)
_FLOAT = float
_INT = int
_INT_LIMIT = 2**1023


class Run:
    """A live run. Create it with ``localtrack.init()``; use it as a context manager."""

    def __init__(
        self,
        paths: RunPaths,
        meta: MetaDocument,
        writer: RunWriter,
        settings: dict[str, Any],
        first_step: int,
    ) -> None:
        self._paths = paths
        self._meta = meta
        self._writer = writer
        self._queue = writer.queue
        self._wake_rows = writer.options.wake_rows
        self._max_queue = writer.options.max_queue_rows
        self._settings = settings
        self._strict = bool(settings["strict"])
        self._dtypes = writer.dtypes
        self._step = first_step
        self._max_step = first_step - 1
        self._pending: dict[str, Any] | None = None
        self._pending_step = 0
        self._warned_keys: set[object] = set()
        self._warned_backwards = False
        self._finished = False
        self._lock = threading.Lock()
        self._background: list[Any] = []
        self._call_media: list[tuple[str, Media]] = []
        self.config = Config(meta.get("config") or {}, self._save_config)
        self.summary = Summary(self._summary, self._override_summary, self._delete_summary)

    # -- identity -----------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._paths.run_id

    @property
    def name(self) -> str:
        return str(self._meta.get("name"))

    @property
    def project(self) -> str:
        return str(self._meta.get("project"))

    @property
    def dir(self) -> Path:
        """The run's directory."""
        return self._paths.dir

    @property
    def step(self) -> int:
        """The step the next log() without step= will use."""
        return self._step

    @property
    def tags(self) -> list[str]:
        return list(self._meta.get("tags") or [])

    @property
    def finished(self) -> bool:
        return self._finished

    def __repr__(self) -> str:
        return f"<localtrack.Run {self.id} {self.name!r} project={self.project!r}>"

    # -- logging (the hot path) ---------------------------------------------------------------

    def log(self, data: Mapping[str, Any], step: int | None = None, commit: bool = True) -> None:
        """Log a dict of scalars (nested dicts flatten to "a/b") at `step` (default: next step)."""
        if self._finished:
            raise UsageError("run.log() after run.finish(): start a new run with localtrack.init()")
        if type(data) is not dict and not isinstance(data, Mapping):
            raise UsageError(f"run.log() takes a dict of values, not {type(data).__name__}")
        row: dict[str, Any] = {}
        dtypes = self._dtypes
        for key, value in data.items():
            t = type(value)
            if t is _FLOAT:
                if dtypes.get(key) == "float":
                    row[key] = value
                    continue
            elif t is _INT and dtypes.get(key) == "int" and -_INT_LIMIT < value < _INT_LIMIT:
                row[key] = value
                continue
            self._add_slow(row, key, value)
        if self._call_media:
            self._queue_media(step if step is None else _check_step(step))
        if step is None and commit and self._pending is None:
            s = self._step
            self._step = s + 1
            if s > self._max_step:
                self._max_step = s
            if row:
                self._queue.append((s, time.time(), row))
                if len(self._queue) > self._wake_rows:
                    self._wake_writer()
            return
        self._log_general(row, step, commit)

    def _wake_writer(self) -> None:
        self._writer.wake()
        if len(self._queue) > self._max_queue:
            self._writer.wait_for_room()  # bounded memory: a runaway loop waits for the disk

    def _add_slow(self, row: dict[str, Any], key: Any, value: Any) -> None:
        if isinstance(value, Media):
            self._add_media(key, value)
            return
        if isinstance(value, Mapping):
            for sub_key, sub_value in flatten(value, f"{key}/" if isinstance(key, str) else ""):
                self._add_slow(row, sub_key, sub_value)
            return
        try:
            check_key(key)
            stored, kind = coerce_scalar(value)
        except Unsupported as exc:
            self._reject(key, value, str(exc))
            return
        known = self._dtypes.get(key)
        if known != kind:
            self._dtypes[key] = kind if known is None or _rank(kind) > _rank(known) else known
        row[key] = stored

    def _add_media(self, key: Any, value: Media) -> None:
        try:
            check_key(key)
        except Unsupported as exc:
            self._reject(key, value, str(exc))
            return
        if value.error:
            self._reject(key, value, value.error)
            return
        self._call_media.append((key, value))

    def _queue_media(self, step: int | None) -> None:
        if step is None:
            step = self._pending_step if self._pending is not None else self._step
        now = time.time()
        for key, value in self._call_media:
            self._writer.media_queue.append((key, int(step), now, value))
        self._call_media = []

    def _reject(self, key: Any, value: Any, reason: str) -> None:
        message = f"run.log(): key {key!r} ({type(value).__name__}) dropped: {reason}"
        if self._strict:
            self._call_media = []
            raise UnsupportedValueError(
                message + " (strict mode; nothing from this call was logged)"
            )
        if key not in self._warned_keys:
            self._warned_keys.add(key)
            warnings.warn(
                message + ". Other keys are kept; further drops of it are silent.", stacklevel=4
            )

    def _log_general(self, row: dict[str, Any], step: Any, commit: bool) -> None:
        if step is None:
            s = self._pending_step if self._pending is not None else self._step
        else:
            s = _check_step(step)
        with self._lock:
            if self._pending is not None and s != self._pending_step:
                self._commit_pending()
            if self._pending is None:
                self._pending, self._pending_step = {}, s
            self._pending.update(row)
            if commit:
                self._commit_pending()

    def _commit_pending(self) -> None:
        row, s = self._pending, self._pending_step
        self._pending = None
        if s < self._max_step and not self._warned_backwards:
            self._warned_backwards = True
            warnings.warn(
                f"run.log(): step {s} is lower than step {self._max_step} already logged. "
                "localtrack keeps it (W&B would drop it); for a (key, step) logged twice the later "
                "value wins. This warning is shown once per run.",
                stacklevel=5,
            )
        self._max_step = max(self._max_step, s)
        self._step = max(self._step, s + 1)
        if row:
            self._queue.append((s, time.time(), row))
            if len(self._queue) > self._wake_rows:
                self._wake_writer()

    def define_metric(
        self,
        name: str,
        step_metric: str | None = None,
        summary: str | None = None,
        **_ignored: Any,
    ) -> None:
        """Declare how a metric (or glob like "val/*") is shown: its x axis and summary mode."""
        if not isinstance(name, str) or not name:
            raise UsageError("define_metric() needs a metric name or glob such as 'val/*'")
        if summary is not None and summary not in SUMMARY_MODES:
            raise UsageError(
                f"define_metric(summary=...) must be one of {SUMMARY_MODES}, not {summary!r}"
            )
        definitions = [d for d in self._meta.get("metric_definitions", []) if d.get("name") != name]
        definitions.append({"name": name, "step_metric": step_metric, "summary": summary})
        self._meta.update(metric_definitions=definitions)
        self._writer.publish_meta_later()

    def step_metric_for(self, key: str) -> str | None:
        found = None
        for d in self._meta.get("metric_definitions", []):
            if fnmatch.fnmatchcase(key, d.get("name", "")) and d.get("step_metric"):
                found = d["step_metric"]
        return found

    # -- config and summary -------------------------------------------------------------------

    def _save_config(self, data: dict[str, Any]) -> None:
        versions = self._meta.get("config_versions") or []
        segment = self._writer.segment
        if versions and versions[-1].get("segment") == segment:
            versions[-1] = dict(versions[-1], config=dict(data), time=time.time())
        else:
            versions.append(
                {
                    "version": len(versions) + 1,
                    "segment": segment,
                    "time": time.time(),
                    "config": dict(data),
                }
            )
        self._meta.update(config=dict(data), config_versions=versions)
        self._writer.publish_meta_later()

    def _summary(self) -> dict[str, Any]:
        self._writer.flush(timeout=2.0)
        return compute_summary(self._meta.snapshot(), self._stats_snapshot())

    def _stats_snapshot(self) -> dict[str, KeyStats]:
        return dict(self._writer.stats)

    def _override_summary(self, key: str, value: Any) -> None:
        overrides = self._meta.get("summary_overrides") or {}
        overrides[key] = value
        deleted = [k for k in self._meta.get("summary_deleted") or [] if k != key]
        self._meta.update(summary_overrides=overrides, summary_deleted=deleted)
        self._writer.publish_meta_later()

    def _delete_summary(self, key: str) -> None:
        overrides = self._meta.get("summary_overrides") or {}
        overrides.pop(key, None)
        deleted = sorted(set(self._meta.get("summary_deleted") or []) | {key})
        self._meta.update(summary_overrides=overrides, summary_deleted=deleted)
        self._writer.publish_meta_later()

    # -- lifecycle ----------------------------------------------------------------------------

    def _wait_for_background(self, timeout: float) -> None:
        """Let workers that finish after the data is sealed (the online pusher) complete."""
        for worker in self._background:
            wait = getattr(worker, "wait", None)
            if callable(wait):
                wait(timeout)

    def attach_background(self, worker: Any) -> None:
        """A background worker (system metrics, console capture) to stop() at finish."""
        if worker is not None:
            self._background.append(worker)

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything logged so far is durable on disk; False on timeout."""
        with self._lock:
            if self._pending is not None:
                self._commit_pending()
        return self._writer.flush(
            timeout if timeout is not None else self._settings["finish_timeout"]
        )

    def finish(self, exit_code: int = 0, quiet: bool | None = None) -> None:
        """Make everything durable and mark the run finished (exit_code 0) or failed.

        Idempotent. Never hangs: after `finish_timeout` seconds it gives up waiting, logs a
        warning, and leaves the rest to `localtrack doctor --repair`.
        """
        if self._finished:
            return
        self._finished = True
        with self._lock:
            if self._pending is not None:
                self._commit_pending()
        for worker in reversed(self._background):
            try:
                worker.stop()
            except Exception as exc:  # a background helper must never break finish()
                log.warning("run %s: stopping %s failed: %s", self.id, type(worker).__name__, exc)
        deadline = float(self._settings["finish_timeout"])
        complete = self._writer.close(timeout=deadline)
        state = "finished" if exit_code == 0 else "failed"
        now = time.time()
        try:
            segments = self._meta.get("segments") or [{}]
            segments[-1].update(ended_at=now, exit_code=exit_code)
            summary = compute_summary(self._meta.snapshot(), self._stats_snapshot())
            self._meta.update(
                state=state, ended_at=now, exit_code=exit_code, segments=segments, summary=summary
            )
            self._writer.publish_meta()
        except OSError as exc:
            log.warning("run %s: could not record the final state (%s)", self.id, exc)
        finally:
            self._writer.close_index()
            self._wait_for_background(deadline)
            from . import lifecycle

            lifecycle.forget(self)
        if not complete:
            log.warning(
                "run %s: finish() gave up after %.0f s; data up to the last flush is on disk. "
                "Run `localtrack doctor --repair` to seal the rest.",
                self.id,
                deadline,
            )

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        self.finish(exit_code=0 if exc_type is None else 1)
        return False


def _rank(kind: str) -> int:
    return {"bool": 0, "int": 1, "float": 2}.get(kind, 2)


def _check_step(step: Any) -> int:
    if isinstance(step, bool):
        raise UsageError(f"step must be an integer, not a bool ({step!r})")
    try:
        value = int(step)
    except (TypeError, ValueError):
        raise UsageError(f"step must be an integer, not {type(step).__name__} ({step!r})") from None
    if value != step:
        raise UsageError(f"step must be a whole number, not {step!r}")
    if value < 0:
        raise UsageError(f"step must be zero or positive, not {value}")
    return value
