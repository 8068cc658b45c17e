"""The writer thread's side of the mapped tail (segments.py): read, fsync, seal, release.

Each round the writer decodes the records the training thread appended since the last round
(vectorised: segments.scan), folds them into the run's statistics, fsyncs the chunk (what a node
failure could lose is one flush interval, as before), and seals every finished chunk into one
Parquet shard named by the chunk numbers it covers; then the chunk files are deleted. At finish the
current chunk is sealed too. A volatile chunk (kept in memory because no file could be allocated)
is sealed as soon as the disk allows; if it still cannot be at finish, its rows go to the classic
tail log, like any rows the writer holds in memory.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import pyarrow as pa

from .badrows import DroppedValue
from .layout import RunPaths, ShardName
from .metrics import Row, encode_batch, merge_dtype, sort_rows
from .segments import blocks_to_table, scan
from .segwriter import Chunk, TailSegments
from .shards import ShardInfo
from .taillog import RECORD_METRICS, TailWriter
from .writerhealth import WriterHealth


class SegmentRounds:
    """Mixed into RunWriter: its metrics stage when log() writes to mapped tail segments."""

    paths: RunPaths
    segment: int
    segments: TailSegments | None
    queue: deque[Row]
    health: WriterHealth
    dtypes: dict[str, str]
    _unsealed: list[tuple[int, pa.Table]]
    _unsealed_rows: int
    _oldest_unsealed: float
    _shards: list[ShardInfo]
    _tail: TailWriter | None
    _rescued: set[int]
    stats_lock: threading.Lock

    def _land(self, batch: int, table: pa.Table) -> None:
        raise NotImplementedError

    def _record_hashes(self, add: list[ShardInfo], remove: list[str]) -> None:
        raise NotImplementedError

    def _compact(self) -> None:
        raise NotImplementedError

    def _seal_due(self) -> bool:
        raise NotImplementedError

    def _write_shard(
        self, path: Path, name: ShardName, table: pa.Table, dtypes: dict[str, str]
    ) -> ShardInfo:
        raise NotImplementedError

    _publisher: Any

    # -- one round ---------------------------------------------------------------------------

    def _segment_round(self, segs: TailSegments, final: bool) -> None:
        if self.queue:
            if final:  # the training thread is done: write the sampler's rows ourselves
                drain_queue(segs, self.queue, self.health)
            else:  # the training thread writes them at its next log() (one writer per chunk)
                self.health.notify()
        chunks = list(segs.chunks)
        for chunk in chunks:
            self._decode_new(segs, chunk)
            chunk.sync(chunk.decoded)
        finished = chunks if final else chunks[:-1]
        if finished:
            self._seal_chunks(segs, finished, final)
        if not final and chunks and self._seal_due():
            self._roll_for_seal(segs, chunks[-1])

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
        if idle and not segs.closed and segs.current is current:
            segs.roll(0)
            return
        segs.roll_wanted = True
        self.health.notify()

    def _decode_new(self, segs: TailSegments, chunk: Chunk) -> None:
        end = chunk.pos  # every byte below pos is a whole record
        if end <= chunk.decoded:
            return
        with self.stats_lock:  # counted and marked decoded at once (RunWriter.stats_now)
            found = scan(chunk.buf, chunk.decoded, end, segs.keysets, verify=False)
            table, dtypes = blocks_to_table(found.blocks)
            for key, kind in dtypes.items():
                self.dtypes[key] = merge_dtype(self.dtypes.get(key), kind)
            chunk.decoded = found.end
            if table.num_rows:
                self._land(chunk.number, table)

    def _seal_chunks(self, segs: TailSegments, finished: list[Chunk], final: bool) -> None:
        numbers = {c.number for c in finished}
        chosen = [(b, t) for b, t in self._unsealed if b in numbers]
        if chosen:
            name = ShardName(self.segment, min(numbers), max(numbers))
            dtypes = self.dtypes.copy()
            try:
                info = self._write_shard(
                    self.paths.shard(name), name, sort_rows([t for _, t in chosen]), dtypes
                )
            except OSError as exc:
                self.health.warn("seal", f"cannot write shard {name.filename} ({exc}); will retry")
                if final:
                    self._rescue_volatile(finished, chosen)
                return
            self.health.recovered("seal")
            self._shards.append(info)
            self._record_hashes(add=[info], remove=[])
            self._publisher.index_call(
                lambda idx: idx.replace_shards(self.paths.run_id, [info], [])
            )
            self._unsealed = [(b, t) for b, t in self._unsealed if b not in numbers]
            self._unsealed_rows = sum(t.num_rows for _, t in self._unsealed)
            self._oldest_unsealed = time.monotonic()
        for chunk in finished:
            chunk.release(unlink=True)
            with contextlib.suppress(ValueError):
                segs.chunks.remove(chunk)
        self._compact()

    def _rescue_volatile(self, finished: list[Chunk], chosen: list[tuple[int, pa.Table]]) -> None:
        """At finish, when no shard can be written: in-memory chunks go to the classic tail log."""
        volatile = {c.number for c in finished if c.volatile} - self._rescued
        try:
            if self._tail is None:
                self._tail = TailWriter(self.paths.tail(self.segment))
            for batch, table in chosen:
                if batch in volatile:
                    self._tail.append(RECORD_METRICS, encode_batch(batch, table, self.dtypes))
            self._tail.sync()
        except OSError as exc:
            self.health.warn("rescue", f"cannot add unsealed rows to the tail log either ({exc})")
            return
        self._rescued |= volatile

    def _segment_values_at_risk(self, segs: TailSegments, queued: bool = True) -> int:
        """Values only in memory: rows of volatile chunks not sealed (nor rescued) yet, and
        (unless `queued` is False) rows other threads queued for the training thread to write."""
        volatile = {c.number for c in list(segs.chunks) if c.volatile} - self._rescued
        rows = sum(t.num_rows for b, t in list(self._unsealed) if b in volatile)
        undecoded = sum(1 for c in list(segs.chunks) if c.volatile and c.pos > c.decoded)
        waiting = sum(len(r[2]) for r in list(self.queue)) if queued else 0
        return rows + undecoded + waiting

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
