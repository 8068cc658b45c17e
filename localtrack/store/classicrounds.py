"""The classic metrics path of a run's writer: queue → tail log → sealed shard.

Where ``log()`` cannot write mapped tail segments (network filesystems), it appends
``(step, wall_time, {key: value})`` tuples to the writer's queue. About once a second (or sooner
when the queue is large) the writer turns the queued rows into one Arrow batch, appends it to the
tail log as one CRC-framed record and fsyncs; when enough rows have accumulated, or enough time
has passed, the batches are sealed into a Parquet shard and the tail log is emptied.

pyarrow and the modules built on it are imported where they are first used, on the writer
thread: the training process's ``init()`` never waits for them.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .keystats import KeyStats, Row
from .layout import RunPaths, ShardName
from .taillog import RECORD_METRICS, TailWriter
from .writerhealth import WriterHealth

if TYPE_CHECKING:
    import pyarrow as pa

    from .shards import ShardInfo


class ClassicRounds:
    """Mixed into RunWriter: its metrics stage when log() queues rows for the tail log."""

    paths: RunPaths
    segment: int
    queue: deque[Row]
    health: WriterHealth
    dtypes: dict[str, str]
    stats: dict[str, KeyStats]
    stats_lock: threading.Lock
    options: Any
    _pending: list[pa.Table]
    _unsealed: list[tuple[int, pa.Table]]
    _unsealed_rows: int
    _oldest_unsealed: float
    _next_batch: int
    _synced_through: int
    _tail: TailWriter | None
    _room: threading.Event
    _wake: threading.Event
    _stop: threading.Event
    _thread: threading.Thread
    _shards: list[ShardInfo]
    _publisher: Any

    def _write_shard(
        self, path: Path, name: ShardName, table: pa.Table, dtypes: dict[str, str]
    ) -> ShardInfo:
        raise NotImplementedError

    def _record_hashes(self, add: list[ShardInfo], remove: list[str]) -> None:
        raise NotImplementedError

    def _compact(self) -> None:
        raise NotImplementedError

    def _classic_round(self, final: bool) -> None:
        if final:  # straight into a shard: a tail write first would slow every finish()
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
            from .badrows import rows_to_table_isolating

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

    def _append_to_tail(self) -> bool:
        """Append pending batches to the tail log (not fsynced); True if any landed."""
        if self._tail is None:
            try:
                self._tail = TailWriter(self.paths.tail(self.segment))
            except OSError:
                return False
        from .metrics import encode_batch

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
        from .metrics import update_stats

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
        from .metrics import sort_rows

        table = sort_rows([t for _, t in self._unsealed])
        try:
            info = self._write_shard(self.paths.shard(name), name, table, self.dtypes.copy())
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
        from .metrics import encode_batch

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
