"""The background writer of one live run: buffer → tail log → sealed shards → index.

The training thread only appends ``(step, wall_time, {key: value})`` tuples to ``queue`` (a
deque, so appends never block). About once a second (or sooner when the queue is large) this
thread turns the queued rows into one Arrow batch, appends it to the tail log as one CRC-framed
record, fsyncs, and updates the index. When enough rows have accumulated, or enough time has
passed, the batches are sealed into a Parquet shard and the tail log is emptied. Shards are merged
(tiered compaction) so a day-long run leaves a handful of files, not thousands.

Transient failures (disk full, I/O errors, a locked or missing index) never reach the training
thread: the rows stay in memory, a warning is logged once, and the next round tries again. A
deterministic failure that repeats makes the writer give up loudly, and a value that cannot be
stored costs only itself (writerhealth.py, badrows.py).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from .badrows import rows_to_table_isolating
from .compaction import compaction_group, merge_shards
from .fsdetect import is_network_filesystem
from .index import Index
from .layout import RunPaths, ShardName
from .livestats import stats_with_unwritten, undecoded_tables
from .media import MediaWriter
from .metrics import KeyStats, Row, encode_batch, merge_dtype, sort_rows, update_stats
from .runmeta import MetaDocument
from .runpublish import RunPublisher
from .segseal import SegmentRounds
from .segwriter import TailSegments, chunk_bytes_for
from .shards import ShardInfo, write_shard
from .taillog import RECORD_METRICS, TailWriter
from .writerhealth import WriterHealth

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriterOptions:
    """Timing and size knobs of the background writer."""

    flush_interval_s: float = 0.5
    wake_rows: int = 20_000  # queued rows that wake the writer before its interval is up
    batch_rows: int = 50_000  # rows converted and written at a time, so progress lands early
    max_queue_rows: int = 50_000  # beyond this, log() waits for the writer (bounded memory)
    seal_scalars: int = 500_000
    seal_interval_s: float = 300.0
    heartbeat_interval_s: float = 5.0
    compaction_fanout: int = 4
    compaction_min_rows: int = 10_000
    merge_sort_rows: int = 500_000  # merges bigger than this join row groups instead of sorting
    mapped_tail: bool = True  # log() writes to mapped tail segments (not on network filesystems)


class RunWriter(SegmentRounds):
    """Owns every file write of one run segment, on its own thread."""

    def __init__(
        self,
        paths: RunPaths,
        segment: int,
        meta: MetaDocument,
        open_index: Callable[[], Index | None],
        dtypes: dict[str, str],
        stats: dict[str, KeyStats],
        shards: list[ShardInfo],
        options: WriterOptions | None = None,
    ) -> None:
        self.paths = paths
        self.segment = segment
        self.meta = meta
        self.options = options or WriterOptions()
        self.queue: deque[Row] = deque()
        self.health = WriterHealth(paths.run_id)
        self._media = MediaWriter(paths, segment, self.health.warn, self.health.recovered)
        self.media_queue = self._media.queue
        self.dtypes = dtypes
        self.stats = stats
        # held while rows move queue → pending → stats, so stats_now() counts each row once
        self.stats_lock = threading.Lock()
        self._publisher = RunPublisher(
            paths, meta, stats, open_index, self.health, self.options.heartbeat_interval_s
        )
        self._shards = [s for s in shards if s.name.segment == segment]
        self._next_batch = max((s.name.last_batch for s in self._shards), default=0) + 1
        self._pending: list[pa.Table] = []
        self._unsealed: list[tuple[int, pa.Table]] = []
        self._unsealed_rows = 0
        self._oldest_unsealed = time.monotonic()
        self._synced_through = self._next_batch - 1  # batches up to here are durable
        self._wake = threading.Event()
        self._room = threading.Event()
        self._stop = threading.Event()
        self._flushed = threading.Condition()
        self._flush_requested = 0  # flush() calls so far
        self._flush_served = 0  # the last request whose rows are on disk
        self._tail: TailWriter | None = None
        self._rescued: set[int] = set()
        self.segments: TailSegments | None = None
        if self.options.mapped_tail and not is_network_filesystem(paths.dir):
            self.segments = TailSegments(
                paths.dir,
                segment,
                self._next_batch,
                chunk_bytes_for(self.options.seal_scalars),
                self.health.warn,
                self.health.recovered,
            )
        self._thread = threading.Thread(
            target=self._run, name=f"localtrack-writer-{paths.run_id}", daemon=True
        )

    # -- called from the training thread ------------------------------------------------------

    def start(self) -> None:
        self.paths.metrics.mkdir(parents=True, exist_ok=True)
        self._publisher.touch_heartbeat()
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything queued before this call is on disk; False on timeout."""
        with self._flushed:
            self._flush_requested += 1
            ticket = self._flush_requested
            self._wake.set()
            return self._flushed.wait_for(
                lambda: (
                    self._flush_served >= ticket
                    or not self._thread.is_alive()
                    or self.health.failure is not None
                ),
                timeout,
            )

    def close(self, timeout: float | None = None) -> bool:
        """Seal everything into shards and stop the thread; False if it did not finish in time."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def healthy(self) -> bool:
        # Segment path: rows other threads queue (system metrics) are written by the training
        # thread, at its next log() or in flush() before it asks; one queued while a flush
        # waits is newer than that flush and must not hold it back.
        segments = self.segments
        if segments is not None and self._segment_values_at_risk(segments, queued=False):
            return False
        return not self._pending and not self._media.pending

    @property
    def failure(self) -> str | None:
        """Why the writer gave up (a deterministic error that repeated), or None."""
        return self.health.failure

    def stats_now(self) -> dict[str, KeyStats]:
        """Statistics of every row logged so far, written or not, from memory: what
        ``run.summary`` reads on the training thread (the only thread that appends rows)."""
        dtypes = dict(self.dtypes)
        with self.stats_lock:
            stats, pending, rows = dict(self.stats), list(self._pending), list(self.queue)
            if self.segments is not None:  # rows the writer has not decoded yet
                tables, kinds = undecoded_tables(self.segments)
                pending += tables
                for key, kind in kinds.items():
                    dtypes[key] = merge_dtype(dtypes.get(key), kind)
        return stats_with_unwritten(stats, pending, rows, dtypes)

    def values_at_risk(self) -> int:
        """Logged values (and media items) not yet durable on disk: 0 once all are written."""
        if self.segments is not None:
            return self._segment_values_at_risk(self.segments) + self._media.at_risk
        queued = sum(len(row[2]) for row in list(self.queue))
        pending = sum(t.num_rows for t in list(self._pending))
        synced = self._synced_through
        unsynced = sum(t.num_rows for b, t in list(self._unsealed) if b > synced)
        return queued + pending + unsynced + self._media.at_risk

    # -- the writer thread --------------------------------------------------------------------

    def _run(self) -> None:
        if self.segments is not None:
            self._loop()
            return
        try:
            self._tail = TailWriter(self.paths.tail(self.segment))
        except OSError as exc:
            self.health.warn(
                "tail", f"cannot open the tail log ({exc}); logged data stays in memory"
            )
        self._loop()

    def _loop(self) -> None:
        self.health.run_stage("index", self._publisher.update_index, False)
        while not self._stop.is_set():
            self._wake.wait(self.options.flush_interval_s)
            self._wake.clear()
            if self._stop.is_set():
                break
            self._round(final=False)
        self._round(final=True)

    def _round(self, final: bool) -> None:
        with self._flushed:
            serving = self._flush_requested  # rows queued before these requests are drained below
        stages: list[tuple[str, Callable[[], object]]] = [
            ("media", self._write_media),
            ("metrics", lambda: self._write_metrics(final)),
            ("run.json", self.meta.save_if_unsaved),
            ("heartbeat", self._publisher.maybe_heartbeat),
            ("index", self._publisher.update_index),
        ]
        try:
            for stage, action in stages:  # each stage apart: one failing never blocks the others
                self.health.run_stage(stage, action, final)
        finally:
            with self._flushed:
                if self.healthy:
                    self._flush_served = max(self._flush_served, serving)
                self._flushed.notify_all()
        if final:
            self._close_files()

    def _write_metrics(self, final: bool) -> None:
        if self.segments is not None:
            self._segment_round(self.segments, final)
        elif final:  # straight into a shard: a tail write first would slow every finish()
            self._collect(limit=None)
            self._seal(final=True)
        else:
            self._drain_to_tail()
            if self._seal_due():
                self._seal(final=False)

    def _collect(self, limit: int | None) -> int:
        """Turn up to `limit` queued rows into a pending batch; returns how many.

        The rows leave the queue only once converted, so an unexpected error keeps them there.
        """
        queue = self.queue
        n = len(queue) if limit is None else min(len(queue), limit)
        if n:
            rows = list(itertools.islice(queue, n))  # one C call: appends cannot interleave
            table, dropped = rows_to_table_isolating(rows)
            with self.stats_lock:  # rows move from queue to pending at once (stats_now)
                for _ in range(n):
                    queue.popleft()
                if table.num_rows:
                    self._pending.append(table)
            self.health.dropped(dropped)
        if len(queue) < self.options.max_queue_rows:
            self._room.set()
        return n

    def _drain_to_tail(self) -> None:
        """Convert and append queued rows batch by batch (each lands as soon as it is written)."""
        landed = False
        budget = len(self.queue)  # rows queued now; later ones wait for the next round
        while True:
            got = self._collect(limit=min(self.options.batch_rows, budget))
            budget -= got
            landed = self._append_to_tail() or landed
            if not got or budget <= 0 or self._pending or self._stop.is_set():
                break
        if landed and self._tail is not None:
            try:
                self._tail.sync()
            except OSError as exc:
                self.health.warn("tail-sync", f"fsync of the tail log failed: {exc}")
            else:
                self._synced_through = self._next_batch - 1

    def wait_for_room(self, timeout: float = 30.0) -> None:
        """Called by log() when the queue is full: wait until the writer has drained some."""
        self._room.clear()
        self._wake.set()
        if self._thread.is_alive() and len(self.queue) >= self.options.max_queue_rows:
            self._room.wait(timeout)

    def _write_media(self) -> None:
        """Encode queued media (PNG, Parquet), store blobs once, append the media log."""
        if self._media.write():
            self._publisher.dirty = True

    def _append_to_tail(self) -> bool:
        """Append pending batches to the tail log (not fsynced); True if any landed."""
        if self._tail is None:
            try:
                self._tail = TailWriter(self.paths.tail(self.segment))
            except OSError:
                return False
        landed = False
        while self._pending:
            table = self._pending[0]
            batch = self._next_batch
            try:
                self._tail.append(RECORD_METRICS, encode_batch(batch, table, self.dtypes.copy()))
            except OSError as exc:
                self.health.warn(
                    "tail-write", f"cannot write the tail log ({exc}); keeping rows in memory"
                )
                break
            with self.stats_lock:
                self._pending.pop(0)
                self._next_batch += 1
                self._land(batch, table)
            landed = True
        if landed:
            self.health.recovered("tail-write")
        return landed

    def _land(self, batch: int, table: pa.Table) -> None:
        if not self._unsealed:
            self._oldest_unsealed = time.monotonic()
        self._unsealed.append((batch, table))
        self._unsealed_rows += table.num_rows
        update_stats(self.stats, table, self.dtypes)
        self._publisher.keys_changed(table.column("key").unique().to_pylist())

    def _seal_due(self) -> bool:
        if not self._unsealed:
            return False
        age = time.monotonic() - self._oldest_unsealed
        return (
            self._unsealed_rows >= self.options.seal_scalars or age >= self.options.seal_interval_s
        )

    def _seal(self, final: bool) -> None:
        in_tail_up_to = self._next_batch - 1  # batches numbered so far went through the tail
        if final:
            with self.stats_lock:
                for table in self._pending:
                    self._land(self._next_batch, table)
                    self._next_batch += 1
                self._pending = []
        if not self._unsealed:
            return
        first, last = self._unsealed[0][0], self._unsealed[-1][0]
        name = ShardName(self.segment, first, last)
        table = sort_rows([t for _, t in self._unsealed])
        try:
            info = write_shard(self.paths.shard(name), name, table, self.dtypes.copy())
        except OSError as exc:
            self.health.warn("seal", f"cannot write shard {name.filename} ({exc}); will retry")
            if final:
                self._rescue_into_tail(after=in_tail_up_to)
            return
        except Exception:
            if final:  # whatever went wrong, what is in memory must reach the disk
                self._rescue_into_tail(after=in_tail_up_to)
            raise
        self.health.recovered("seal")
        self._shards.append(info)
        self._record_hashes(add=[info], remove=[])
        self._publisher.index_call(lambda idx: idx.replace_shards(self.paths.run_id, [info], []))
        self._unsealed, self._unsealed_rows = [], 0
        if self._tail is not None:
            with contextlib.suppress(OSError):
                self._tail.reset()
        self._compact()

    def _rescue_into_tail(self, after: int) -> None:
        """At finish, when a shard cannot be written: add to the tail log the batches that
        never reached it (those numbered after `after`), so the next open can seal them."""
        try:
            if self._tail is None:
                self._tail = TailWriter(self.paths.tail(self.segment))
            for batch, table in self._unsealed:
                if batch > after:
                    self._tail.append(
                        RECORD_METRICS, encode_batch(batch, table, self.dtypes.copy())
                    )
                    after = batch
            self._tail.sync()
        except OSError as exc:
            self.health.warn("rescue", f"cannot add unsealed rows to the tail log either ({exc})")
            return
        self._synced_through = max(self._synced_through, after)

    def _record_hashes(self, add: list[ShardInfo], remove: list[str]) -> None:
        """Keep run.json's map of shard sha256s (what readers verify files against) current."""
        hashes = self.meta.get("shards") or {}
        for name in remove:
            hashes.pop(name, None)
        for info in add:
            hashes[info.name.filename] = info.sha256
        self.meta.update(shards=hashes)

    def _write_shard(
        self, path: Path, name: ShardName, table: pa.Table, dtypes: dict[str, str]
    ) -> ShardInfo:
        return write_shard(path, name, table, dtypes)

    # -- compaction ---------------------------------------------------------------------------

    def _compact(self) -> None:
        options = self.options
        while group := compaction_group(
            self._shards, options.compaction_min_rows, options.compaction_fanout
        ):
            try:
                merged = merge_shards(
                    self.paths, self.segment, group, self.dtypes, options.merge_sort_rows
                )
            except Exception as exc:  # the shards stay as they are; a later seal tries again
                self.health.warn("compact", f"compaction skipped: {exc}")
                return
            self._replace(group, merged)

    def _replace(self, group: list[ShardInfo], merged: ShardInfo) -> None:
        removed = [s.name.filename for s in group]
        self._record_hashes(add=[merged], remove=removed)
        self._publisher.index_call(
            lambda idx: idx.replace_shards(self.paths.run_id, [merged], removed)
        )
        for info in group:
            self.paths.shard(info.name).unlink(missing_ok=True)
        self._shards = [*self._shards[: -len(group)], merged]

    # -- index, heartbeat ---------------------------------------------------------------------

    def publish_meta_later(self) -> None:
        """Ask the writer thread to refresh the run's index row on its next round."""
        self._publisher.dirty = True

    def publish_meta(self) -> None:
        """Write the run's current index row (after run.json changed).

        Before the thread starts (init) the thread does it first thing: opening the index imports
        sqlite-utils (and what it pulls in), which the training thread should not wait for."""
        self._publisher.dirty = True
        if self._thread.ident is None and self.segments is not None:
            return
        self._publisher.update_index()

    def _close_files(self) -> None:
        if self.segments is not None:
            self._close_segments(self.segments)
        if self._tail is not None:
            self._tail.close()
            if not self._unsealed and not self._pending:
                self.paths.tail(self.segment).unlink(missing_ok=True)
        self._publisher.checkpoint()

    def close_index(self) -> None:
        self._publisher.close()
