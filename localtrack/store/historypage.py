"""A run's history one page of steps at a time, in bounded memory.

``HistoryPager.page(min_step, max_step, limit)`` returns the rows (one per step, as
``StoreReader.history`` shapes them) of at most `limit` consecutive step values from the first
step ≥ `min_step`, and the first step after them that has data (None at the end). Only the
Parquet row groups whose step statistics meet the window are read, so a scan holds one window
(and one row group) at a time whatever the run's length. The live tail (small by construction)
is read once per pager. A shard that fails its checksum or does not parse is left out and
reported in ``warnings``; one compacted away while the pager is open makes it list shards again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import CorruptDataError
from .layout import RunPaths, ShardName
from .metrics import SCHEMA, arrow_strings, dtypes_from_metadata, merge_dtype, normalize
from .runfiles import expected_hashes, list_shards, list_tail_segments, read_tail_batches
from .runmeta import SYSTEM_PREFIX
from .shards import _PARSE_ERRORS, _row_groups_for, open_verified_shard
from .wide import to_wide

_NO_STEP = (-(2**63), 2**63 - 1)


@dataclass
class HistoryPage:
    """One page: `table` is wide (step, wall_time, a column per key); `next_step` is where the
    next page starts (None: no data after this page within the asked range)."""

    table: pa.Table
    next_step: int | None
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Shard:
    name: ShardName
    file: pq.ParquetFile
    groups: list[tuple[int, int]]  # (min step, max step) per row group
    skip: frozenset[int] = frozenset()  # row groups holding none of the keys asked for


class HistoryPager:
    """Pages of one run's history; keep one open for a whole scan (it caches shard footers)."""

    def __init__(self, paths: RunPaths, keys: Sequence[str] | None = None) -> None:
        self.paths = paths
        self.keys = list(keys) if keys is not None else None
        self.warnings: list[str] = []
        self.dtypes: dict[str, str] = {}
        self._load()

    def _load(self) -> None:
        self._shards: list[_Shard] = []
        names = list_shards(self.paths)
        expected = expected_hashes(self.paths)
        for name in names:
            path = self.paths.shard(name)
            try:
                source = open_verified_shard(path, expected.get(name.filename))
                pf = pq.ParquetFile(source, page_checksum_verification=True)
                self._add_dtypes(dtypes_from_metadata(pf.schema_arrow.metadata))
                self._shards.append(_Shard(name, pf, _step_ranges(pf), self._other_keys(pf)))
            except CorruptDataError as exc:
                self._warn(f"{name.filename}: {exc}")
            except FileNotFoundError:
                continue
            except _PARSE_ERRORS as exc:
                self._warn(f"{name.filename}: shard is damaged: {exc}")
        self._tail: list[tuple[tuple[int, int], pa.Table]] = []
        for segment in list_tail_segments(self.paths):
            batches, problem = read_tail_batches(self.paths, segment)
            if problem:
                self._warn(f"{self.paths.tail(segment).name}: {problem}")
            for batch in batches:
                if any(s.covers_batch(batch.segment, batch.batch_seq) for s in names):
                    continue
                self._add_dtypes(batch.dtypes)
                order = (batch.segment, batch.batch_seq)
                self._tail.append((order, self._wanted(batch.table)))

    def _other_keys(self, pf: pq.ParquetFile) -> frozenset[int]:
        """Row groups whose key statistics admit none of the keys asked for (a shard keeps a
        row group per key: a page of a few keys reads only theirs, which matters most where a
        shard is read by byte range, store/rangedfiles.py)."""
        if self.keys is None:
            return frozenset()
        wanted, _ = _row_groups_for(pf, self.keys)
        return frozenset(range(pf.metadata.num_row_groups)) - set(wanted)

    def _warn(self, problem: str) -> None:
        if problem not in self.warnings:
            self.warnings.append(problem)

    def _add_dtypes(self, dtypes: dict[str, str]) -> None:
        for key, kind in dtypes.items():
            self.dtypes[key] = merge_dtype(self.dtypes.get(key), kind)

    def _wanted(self, table: pa.Table) -> pa.Table:
        keys = table.column("key")
        if self.keys is not None:
            return table.filter(pc.is_in(keys, value_set=arrow_strings(sorted(set(self.keys)))))
        return table.filter(pc.invert(pc.starts_with(keys, SYSTEM_PREFIX)))

    def first_step(self) -> int | None:
        """The smallest step any source may hold (a lower bound), None for a run with no rows."""
        lows = [lo for s in self._shards for i, (lo, _) in enumerate(s.groups) if i not in s.skip]
        lows += [pc.min(t.column("step")).as_py() for _, t in self._tail if t.num_rows]
        return min(lows) if lows else None

    def page(self, min_step: int | None, max_step: int | None, limit: int) -> HistoryPage:
        """The rows of steps [lo, lo + limit) ∩ [min_step, max_step], lo the first step with data
        at or after `min_step`; skips empty windows itself, so an empty table means the end."""
        lo = self.first_step() if min_step is None else min_step
        for _ in range(3):
            try:
                return self._page_from(lo, max_step, max(1, int(limit)))
            except FileNotFoundError:
                self._load()  # compaction replaced a shard: its rows are in the merged one
        return self._page_from(lo, max_step, max(1, int(limit)))

    def _page_from(self, lo: int | None, max_step: int | None, limit: int) -> HistoryPage:
        while lo is not None and (max_step is None or lo <= max_step):
            hi = lo + limit - 1 if max_step is None else min(lo + limit - 1, max_step)
            pieces, after = self._window(lo, hi)
            table = normalize(pieces)
            if table.num_rows:
                wide = to_wide(table, self.dtypes, self.keys)
                return HistoryPage(wide, _within(after, max_step), list(self.warnings))
            lo = _within(after, max_step)
        return HistoryPage(to_wide(normalize([]), self.dtypes, self.keys), None, self.warnings)

    def _window(self, lo: int, hi: int) -> tuple[list[pa.Table], int | None]:
        """Rows with lo ≤ step ≤ hi in logging order, and the first step > hi anywhere."""
        pieces: list[tuple[tuple[int, int], pa.Table]] = []
        after: list[int] = []
        for shard in self._shards:
            wanted = []
            for i, (g_lo, g_hi) in enumerate(shard.groups):
                if g_hi < lo or i in shard.skip:
                    continue
                if g_lo > hi:
                    after.append(g_lo)
                else:
                    wanted.append(i)
            if not wanted:
                continue
            try:
                table = shard.file.read_row_groups(wanted)
            except _PARSE_ERRORS as exc:
                if isinstance(exc, FileNotFoundError):
                    raise
                self._warn(f"{shard.name.filename}: shard is damaged: {exc}")
                continue
            try:
                table = table.replace_schema_metadata(None).select(SCHEMA.names).cast(SCHEMA)
            except (KeyError, pa.ArrowException) as exc:
                self._warn(f"{shard.name.filename}: shard has an unexpected schema: {exc}")
                continue
            key = (shard.name.segment, shard.name.first_batch)
            pieces.append((key, _cut(self._wanted(table), lo, hi, after)))
        for order, table in self._tail:
            pieces.append((order, _cut(table, lo, hi, after)))
        pieces.sort(key=lambda p: p[0])
        return [t for _, t in pieces], min(after) if after else None


def _cut(table: pa.Table, lo: int, hi: int, after: list[int]) -> pa.Table:
    """The rows of `table` with lo ≤ step ≤ hi; notes the first step > hi it holds."""
    steps = table.column("step")
    later = table.filter(pc.greater(steps, hi)).column("step")
    if len(later):
        after.append(pc.min(later).as_py())
    return table.filter(pc.and_(pc.greater_equal(steps, lo), pc.less_equal(steps, hi)))


def _within(step: int | None, max_step: int | None) -> int | None:
    return None if step is None or (max_step is not None and step > max_step) else step


def _step_ranges(pf: pq.ParquetFile) -> list[tuple[int, int]]:
    """Each row group's (min, max) step from its statistics; unknown → the whole range."""
    meta = pf.metadata
    column = pf.schema_arrow.get_field_index("step")
    ranges = []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(column).statistics if column >= 0 else None
        if stats is not None and stats.has_min_max:
            ranges.append((int(stats.min), int(stats.max)))
        else:
            ranges.append(_NO_STEP)
    return ranges
