"""Run: the logging client. ``log()`` validates and packs each row into the run's mapped tail
segment (store/segwriter.py), where a killed process cannot lose it; a writer thread seals it.
On network filesystems ``log()`` queues rows for the writer instead (the classic path).

The hot path costs one flag test for everything unusual: ``_attention`` is set when the run is
finished, when the writer has news for the training thread (values it had to drop, or a failure),
and while the step counter is near its int64 limit; ``_attend()`` then sorts it out. A row whose
keys and value types match a shape seen before is packed inline (``log()``'s fast path); anything
else is validated key by key and learned.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
import warnings
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import RunWriteError, TrialStopped, UnsupportedValueError, UsageError
from ..media.gallery import MAYBE_MEDIA as _MAYBE_MEDIA
from ..media.gallery import as_media
from ..media.types import Media
from ..store.keystats import KeyStats
from ..store.layout import RunPaths
from ..store.runmeta import MetaDocument, compute_summary
from ..store.segformat import CRC
from ..store.segseal import drain_queue
from ..store.writer import RunWriter
from .callsite import user_stacklevel
from .config import Config, Summary
from .edits import RunEdits
from .ending import RunEnding
from .surface import RunSurface
from .values import (
    MAX_STEP,
    TooDeep,
    Unsupported,
    check_key,
    check_step,
    coerce_scalar,
    flatten,
)

log = logging.getLogger(__name__)
_FLOAT = float
_INT = int
_INT_LIMIT = 2**1023
_NEAR_STEP_LIMIT = MAX_STEP - 2**32  # beyond this, every log() checks the step counter
_PACK_ERRORS = (struct.error, OverflowError, TypeError, ValueError)
_now = time.time
_crc32 = zlib.crc32
_crc_pack = CRC.pack_into
_CACHEABLE = frozenset({float, int, bool})


class Run(RunSurface, RunEnding):
    """A live run. Create it with ``localtrack.init()``; use it as a context manager."""

    def __init__(
        self,
        paths: RunPaths,
        meta: MetaDocument,
        writer: RunWriter,
        settings: dict[str, Any],
        first_step: int,
        writer_lock: Any = None,
    ) -> None:
        self._paths = paths
        self._writer_lock = writer_lock  # released by finish(): the next writer may start
        self._meta = meta
        self._writer = writer
        self._queue = writer.queue
        self._wake_rows = writer.options.wake_rows
        self._max_queue = writer.options.max_queue_rows
        self._settings = settings
        self._strict = bool(settings["strict"])
        self._dtypes = writer.dtypes
        self._segments = writer.segments  # None: the classic path (a queue for the writer)
        # keys of a plain log() call → (their value types, then segwriter.row_packer's: how to
        # pack that row shape); stays empty on the classic path
        self._fast: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._step = first_step
        self._pending: dict[str, Any] | None = None
        self._pending_step = 0
        self._warned_keys: set[object] = set()
        self._warned_backwards = False
        self._finished = False
        self.exit_reason: dict[str, Any] | None = None  # run.json's, set by lifecycle.py
        self._stop_reason: str | None = None  # set when a sweep's controller stops it
        self._attention = first_step > _NEAR_STEP_LIMIT
        writer.health.notify = self._writer_has_news
        self._lock = threading.Lock()
        self._background: list[Any] = []
        self._call_media: list[tuple[str, Media]] = []
        self._edits = RunEdits(meta, writer.segment, writer.publish_meta_later)
        self.config = Config(meta.get("config") or {}, self._edits.save_config)
        self.summary = Summary(
            self._summary, self._edits.override_summary, self._edits.delete_summary
        )

    # -- identity -----------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._paths.run_id

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
    def finished(self) -> bool:
        return self._finished

    @property
    def should_stop(self) -> bool:
        """True once a sweep's controller stopped this trial (hyperband, a cancelled sweep)."""
        return self._stop_reason is not None

    def _request_stop(self, reason: str) -> None:
        """Called from the sweep's watcher thread: the next log() raises TrialStopped."""
        self._stop_reason = reason
        self._attention = True

    def __repr__(self) -> str:
        return f"<localtrack.Run {self.id} {self.name!r} project={self.project!r}>"

    # -- logging (the hot path) ---------------------------------------------------------------

    def log(self, data: Mapping[str, Any], step: int | None = None, commit: bool = True) -> None:
        """Log a dict of scalars (nested dicts flatten to "a/b") at `step` (default: next step).

        A bad `step` (not a whole number from 0 to 2**63-1) raises UsageError and logs nothing.
        """
        if self._attention:
            self._attend(step)
        if step is None and commit and type(data) is dict:
            # The fast path: a row shape seen before, with the same value types, packed and
            # copied into the mapped tail, then the new end set (a kill mid-copy leaves a record
            # that fails its CRC: only this row is lost, and recovery cuts it). Everything else
            # takes the general path below.
            hit = self._fast.get(tuple(data))
            if hit is not None and hit[0] == tuple(map(type, data.values())):
                _, pack, length, keyset_id, size, record, body = hit
                chunk = self._segments.current  # type: ignore[union-attr]
                pos = chunk.pos
                end = pos + size
                if end <= chunk.size and self._pending is None:
                    s = self._step
                    try:  # into this row shape's scratch record, then one copy into the mapping
                        pack(record, 4, length, keyset_id, s, _now(), *data.values())
                    except _PACK_ERRORS:
                        pass  # a value this row shape cannot take: the general path sorts it out
                    else:
                        _crc_pack(record, 0, _crc32(body))
                        chunk.buf[pos:end] = record
                        chunk.pos = end
                        self._step = s + 1
                        return
        if type(data) is not dict and not isinstance(data, Mapping):
            raise UsageError(f"run.log() takes a dict of values, not {type(data).__name__}")
        if step is not None:
            step = check_step(step)
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
            self._queue_media(step)
        if step is None and commit and self._pending is None:
            s = self._step
            self._step = s + 1
            if row:
                self._emit(s, row)
                if self._segments is not None and len(row) == len(data) and not self._call_media:
                    self._learn(data, row)
            return
        self._log_general(row, step, commit)

    def _emit(self, s: int, row: dict[str, Any]) -> None:
        """Hand one row to the store: the mapped tail segment, or the writer's queue."""
        segments = self._segments
        if segments is None:
            self._queue.append((s, time.time(), row))
            if len(self._queue) > self._wake_rows:
                self._wake_writer()
            return
        keys = tuple(row)
        kinds = tuple(self._dtypes[k] for k in keys)
        segments.write(s, time.time(), keys, kinds, tuple(row.values()))

    def _learn(self, data: dict[str, Any], row: dict[str, Any]) -> None:
        """Cache the row shape of a plain call, so the next call like it packs straight away."""
        keys = tuple(data)
        types = tuple(map(type, data.values()))
        if keys != tuple(row) or not all(
            t in _CACHEABLE or (t.__module__ == "numpy" and t.__name__ != "ndarray") for t in types
        ):
            return
        kinds = tuple(self._dtypes[k] for k in keys)
        assert self._segments is not None
        pack, length, keyset_id, size = self._segments.row_packer(keys, kinds)
        record = bytearray(size)  # crc | length | keyset | step | wall | values
        self._fast[keys] = (types, pack, length, keyset_id, size, record, memoryview(record)[4:])

    def _attend(self, step: Any) -> None:
        """Whatever set `_attention`: a finished run, news from the writer, a step near int64."""
        if self._finished:
            raise UsageError("run.log() after run.finish(): start a new run with localtrack.init()")
        if self._stop_reason is not None:
            raise TrialStopped(
                f"run {self.id}: {self._stop_reason}; finish the run (it is marked stopped)"
            )
        self._attention = self._step > _NEAR_STEP_LIMIT
        self._raise_if_writer_failed()
        for message in self._writer.health.take_notices():
            warnings.warn(message, RuntimeWarning, stacklevel=user_stacklevel())
        segments = self._segments
        if segments is not None:
            if segments.roll_wanted:  # the writer wants to seal what the current chunk holds
                segments.roll_wanted = False
                segments.roll(0)
            if self._writer.queue:
                drain_queue(
                    segments, self._writer.queue, self._writer.health
                )  # system metrics, queued elsewhere
        if step is None and self._pending is None and self._step > MAX_STEP:
            raise UsageError(
                f"the step counter has reached the int64 limit ({MAX_STEP}); "
                "no later step can be logged in this run"
            )

    def _drain_queued_rows(self) -> None:
        """Write the rows other threads queued (system metrics, the TensorBoard mirror) into
        the tail chunk now; called on the logging thread, which owns the chunks."""
        segments = self._segments
        if segments is not None and self._writer.queue and not self._finished:
            drain_queue(segments, self._writer.queue, self._writer.health)

    def _writer_has_news(self) -> None:
        """Called by the writer thread: the next log() must look at what it reports."""
        self._attention = True

    def _raise_if_writer_failed(self) -> None:
        failure = self._writer.failure
        if failure is not None:
            self._attention = True
            raise RunWriteError(
                f"run {self.id}: the background writer cannot write this run's data ({failure}). "
                "Logging has stopped; finish() marks the run failed. Data written before the "
                "failure is kept; check the disk and the log messages above, and start a new run."
            )

    def _wake_writer(self) -> None:
        self._writer.wake()
        if len(self._queue) > self._max_queue:
            self._writer.wait_for_room()  # bounded memory: a runaway loop waits for the disk

    def _add_slow(self, row: dict[str, Any], key: Any, value: Any) -> None:
        media = as_media(value) if isinstance(value, _MAYBE_MEDIA) else None
        if media is not None:
            for item in media if isinstance(media, list) else [media]:
                self._add_media(key, item)
            return
        if isinstance(value, Mapping) and isinstance(key, str):
            for sub_key, sub_value in flatten(value, f"{key}/"):
                if type(sub_value) is TooDeep:
                    self._reject(sub_key, sub_value.type_name, sub_value.reason)
                else:
                    self._add_slow(row, sub_key, sub_value)
            return
        try:
            check_key(key)
            stored, kind = coerce_scalar(value)
        except Unsupported as exc:
            self._reject(key, type(value).__name__, str(exc))
            return
        known = self._dtypes.get(key)
        if known != kind:
            self._dtypes[key] = kind if known is None or _rank(kind) > _rank(known) else known
        row[key] = stored

    def _add_media(self, key: Any, value: Media) -> None:
        try:
            check_key(key)
        except Unsupported as exc:
            self._reject(key, type(value).__name__, str(exc))
            return
        if value.error:
            self._reject(key, type(value).__name__, value.error)
            return
        self._call_media.append((key, value))

    def _queue_media(self, step: int | None) -> None:
        if step is None:
            step = self._pending_step if self._pending is not None else self._step
        now = time.time()
        for key, value in self._call_media:
            self._writer.media_queue.append((key, int(step), now, value))
        self._call_media = []

    def _reject(self, key: Any, type_name: str, reason: str) -> None:
        message = f"run.log(): key {key!r} ({type_name}) dropped: {reason}"
        if self._strict:
            self._call_media = []
            raise UnsupportedValueError(
                message + " (strict mode; nothing from this call was logged)"
            )
        if key not in self._warned_keys:
            self._warned_keys.add(key)
            warnings.warn(
                message + ". Other keys are kept; further drops of it are silent.",
                stacklevel=user_stacklevel(),
            )

    def _log_general(self, row: dict[str, Any], step: Any, commit: bool) -> None:
        s = step
        if step is None:
            s = self._pending_step if self._pending is not None else self._step
            if s > MAX_STEP:
                raise UsageError(f"the step counter has reached the int64 limit ({MAX_STEP})")
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
        highest = self._step - 1  # steps only ever go up by one from the highest logged
        if s < highest and not self._warned_backwards:
            self._warned_backwards = True
            warnings.warn(
                f"run.log(): step {s} is lower than step {highest} already logged. "
                "localtrack keeps it (W&B would drop it); for a (key, step) logged twice the later "
                "value wins. This warning is shown once per run.",
                stacklevel=user_stacklevel(),
            )
        self._step = max(self._step, s + 1)
        if self._step > _NEAR_STEP_LIMIT:
            self._attention = True
        if row:
            self._emit(s, row)

    # -- summary ------------------------------------------------------------------------------

    def _summary(self) -> dict[str, Any]:
        # from memory (written rows and those still queued): a read never waits for an fsync
        return compute_summary(self._meta.snapshot(), self._writer.stats_now())

    def _stats_snapshot(self) -> dict[str, KeyStats]:
        return dict(self._writer.stats)

    def __enter__(self) -> Run:
        return self


def _rank(kind: str) -> int:
    return {"bool": 0, "int": 1, "float": 2}.get(kind, 2)
