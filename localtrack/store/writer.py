"""The background writer of one live run: every file write of a run segment, on its own thread.

Metrics take one of two paths: ``log()`` packs rows into mapped tail segments that this thread
fsyncs and seals into Parquet shards (segseal.py), or, where mapping is unsafe (network
filesystems), it queues rows that this thread writes to the tail log and seals later
(classicrounds.py). Each round also writes media, run.json, the heartbeat and the index. Shards
are merged (tiered compaction) so a day-long run leaves a handful of files, not thousands.

Transient failures (disk full, I/O errors, a locked or missing index) never reach the training
thread: the rows stay in memory, a warning is logged once, and the next round tries again. A
deterministic failure that repeats makes the writer give up loudly, and a value that cannot be
stored costs only itself (writerhealth.py, badrows.py).

pyarrow, and every module built on it, is imported on this thread when first needed, never by
``init()`` on the training thread (which only needs the stdlib to pack rows).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .classicrounds import ClassicRounds
from .fsdetect import is_network_filesystem
from .indexbackend import IndexBackend
from .keystats import KeyStats, Row
from .layout import RunPaths, ShardName
from .media import MediaWriter
from .runmeta import MetaDocument
from .runpublish import RunPublisher
from .segseal import SegmentRounds
from .segwriter import TailSegments, chunk_bytes_for
from .taillog import TailWriter
from .writerhealth import WriterHealth

if TYPE_CHECKING:
    import pyarrow as pa

    from .shards import ShardInfo

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


class RunWriter(SegmentRounds, ClassicRounds):
    """Owns every file write of one run segment, on its own thread."""

    def __init__(
        self,
        paths: RunPaths,
        segment: int,
        meta: MetaDocument,
        open_index: Callable[[], IndexBackend | None],
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
        self._chunk_rows: dict[int, int] = {}  # mapped tail: segseal.SegmentRounds
        self._counted_scalars = 0
        self._oldest_chunk = self._counted_at = time.monotonic()
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
        self._segment_room = threading.Event()  # set when the writer released volatile chunks
        if self.segments is not None:
            self.segments.room_wait = self._wait_for_segment_room

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

    def _wait_for_segment_room(self, timeout: float) -> bool:
        """Called by a chunk roll when in-memory chunks are at their limit (segwriter.py)."""
        thread = self._thread
        if threading.current_thread() is thread or not thread.is_alive() or self.failure:
            return False
        self._segment_room.clear()
        self._wake.set()
        self._segment_room.wait(timeout)
        return True

    @property
    def healthy(self) -> bool:
        if self.segments is not None and self._segment_unwritten(self.segments):
            return False
        return not self._pending and not self._media.pending

    @property
    def failure(self) -> str | None:
        """Why the writer gave up (a deterministic error that repeated), or None."""
        return self.health.failure

    def stats_now(self) -> dict[str, KeyStats]:
        """Statistics of every row logged so far, written or not, from memory: what
        ``run.summary`` reads on the training thread (the only thread that appends rows)."""
        from .keystats import merge_dtype
        from .livestats import stats_with_unwritten, undecoded_tables

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
        else:
            self._classic_round(final)

    def _write_media(self) -> None:
        """Encode queued media (PNG, Parquet), store blobs once, append the media log."""
        if self._media.write():
            self._publisher.dirty = True

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
        return write_shard(path, name, table, dtypes)  # the module's: tests replace it

    # -- compaction ---------------------------------------------------------------------------

    def _compact(self) -> None:
        from .compaction import compaction_group, merge_shards

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


def write_shard(path: Path, name: ShardName, table: pa.Table, dtypes: dict[str, str]) -> ShardInfo:
    """shards.write_shard, imported on first use (on the writer thread)."""
    from .shards import write_shard as write

    return write(path, name, table, dtypes)
