"""What one UI app holds: the store reader, the change feed, and a snapshot of every run.

Listing runs is the expensive read (``StoreReader.runs()`` decodes each run's JSON: about 0.8 s
for 10,000 runs on 2 cores), so the projects page and the runs table share one snapshot of all
runs, flattened once. It is rebuilt when the change counter moves (or every 30 s, because a run's
state can turn to "crashed" and its duration grows without any file changing):

- when a rebuild is quick (under ``SYNC_BUILD_S``), in the request, so small stores are never stale;
- when it is slow, in a background thread, while requests keep getting the previous snapshot, and
  no more often than every ``MIN_GAP_FACTOR`` build times, so a live run in a 10,000-run store
  costs a fraction of a core, not all of it. Responses built from a stale snapshot carry that
  snapshot's ETag, so the browser asks again and gets the new one as soon as it exists.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import g, has_request_context

from localtrack.alerts.service import AlertService
from localtrack.store.reader import RunInfo, StoreReader

from .catalog import Record, make_record
from .live import ChangeFeed

log = logging.getLogger(__name__)

CLOCK_BUCKET_S = 10.0  # while a run is running: how often its derived state may be re-read
SNAPSHOT_MAX_AGE_S = 30.0
SYNC_BUILD_S = 0.15
MIN_GAP_FACTOR = 4.0
BOOT = secrets.token_hex(3)  # per process: see ``UIState.data_etag``


@dataclass(frozen=True)
class Snapshot:
    """Every run, flattened for the table, as of one change-counter value."""

    stamp: tuple[Any, ...]
    records: list[Record]
    by_project: dict[str, list[Record]]
    built_at: float
    build_s: float
    etag: str = field(default="")
    by_id: dict[str, Record] = field(default_factory=dict)

    @property
    def any_running(self) -> bool:
        return any(rec.run.state == "running" for rec in self.records)


class UIState:
    """Per-app state, stored as ``app.extensions["localtrack"]``."""

    def __init__(self, reader: StoreReader, feed: ChangeFeed | None) -> None:
        self.reader = reader
        self.feed = feed
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._building = False
        self._build_lock = threading.Lock()
        self._alerts: AlertService | None = None
        self._alerts_lock = threading.Lock()

    def alerts(self) -> AlertService:
        """The app's alert dispatcher (started on first use) and, once ``localtrack ui`` or
        ``localtrack server`` asks, its evaluator."""
        with self._alerts_lock:
            if self._alerts is None:
                self._alerts = AlertService(self.reader.root, self.reader)
            return self._alerts

    def counter(self) -> int:
        return self.feed.version if self.feed is not None else self.reader.changes()

    def version(self) -> tuple[int, int]:
        """(change counter, liveness bucket). The counter moves when data lands; the bucket
        moves every few seconds only while some run is running (its state can turn to
        "crashed" and its duration grows with no file changing), and is 0 otherwise."""
        snap = self._snapshot
        live = snap is not None and snap.any_running
        return self.counter(), int(time.time() // CLOCK_BUCKET_S) if live else 0

    def data_etag(self) -> str:
        """The ETag of data read from files (chart series, media): the change counter alone,
        so two polls with nothing new get a 304 however far apart they are. The boot nonce
        keeps a tag from an earlier server (whose counter started at 0 too) from matching."""
        return f"{BOOT}-{self.counter():x}"

    def etag(self) -> str:
        """The ETag of views that show run states and durations (see ``version``)."""
        counter, bucket = self.version()
        return f"{BOOT}-{counter:x}-{bucket:x}"

    # -- the runs snapshot ---------------------------------------------------------------------

    def _stamp(self) -> tuple[Any, ...]:
        changes = self.reader.changes() if self.feed is not None else None
        return (self.counter(), changes, int(time.time() // SNAPSHOT_MAX_AGE_S))

    def snapshot(self, fresh: bool = False) -> Snapshot:
        """The current snapshot of every run (see the module docstring for when it is rebuilt);
        `fresh`: built in this request if it is out of date, however long that takes."""
        stamp = self._stamp()
        with self._lock:
            current = self._snapshot
            if current is not None and current.stamp == stamp:
                return current
            if current is not None and current.build_s > SYNC_BUILD_S and not fresh:
                self._rebuild_later(current)
                if has_request_context():
                    g.lt_etag = current.etag  # see responses.conditional
                return current
        with self._build_lock:  # one build at a time; a waiting request takes its result
            current = self._snapshot
            if current is not None and current.stamp == stamp:
                return current
            return self._build(stamp, self.etag())

    def _build(self, stamp: tuple[Any, ...], etag: str) -> Snapshot:
        start = time.perf_counter()
        records = [rec for run in self.reader.runs() if (rec := _record_or_none(run)) is not None]
        by_project: dict[str, list[Record]] = {}
        for rec in records:
            by_project.setdefault(rec.run.namespace, []).append(rec)
        by_id = {rec.run.id: rec for rec in records}
        snap = Snapshot(
            stamp, records, by_project, time.monotonic(), time.perf_counter() - start, etag, by_id
        )
        with self._lock:
            if self._snapshot is None or self._snapshot.built_at <= snap.built_at:
                self._snapshot = snap
        return snap

    def _rebuild_later(self, current: Snapshot) -> None:
        """Start one background rebuild, unless one runs or the last was too recent (lock held)."""
        if self._building:
            return
        wait = current.built_at + MIN_GAP_FACTOR * current.build_s - time.monotonic()
        self._building = True
        threading.Thread(target=self._background, args=(max(0.0, wait),), daemon=True).start()

    def _background(self, wait: float) -> None:
        try:
            time.sleep(wait)
            with self._build_lock:
                self._build(self._stamp(), self.etag())
        except Exception:  # a failed rebuild keeps the old snapshot; the next request retries
            log.exception("rebuilding the runs snapshot of %s failed", self.reader.root)
        finally:
            with self._lock:
                self._building = False

    def warm_up(self) -> None:
        """Build the first snapshot in the background, so the first page is fast."""
        threading.Thread(
            target=self._quietly(self.snapshot), name="localtrack-ui-warm", daemon=True
        ).start()

    def _quietly(self, fn: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except Exception:  # the first request will build it again and report the problem
                log.exception("warming up the runs snapshot of %s failed", self.reader.root)

        return run

    def run_infos(self, run_ids: Sequence[str]) -> dict[str, RunInfo]:
        """Each run (full id → RunInfo) from the runs snapshot, reading only those it lacks
        (an id prefix, a run newer than the snapshot): a chart over 100 runs needs their names
        and metric definitions without reading 100 run records per request."""
        known = self.snapshot().by_id
        out: dict[str, RunInfo] = {}
        for run_id in run_ids:
            rec = known.get(run_id)
            info = rec.run if rec is not None else self.reader.run(run_id)
            out[info.id] = info
        return out

    def records(self, project: str | None) -> list[Record]:
        """Flattened records of every run (of one project), newest first."""
        snap = self.snapshot()
        if project is None:
            return snap.records
        if project not in snap.by_project and snap.stamp != self._stamp():
            # a project that just arrived (a sync, an import) must not answer "no such project"
            # from an out-of-date snapshot: this request waits for the new one
            snap = self.snapshot(fresh=True)
        return snap.by_project.get(project, [])

    def close(self) -> None:
        if self.feed is not None:
            self.feed.stop()
        if self._alerts is not None:
            self._alerts.close()


def _record_or_none(run: RunInfo) -> Record | None:
    """A run's table record; None (logged) when its metadata cannot be flattened, so one
    run's junk never costs everyone the listing."""
    try:
        return make_record(run)
    except (TypeError, ValueError, AttributeError, RecursionError) as exc:
        log.warning(
            "run %s is left out of the runs table: its metadata is malformed (%s)", run.id, exc
        )
        return None
