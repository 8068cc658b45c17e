"""Delivering alerts in the background: a queue, one worker thread, retries with backoff.

``Dispatcher.submit`` returns at once; the worker sends each (event, destination) pair with
``destinations.send`` and retries what is worth retrying after 1, 2, 4, ... seconds (``backoff_s``
doubles, ``attempts`` in all). The final outcome of each pair is recorded with the project's
events as a ``delivery`` record (``stores.py``: a line of events.jsonl, or a row in PostgreSQL),
which the UI shows next to the alert. Nothing here raises
into the caller, and a destination that is slow only delays the alerts behind it.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import LocaltrackError
from .config import Destination
from .destinations import Outcome, send
from .stores import AlertStore, as_alert_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    project: str
    destination: Destination
    alert: dict[str, Any]
    attempt: int = 1


class Dispatcher:
    """The background sender of one store's alerts. `where`: the store's root (its alert state
    is its files, or its PostgreSQL index database) or an alert store."""

    def __init__(
        self, where: str | Path | AlertStore, attempts: int = 4, backoff_s: float = 1.0
    ) -> None:
        self.alert_store = as_alert_store(where)
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self._heap: list[tuple[float, int, Job]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stop = False
        self._busy = 0
        self.submitted: set[str] = set()  # ids of the events this process took to send

    def submit(
        self, project: str, destinations: tuple[Destination, ...], alert: dict[str, Any]
    ) -> None:
        """Queue `alert` for each destination; returns at once."""
        with self._cond:
            self.submitted.add(str(alert.get("id")))
            for dest in destinations:
                heapq.heappush(
                    self._heap, (time.monotonic(), next(self._order), Job(project, dest, alert))
                )
            self._start_locked()
            self._cond.notify_all()

    def _start_locked(self) -> None:
        if self._thread is None and not self._stop:
            self._thread = threading.Thread(
                target=self._run, name="localtrack-alerts-send", daemon=True
            )
            self._thread.start()

    def idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or being sent (tests, ``alerts test``); True if so."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.2))
        return True

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _next(self) -> Job | None:
        with self._cond:
            while not self._stop:
                if self._heap and self._heap[0][0] <= time.monotonic():
                    self._busy += 1
                    return heapq.heappop(self._heap)[2]
                wait = self._heap[0][0] - time.monotonic() if self._heap else None
                self._cond.wait(wait)
            return None

    def _run(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            try:
                self._attempt(job)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _send(self, job: Job) -> Outcome:
        field = "password" if job.destination.type == "email" else "url"
        try:
            secret = self.alert_store.secret_for(job.project, job.destination, field)
        except LocaltrackError as exc:  # PostgreSQL down, say: worth another try
            return Outcome(False, f"the destination's secret could not be read: {exc}", retry=True)
        return send(job.destination, job.alert, secret)

    def _attempt(self, job: Job) -> None:
        try:
            outcome = self._send(job)
        except Exception as exc:  # a bug in a sender must not stop every other delivery
            log.exception(
                "alert %s to %s failed unexpectedly", job.alert.get("id"), job.destination.id
            )
            outcome = Outcome(False, f"unexpected error: {type(exc).__name__}: {exc}")
        if not outcome.ok and outcome.retry and job.attempt < self.attempts:
            delay = self.backoff_s * 2 ** (job.attempt - 1)
            log.info(
                "alert %s to %s: %s; retrying in %gs",
                job.alert.get("id"),
                job.destination.id,
                outcome.detail,
                delay,
            )
            retry = Job(job.project, job.destination, job.alert, job.attempt + 1)
            with self._cond:
                heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), retry))
            return
        (log.info if outcome.ok else log.warning)(
            "alert %s to %s: %s", job.alert.get("id"), job.destination.id, outcome.detail
        )
        try:
            self.alert_store.record(
                job.project,
                {
                    "kind": "delivery",
                    "event": job.alert.get("id"),
                    "destination": job.destination.id,
                    "ok": outcome.ok,
                    "attempts": job.attempt,
                    "detail": outcome.detail,
                },
            )
        except (OSError, LocaltrackError) as exc:
            log.warning("could not record the delivery of alert %s: %s", job.alert.get("id"), exc)
