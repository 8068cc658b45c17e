"""The writer thread's side of the mapped tail (segments.py): count, fsync, seal, release.

Each round the writer scans the records the training thread appended since the last round
(vectorised: segments.scan) only to fold them into the run's statistics (what the index and the
UI's runs table show of a live run), then fsyncs the chunk (what a node failure could lose is one
flush interval, as before). The scanned rows are not kept: a finished chunk is decoded once more,
in one pass, straight into the shard's sorted table (its rows are already in step order per key,
so no sort), and sealed into one Parquet shard named by the chunk numbers it covers; then the chunk
files are deleted. At finish the current chunk is sealed too. A volatile chunk (kept in memory
because no file could be allocated) is sealed as soon as the disk allows; if it still cannot be at
finish, its rows go to the classic tail log, like any rows the writer holds in memory.

pyarrow and numpy are imported on first use (this runs on the writer thread; init() never waits).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .keystats import KeyStats, Row, merge_dtype
from .layout import RunPaths, ShardName
from .segformat import HEADER
from .segwriter import Chunk, TailSegments
from .taillog import RECORD_METRICS, TailWriter
from .writerhealth import DroppedValue, WriterHealth

STATS_ROUND_BYTES = 1 << 20  # new rows a round counts at once, about 10k rows of 10 scalars
STATS_LAG_S = 2.0  # ... or more, when the statistics are older than this

if TYPE_CHECKING:
    import pyarrow as pa

    from .shards import ShardInfo


class SegmentRounds:
    """Mixed into RunWriter: its metrics stage when log() writes to mapped tail segments."""

    paths: RunPaths
    segment: int
    segments: TailSegments | None
    queue: deque[Row]
    health: WriterHealth
    dtypes: dict[str, str]
    stats: dict[str, KeyStats]
    options: Any
    _shards: list[ShardInfo]
    _tail: TailWriter | None
    _rescued: set[int]
    stats_lock: threading.Lock
    _publisher: Any
    _segment_room: threading.Event
    # unsealed chunks holding counted rows (number → counts), scalars counted since the last
    # seal, when the oldest unsealed count was, when statistics were last brought up to date
    _chunk_rows: dict[int, int]
    _counted_scalars: int
    _oldest_chunk: float
    _counted_at: float

    def _record_hashes(self, add: list[ShardInfo], remove: list[str]) -> None:
        raise NotImplementedError

    def _compact(self) -> None:
        raise NotImplementedError

    def _write_shard(
        self, path: Path, name: ShardName, table: pa.Table, dtypes: dict[str, str]
    ) -> ShardInfo:
        raise NotImplementedError

    # -- one round ---------------------------------------------------------------------------

    def _segment_round(self, segs: TailSegments, final: bool) -> None:
        if self.queue:
            with segs.handover:
                if final or segs.handed_over:  # the training thread is done, or waits: write
                    drain_queue(segs, self.queue, self.health)  # the sampler's rows ourselves
                else:  # the training thread writes them at its next log() (one writer per chunk)
                    self.health.notify()
        chunks = list(segs.chunks)
        for chunk in chunks:
            chunk.sync(chunk.pos)  # every byte below pos is a whole record
        finished = chunks if final else chunks[:-1]
        if finished:
            self._seal_chunks(segs, finished, final)
        if not final and chunks:
            current = chunks[-1]
            if self._stats_due(current):
                self._count_new(segs, current)
            if self._segment_seal_due():
                self._roll_for_seal(segs, current)

    def _stats_due(self, chunk: Chunk) -> bool:
        """Count the current chunk's new rows now, or leave them to its seal (one decoding
        pass for both)? Now when they are few (a slow loop: the index stays current) or the
        statistics have not been refreshed for STATS_LAG_S; a busy loop's rows wait for the seal,
        so the writer takes the GIL from the training thread as little as possible."""
        now = time.monotonic()
        if chunk.pos - chunk.decoded > STATS_ROUND_BYTES and now - self._counted_at < STATS_LAG_S:
            return False
        self._counted_at = now
        return True

    def _segment_seal_due(self) -> bool:
        if not self._chunk_rows:
            return False
        age = time.monotonic() - self._oldest_chunk
        scalars = self._counted_scalars
        return scalars >= self.options.seal_scalars or age >= self.options.seal_interval_s

    def _roll_for_seal(self, segs: TailSegments, current: Chunk) -> None:
        """Get the current chunk retired so that its rows can be sealed.

        The training thread owns the chunks and starts a new one at its next log(). A thread that
        logs nothing for a whole round (its chunk did not grow since the last round) would keep
        its rows unsealed for as long as it stays idle, so then the writer starts the new chunk
        itself. The old chunk is sealed one round later, after it is decoded once more, so an
        append that was under way when the chunk was retired still lands in the shard.
        """
        idle = getattr(self, "_idle_mark", None) == (current.number, current.pos)
        self._idle_mark = (current.number, current.pos)
        if idle and not segs.closed and segs.current is current and not segs.waiting_for_room:
            segs.roll(0)
            return
        segs.roll_wanted = True
        self.health.notify()

    def _count_new(self, segs: TailSegments, chunk: Chunk) -> None:
        """Fold the rows appended since the last count into the statistics (not kept)."""
        end = chunk.pos  # every byte below pos is a whole record
        if end <= chunk.decoded:
            return
        from .segments import blocks_to_table, scan

        found = scan(chunk.buf, chunk.decoded, end, segs.keysets, verify=False)
        table, dtypes = blocks_to_table(found.blocks)
        self._count(table, dtypes, {chunk: found.end})

    def _count(self, table: pa.Table, dtypes: dict[str, str], ends: dict[Chunk, int]) -> None:
        """Fold a table of the chunks' rows up to `ends` into the statistics, and mark them
        counted, at once (RunWriter.stats_now reads the uncounted rest under the same lock)."""
        from .metrics import update_stats

        with self.stats_lock:
            for key, kind in dtypes.items():
                self.dtypes[key] = merge_dtype(self.dtypes.get(key), kind)
            rows = self._chunk_rows
            if table.num_rows and not rows:
                self._oldest_chunk = time.monotonic()
            for chunk, end in ends.items():
                chunk.decoded = end
                rows[chunk.number] = rows.get(chunk.number, 0) + 1  # marked: holds rows
            if table.num_rows:
                update_stats(self.stats, table, self.dtypes)
                self._publisher.keys_changed(list(dtypes))
            self._counted_scalars += table.num_rows

    def _chunk_table(
        self, chunks: list[Chunk]
    ) -> tuple[pa.Table, dict[str, str], dict[Chunk, int]]:
        """The rows of whole chunks as one table sorted by (key, step): one decoding pass."""
        from .metrics import sort_rows
        from .segments import blocks_to_table, scan

        blocks = []
        ends = {}
        seq = 0
        for chunk in chunks:
            found = scan(chunk.buf, HEADER.size, chunk.pos, {}, verify=False)
            for block in found.blocks:
                block.first_seq += seq
            seq += found.rows
            blocks += found.blocks
            ends[chunk] = found.end
        table, dtypes = blocks_to_table(blocks)
        return sort_rows([table]), dtypes, ends  # sort_rows: a no-op unless steps went back

    def _seal_chunks(self, segs: TailSegments, finished: list[Chunk], final: bool) -> None:
        fresh = all(c.decoded == HEADER.size for c in finished)
        if not fresh:  # partly counted already: count the rest apart
            for chunk in finished:
                self._count_new(segs, chunk)
        table, dtypes, ends = self._chunk_table(finished)
        if fresh:  # the common case of a busy loop: one decoding pass for statistics and shard
            self._count(table, dtypes, ends)
        numbers = {c.number for c in finished}
        if table.num_rows:
            name = ShardName(self.segment, min(numbers), max(numbers))
            try:
                info = self._write_shard(self.paths.shard(name), name, table, self.dtypes.copy())
            except OSError as exc:
                self.health.warn("seal", f"cannot write shard {name.filename} ({exc}); will retry")
                if final:
                    self._rescue_volatile(segs, finished)
                return
            self.health.recovered("seal")
            self._shards.append(info)
            self._record_hashes(add=[info], remove=[])
            self._publisher.index_call(
                lambda idx: idx.replace_shards(self.paths.run_id, [info], [])
            )
            self._oldest_chunk = time.monotonic()
        for number in numbers:
            self._chunk_rows.pop(number, None)
        self._counted_scalars = 0
        for chunk in finished:
            chunk.release(unlink=True)
            with contextlib.suppress(ValueError):
                segs.chunks.remove(chunk)
        self._segment_room.set()  # a log() waiting for memory (segwriter.py) may go on
        self._compact()

    def _rescue_volatile(self, segs: TailSegments, chunks: list[Chunk]) -> None:
        """At finish, when no shard can be written: in-memory chunks go to the classic tail log."""
        from .metrics import encode_batch

        volatile = [c for c in chunks if c.volatile and c.number not in self._rescued]
        try:
            if self._tail is None:
                self._tail = TailWriter(self.paths.tail(self.segment))
            for chunk in volatile:
                table = self._chunk_table([chunk])[0]
                self._tail.append(RECORD_METRICS, encode_batch(chunk.number, table, self.dtypes))
            self._tail.sync()
        except OSError as exc:
            self.health.warn("rescue", f"cannot add unsealed rows to the tail log either ({exc})")
            return
        self._rescued |= {c.number for c in volatile}

    def _volatile(self, segs: TailSegments) -> list[Chunk]:
        """In-memory chunks holding rows that are neither sealed nor rescued yet."""
        return [
            c
            for c in list(segs.chunks)
            if c.volatile and c.number not in self._rescued and c.pos > c.prelude_end
        ]

    def _segment_unwritten(self, segs: TailSegments) -> bool:
        """Whether rows are only in memory (cheap: asked after every round)."""
        return bool(self.queue) or bool(self._volatile(segs))

    def _segment_values_at_risk(self, segs: TailSegments) -> int:
        """Values only in memory: those of in-memory chunks and of the queue."""
        from .segments import scan

        values = sum(len(r[2]) for r in list(self.queue))
        for chunk in self._volatile(segs):
            found = scan(chunk.buf, HEADER.size, chunk.pos, {}, verify=False)
            values += sum(b.values.size for b in found.blocks)
        return values

    def _close_segments(self, segs: TailSegments) -> None:
        for chunk in list(segs.chunks):
            with contextlib.suppress(OSError, BufferError):
                chunk.release(unlink=False)
        segs.chunks.clear()


def drain_queue(segs: TailSegments, queue: deque[Row], health: WriterHealth) -> None:
    """Write rows queued by other threads (system metrics) into the tail segments; a value
    that cannot be stored costs only itself (reported like badrows.py does)."""
    dropped: list[DroppedValue] = []
    while queue:
        step, wall, values = queue.popleft()
        good = {}
        for key, value in values.items():
            problem = _queued_value_problem(key, value)
            if problem is None:
                good[key] = float(value)  # type: ignore[arg-type]
            else:
                dropped.append(DroppedValue(key, step, problem))
        if not good:
            continue
        if not 0 <= step < 2**63:
            dropped.extend(DroppedValue(k, step, "step out of the int64 range") for k in good)
            continue
        keys = tuple(good)
        segs.write(step, wall, keys, tuple("float" for _ in keys), tuple(good.values()))
    health.dropped(dropped)


def _queued_value_problem(key: object, value: object) -> str | None:
    if not isinstance(key, str):
        return f"keys must be strings, not {type(key).__name__}"
    try:
        key.encode("utf-8")
        float(value)  # type: ignore[arg-type]
    except (UnicodeEncodeError, TypeError, ValueError, OverflowError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None
