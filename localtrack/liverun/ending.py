"""How a live run ends: flush(), finish() and the ``with`` block (mixed into Run, live.py).

finish() stops the background workers, waits (at most ``finish_timeout``) for the writer to seal
everything, and records the outcome in run.json: ``finished``, ``failed`` with the reason when
logged data could not all reach the disk, ``crashed`` after a signal, ``stopped`` by a sweep.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any

from ..errors import RunWriteError
from ..store.keystats import KeyStats
from ..store.runmeta import MetaDocument, compute_summary
from ..store.writerhealth import MAX_REASON_CHARS
from .callsite import user_stacklevel
from .values import check_exit_code

if TYPE_CHECKING:
    from ..store.segwriter import TailSegments
    from ..store.writer import RunWriter

log = logging.getLogger(__name__)


class RunEnding:
    """Mixed into Run: flush, finish, and the context manager."""

    _writer: RunWriter
    _segments: TailSegments | None
    _meta: MetaDocument
    _settings: dict[str, Any]
    _lock: threading.Lock
    _pending: dict[str, Any] | None
    _finished: bool
    _attention: bool
    _background: list[Any]
    _stop_reason: str | None
    _writer_lock: Any
    exit_reason: dict[str, Any] | None

    @property
    def id(self) -> str:
        raise NotImplementedError

    def _raise_if_writer_failed(self) -> None:
        raise NotImplementedError

    def _commit_pending(self) -> None:
        raise NotImplementedError

    def _stats_snapshot(self) -> dict[str, KeyStats]:
        raise NotImplementedError

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
        """Block until everything logged so far is durable on disk; False on timeout.

        Raises RunWriteError when the writer has failed (the data cannot become durable).
        """
        self._raise_if_writer_failed()
        with self._lock:
            if self._pending is not None:
                self._commit_pending()
        wait = timeout if timeout is not None else self._settings["finish_timeout"]
        segments = self._segments
        if segments is None:
            done = self._writer.flush(wait)
        else:
            done = self._flush_segments(segments, wait)
        self._raise_if_writer_failed()
        return done

    def _flush_segments(self, segments: TailSegments, wait: float) -> bool:
        # While this thread waits it appends nothing, so the writer may append the rows other
        # threads queued (system metrics) itself: otherwise one that arrives during the wait
        # would hold the flush until its timeout.
        segments.hand_over()
        try:
            done = self._writer.flush(wait)
            if done and segments.roll_wanted:
                # The flushed rows reached the seal threshold: start the next chunk here (the
                # training thread owns the chunks) so that the writer seals them now, as the
                # classic write path does at a flush, instead of at the next log().
                segments.take_back()
                segments.roll_wanted = False
                segments.roll(0)
                segments.hand_over()
                done = self._writer.flush(wait)
        finally:
            segments.take_back()
        return done

    def finish(self, exit_code: int = 0, quiet: bool | None = None) -> None:
        """Make everything durable and mark the run finished (exit_code 0) or failed.

        Idempotent. Never hangs: after `finish_timeout` seconds it gives up waiting, logs a
        warning, and leaves the rest to `localtrack doctor --repair`. When logged data could not
        all be written (the writer failed, or rows were still in memory at the deadline), the run
        is marked ``failed`` with the reason in run.json's ``failure`` and RunWriteError is raised
        once the run is closed.
        """
        if self._finished:
            return
        exit_code = check_exit_code(exit_code)
        self._finished = self._attention = True
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
        failure = self._unwritten_reason(complete, deadline)
        self._record_end(exit_code, failure, deadline)
        for message in self._writer.health.take_notices():
            warnings.warn(message, RuntimeWarning, stacklevel=user_stacklevel())
        if failure is not None:
            log.error("run %s: marked failed: %s", self.id, failure)
            raise RunWriteError(f"run {self.id} is marked failed: {failure}")
        if not complete:
            log.warning(
                "run %s: finish() gave up after %.0f s; data up to the last flush is on disk. "
                "Run `localtrack doctor --repair` to seal the rest.",
                self.id,
                deadline,
            )

    def _unwritten_reason(self, complete: bool, deadline: float) -> str | None:
        """Why the run must not read as finished: its data did not all reach the disk."""
        failure = self._writer.failure
        if failure is not None:
            return f"the background writer failed: {failure}"[:MAX_REASON_CHARS]
        at_risk = self._writer.values_at_risk()
        if not at_risk:
            return None
        why = f"gave up after {deadline:.0f} s" if not complete else "could not write them"
        return f"{at_risk} logged values never reached the disk (finish() {why})"

    def _record_end(self, exit_code: int, failure: str | None, deadline: float) -> None:
        state = "finished" if exit_code == 0 and failure is None else "failed"
        if self.exit_reason is not None and self.exit_reason.get("signal"):
            state = "crashed"  # killed: what W&B shows (see lifecycle.py)
        if self._stop_reason is not None and failure is None:
            state = "stopped"  # a sweep's controller ended it (localtrack/sweeps)
        now = time.time()
        try:
            segments = self._meta.get("segments") or [{}]
            segments[-1].update(ended_at=now, exit_code=exit_code)
            summary = compute_summary(self._meta.snapshot(), self._stats_snapshot())
            self._meta.update(
                state=state,
                ended_at=now,
                exit_code=exit_code,
                segments=segments,
                summary=summary,
                failure=failure,
                exit_reason=self.exit_reason,
            )
            self._writer.publish_meta()
        except OSError as exc:
            log.warning("run %s: could not record the final state (%s)", self.id, exc)
        finally:
            self._writer.close_index()
            self._wait_for_background(deadline)
            from . import lifecycle

            lifecycle.forget(self)
            if self._writer_lock is not None:
                self._writer_lock.release()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        from . import lifecycle

        code = lifecycle.end_of_block(self, exc)
        if not code:
            self.finish(exit_code=0)
            return False
        try:
            self.finish(exit_code=code)
        except RunWriteError as error:  # the block's own exception is the one to see
            log.error("%s", error)
        return False
