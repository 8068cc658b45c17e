"""The background writer of one live run: buffer → tail log → sealed shards → index.

The training thread only appends ``(step, wall_time, {key: value})`` tuples to ``queue`` (a
deque, so appends never block). About once a second (or sooner when the queue is large) this
thread turns the queued rows into one Arrow batch, appends it to the tail log as one CRC-framed
record, fsyncs, and updates the index. When enough rows have accumulated, or enough time has
passed, the batches are sealed into a Parquet shard and the tail log is emptied. Shards are merged
(tiered compaction) so a day-long run leaves a handful of files, not thousands.

Failures (disk full, I/O errors, a locked or missing index) never reach the training thread:
the rows stay in memory, a warning is logged once, and the next round tries again.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from .index import Index
from .layout import RunPaths, ShardName
from .media import MediaLog, write_blob
from .metrics import (
    KeyStats,
    Row,
    encode_batch,
    merge_dtype,
    rows_to_table,
    sort_rows,
    update_stats,
)
from .runmeta import MetaDocument, index_row
from .shards import ShardInfo, concat_shards, read_shard, write_shard
from .taillog import RECORD_METRICS, TailWriter

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


class RunWriter:
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
        self.media_queue: deque[tuple[str, int, float, Any]] = deque()
        self._media_pending: list[tuple[str, int, float, Any]] = []
        self._media_log: MediaLog | None = None
        self.dtypes = dtypes
        self.stats = stats
        self._open_index = open_index
        self._index: Index | None = None
        self._shards = [s for s in shards if s.name.segment == segment]
        self._next_batch = max((s.name.last_batch for s in self._shards), default=0) + 1
        self._pending: list[pa.Table] = []
        self._unsealed: list[tuple[int, pa.Table]] = []
        self._unsealed_rows = 0
        self._oldest_unsealed = time.monotonic()
        self._dirty_keys: set[str] = set()
        self._index_dirty = True
        self._last_heartbeat = 0.0
        self._warned: set[str] = set()
        self._wake = threading.Event()
        self._room = threading.Event()
        self._stop = threading.Event()
        self._flushed = threading.Condition()
        self._flush_requested = 0  # flush() calls so far
        self._flush_served = 0  # the last request whose rows are on disk
        self._tail: TailWriter | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"localtrack-writer-{paths.run_id}", daemon=True
        )

    # -- called from the training thread ------------------------------------------------------

    def start(self) -> None:
        self.paths.metrics.mkdir(parents=True, exist_ok=True)
        self._touch_heartbeat()
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
                lambda: self._flush_served >= ticket or not self._thread.is_alive(), timeout
            )

    def close(self, timeout: float | None = None) -> bool:
        """Seal everything into shards and stop the thread; False if it did not finish in time."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def healthy(self) -> bool:
        return not self._pending and not self._media_pending

    # -- the writer thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._tail = TailWriter(self.paths.tail(self.segment))
        except OSError as exc:
            self._warn("tail", f"cannot open the tail log ({exc}); logged data stays in memory")
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
        try:
            self._write_media()
            if final:
                self._collect(limit=None)
                self._seal(final=True)
            else:
                self._drain_to_tail()
                if self._seal_due():
                    self._seal(final=False)
            self.meta.save_if_unsaved()
            self._maybe_heartbeat()
            self._update_index()
        except Exception as exc:
            self._warn(type(exc).__name__, f"writer round failed: {exc!r}; will retry")
        finally:
            with self._flushed:
                if self.healthy:
                    self._flush_served = max(self._flush_served, serving)
                self._flushed.notify_all()
        if final:
            self._close_files()

    def _collect(self, limit: int | None) -> int:
        """Turn up to `limit` queued rows into a pending batch; returns how many."""
        queue = self.queue
        n = len(queue) if limit is None else min(len(queue), limit)
        if n:
            rows = [queue.popleft() for _ in range(n)]
            self._pending.append(rows_to_table(rows))
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
                self._warn("tail-sync", f"fsync of the tail log failed: {exc}")

    def wait_for_room(self, timeout: float = 30.0) -> None:
        """Called by log() when the queue is full: wait until the writer has drained some."""
        self._room.clear()
        self._wake.set()
        if self._thread.is_alive() and len(self.queue) >= self.options.max_queue_rows:
            self._room.wait(timeout)

    def _write_media(self) -> None:
        """Encode queued media (PNG, Parquet), store blobs once, append the media log."""
        queue = self.media_queue
        self._media_pending.extend(queue.popleft() for _ in range(len(queue)))
        if not self._media_pending:
            return
        records = []
        try:
            if self._media_log is None:
                self._media_log = MediaLog(self.paths, self.segment)
            for key, step, wall, item in self._media_pending:
                try:
                    record, blobs = item.encode()
                except Exception as exc:
                    self._warn(f"media:{key}", f"could not encode {key!r} at step {step}: {exc}")
                    continue
                for sha, ext, data in blobs:
                    record.setdefault("file", None)
                    path = write_blob(self.paths, sha, ext, data)
                    if sha == record.get("sha256"):
                        record["file"] = path
                records.append({"key": key, "step": step, "wall_time": wall, **record})
            self._media_log.append(records)
        except OSError as exc:
            self._warn("media", f"cannot write media ({exc}); keeping it in memory")
            return
        self._media_pending = []
        self._clear_warning("media")
        self._index_dirty = True

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
                self._warn(
                    "tail-write", f"cannot write the tail log ({exc}); keeping rows in memory"
                )
                break
            self._pending.pop(0)
            self._next_batch += 1
            self._land(batch, table)
            landed = True
        if landed:
            self._clear_warning("tail-write")
        return landed

    def _land(self, batch: int, table: pa.Table) -> None:
        if not self._unsealed:
            self._oldest_unsealed = time.monotonic()
        self._unsealed.append((batch, table))
        self._unsealed_rows += table.num_rows
        update_stats(self.stats, table, self.dtypes)
        self._dirty_keys.update(table.column("key").unique().to_pylist())
        self._index_dirty = True

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
            self._warn("seal", f"cannot write shard {name.filename} ({exc}); will retry")
            if final:
                self._rescue_into_tail(after=in_tail_up_to)
            return
        self._clear_warning("seal")
        self._shards.append(info)
        self._record_hashes(add=[info], remove=[])
        self._index_call(lambda idx: idx.replace_shards(self.paths.run_id, [info], []))
        self._unsealed, self._unsealed_rows = [], 0
        if self._tail is not None:
            with contextlib.suppress(OSError):
                self._tail.reset()
        self._compact()

    def _rescue_into_tail(self, after: int) -> None:
        """At finish, when a shard cannot be written: add to the tail log the batches that
        never reached it (those numbered after `after`), so the next open can seal them."""
        if self._tail is None:
            return
        for batch, table in self._unsealed:
            if batch <= after:
                continue
            with contextlib.suppress(OSError):
                self._tail.append(RECORD_METRICS, encode_batch(batch, table, self.dtypes.copy()))
        with contextlib.suppress(OSError):
            self._tail.sync()

    def _record_hashes(self, add: list[ShardInfo], remove: list[str]) -> None:
        """Keep run.json's map of shard sha256s (what readers verify files against) current."""
        hashes = self.meta.get("shards") or {}
        for name in remove:
            hashes.pop(name, None)
        for info in add:
            hashes[info.name.filename] = info.sha256
        self.meta.update(shards=hashes)

    # -- compaction ---------------------------------------------------------------------------

    def _level(self, rows: int) -> int:
        base = self.options.compaction_min_rows
        return int(math.log(max(rows, base) / base, self.options.compaction_fanout))

    def _compact(self) -> None:
        fanout = self.options.compaction_fanout
        while len(self._shards) >= fanout:
            group = self._shards[-fanout:]
            if len({self._level(s.rows) for s in group}) != 1:
                return
            if not self._merge(group):
                return

    def _merge(self, group: list[ShardInfo]) -> bool:
        """Replace `group` by one shard: sorted when small, row groups joined when big."""
        name = ShardName(self.segment, group[0].name.first_batch, group[-1].name.last_batch)
        sources = [self.paths.shard(info.name) for info in group]
        dtypes = dict(self.dtypes)
        try:
            if sum(s.rows for s in group) <= self.options.merge_sort_rows:
                tables = []
                for source in sources:
                    table, shard_dtypes = read_shard(source)
                    tables.append(table)
                    for k, v in shard_dtypes.items():
                        dtypes[k] = merge_dtype(dtypes.get(k), v)
                merged = write_shard(self.paths.shard(name), name, sort_rows(tables), dtypes)
            else:
                merged = concat_shards(sources, self.paths.shard(name), name, dtypes)
        except Exception as exc:
            self._warn("compact", f"compaction skipped: {exc}")
            return False
        removed = [s.name.filename for s in group]
        self._record_hashes(add=[merged], remove=removed)
        self._index_call(lambda idx: idx.replace_shards(self.paths.run_id, [merged], removed))
        for info in group:
            self.paths.shard(info.name).unlink(missing_ok=True)
        self._shards = [*self._shards[: -len(group)], merged]
        return True

    # -- index, heartbeat ---------------------------------------------------------------------

    def _index_call(self, fn: Callable[[Index], None]) -> bool:
        if self._index is None:
            self._index = self._open_index()
            if self._index is None:
                return False
        try:
            with self._index.transaction():
                fn(self._index)
                self._index.bump_changes()
        except sqlite3.Error as exc:
            self._warn("index", f"index update failed ({exc}); `localtrack reindex` repairs it")
            return False
        self._clear_warning("index")
        return True

    def _update_index(self) -> None:
        if not self._index_dirty:
            return
        keys = set(self._dirty_keys)
        changed = {k: self.stats[k] for k in keys if k in self.stats}
        row = index_row(self.meta.snapshot(), self.stats, self._heartbeat_at())

        def apply(idx: Index) -> None:
            idx.upsert_run(row)
            idx.upsert_key_stats(self.paths.run_id, changed)

        if self._index_call(apply):
            self._dirty_keys -= keys
            self._index_dirty = False

    def publish_meta_later(self) -> None:
        """Ask the writer thread to refresh the run's index row on its next round."""
        self._index_dirty = True

    def publish_meta(self) -> None:
        """Write the run's current index row (after run.json changed)."""
        self._index_dirty = True
        self._update_index()

    def _heartbeat_at(self) -> float | None:
        try:
            return self.paths.heartbeat.stat().st_mtime
        except OSError:
            return None

    def _touch_heartbeat(self) -> None:
        try:
            with open(self.paths.heartbeat, "a"):
                pass
            os.utime(self.paths.heartbeat)
            self._last_heartbeat = time.monotonic()
        except OSError as exc:
            self._warn("heartbeat", f"cannot update the heartbeat file: {exc}")

    def _maybe_heartbeat(self) -> None:
        if time.monotonic() - self._last_heartbeat >= self.options.heartbeat_interval_s:
            self._touch_heartbeat()
            self._index_dirty = True

    def _close_files(self) -> None:
        if self._tail is not None:
            self._tail.close()
            if not self._unsealed and not self._pending:
                self.paths.tail(self.segment).unlink(missing_ok=True)
        if self._index is not None:
            with contextlib.suppress(sqlite3.Error):
                self._index.checkpoint()

    def close_index(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    # -- warnings -----------------------------------------------------------------------------

    def _warn(self, kind: str, message: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            log.warning("run %s: %s", self.paths.run_id, message)

    def _clear_warning(self, kind: str) -> None:
        if kind in self._warned:
            self._warned.discard(kind)
            log.warning("run %s: %s recovered; logging continues", self.paths.run_id, kind)
