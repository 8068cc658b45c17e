"""StoreReader: the one read API that the UI, the CLI, sync and `localtrack.Api` all use.

It answers from the index where it can (run lists, key statistics) and from the run directories
where it must (metric rows, the live tail, runs the index does not know yet). It never writes.
Run rows come through ``RunRows`` (runrows.py); metric points are cached here per version of a
run's files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import UsageError
from .alertlog import read_alerts
from .blobdamage import run_damage
from .console_reader import ConsolePage, read_console
from .indexbackend import IndexBackend
from .layout import saved_file
from .lru import SizedLRU
from .media import blob_path
from .media_reader import (
    ChartData,
    HistogramSeries,
    MediaItem,
    TablePage,
    chart_data,
    histogram_series,
    media_items,
    media_keys,
    table_page,
)
from .metrics import KeyStats, normalize
from .rangedfiles import RangeFile, open_source
from .root import StoreRoot
from .runfiles import data_version, read_run_data
from .runinfo import MetricKey, ProjectInfo, RunInfo, project_infos, run_info
from .runmeta import SYSTEM_PREFIX, step_metrics, typed_value
from .runrows import RunRows
from .series import BUILTIN_X, Series, bucket_runs, bucketize, points_of
from .wide import to_wide

log = logging.getLogger(__name__)


def _arrays_nbytes(value: tuple[np.ndarray, np.ndarray, list[str]]) -> int:
    return int(value[0].nbytes + value[1].nbytes) + 200 + sum(len(w) for w in value[2])


DamageHandler = Callable[[str, list[str]], None]


POINTS_CACHE_BYTES = 512 * 1024 * 1024
HISTORY_CACHE_BYTES = 256 * 1024 * 1024  # history() tables, per version of a run's files
_LOGGED_DAMAGE_MAX = 10_000


class StoreReader:
    """Read-only access to a store. Safe to share between threads.

    Every read of metric rows that finds damage (a shard that fails its checksum or does not
    parse, a torn tail log) leaves the damaged part out and reports it: ``on_damage(run_id,
    problems)`` is called in the reading thread (``localtrack.Api`` turns it into a
    ``DataDamageWarning``); without one, each problem is logged once. ``Series.warnings``
    and ``damage()`` carry the same lines.
    """

    def __init__(
        self,
        root: Path | str,
        index_mode: str = "auto",
        on_damage: DamageHandler | None = None,
        index_url: str | None = None,
    ) -> None:
        self.store = StoreRoot(root, create=False, index_mode=index_mode, index_url=index_url)
        self._runs = RunRows(self.store)
        self._points_cache = SizedLRU(POINTS_CACHE_BYTES, _arrays_nbytes)
        self._history_cache = SizedLRU(HISTORY_CACHE_BYTES, lambda v: v[0].nbytes + 200)
        self._on_damage = on_damage
        self._logged: set[tuple[str, str]] = set()

    def _report(self, run_id: str, problems: list[str]) -> None:
        """Tell whoever reads that what they got of `run_id` is partial."""
        if not problems:
            return
        if self._on_damage is not None:
            self._on_damage(run_id, list(problems))
            return
        for problem in problems:
            if (run_id, problem) not in self._logged:
                if len(self._logged) >= _LOGGED_DAMAGE_MAX:
                    self._logged.clear()
                self._logged.add((run_id, problem))
                log.warning("run %s: damaged data left out of a read: %s", run_id, problem)

    @property
    def root(self) -> Path:
        return self.store.root

    def _index(self) -> IndexBackend | None:
        """This thread's read-only index (None when the store has none)."""
        return self._runs.index()

    # -- runs ---------------------------------------------------------------------------------

    def changes(self) -> int:
        """A number that changes whenever data lands in the store (for ETags and polling)."""
        return self._runs.changes()

    def runs(self, project: str | None = None) -> list[RunInfo]:
        """Every run (of one project), newest first. `project` is a namespace as the UI and
        ``projects()`` name it: ``entity/project``, or the project alone for runs without an
        entity."""
        return [run_info(r) for r in self._runs.rows(project)]

    def projects(self) -> list[ProjectInfo]:
        """Every project, by namespace (``entity/project``): entities are kept apart."""
        return project_infos(self.runs())

    def resolve_run_id(self, run_id: str) -> str:
        """The full id for an id or a unique id prefix; RunNotFoundError otherwise."""
        return self._runs.resolve_id(run_id)

    def run(self, run_id: str) -> RunInfo:
        return run_info(self._runs.row(run_id))

    def key_stats(self, run_id: str) -> dict[str, KeyStats]:
        return self._runs.key_stats(run_id)

    def metric_keys(self, run_id: str) -> list[MetricKey]:
        return [
            MetricKey(
                k,
                s.dtype,
                s.count,
                typed_value(s.min, s.dtype),
                typed_value(s.max, s.dtype),
                typed_value(s.last, s.dtype),
                s.last_step,
                s.mean,
            )
            for k, s in sorted(self.key_stats(run_id).items())
        ]

    def metric_key_names(self, run_ids: Sequence[str]) -> dict[str, set[str]]:
        """Each run's metric key names (``metric_keys`` without their statistics): one index
        query for the indexed runs; a run the index has no keys for is asked on its own."""
        return self._runs.key_names(run_ids)

    # -- metric data --------------------------------------------------------------------------

    def long_table(self, run_id: str, keys: Sequence[str] | None = None) -> pa.Table:
        """Metric rows in long format (step, key, value, wall_time), overwrites resolved."""
        run_id = self.resolve_run_id(run_id)
        table, _, problems = self._long(run_id, keys)
        self._report(run_id, problems)
        return table

    def _long(
        self, run_id: str, keys: Sequence[str] | None
    ) -> tuple[pa.Table, dict[str, str], list[str]]:
        data = read_run_data(self.store.run(run_id), keys)
        return normalize(data.tables), data.dtypes, data.warnings

    def history(self, run_id: str, keys: Sequence[str] | None = None) -> pa.Table:
        """One row per step, one column per key (null where a key was not logged at that step).

        Without `keys`, every key the run's files hold except system metrics (system/...), which
        have their own sample counter as step; ask for them by name, or use
        `series(..., x="wall_time")`.
        """
        run_id = self.resolve_run_id(run_id)
        cache_key = (run_id, None if keys is None else tuple(keys), self._version(run_id))
        cached = self._history_cache.get(cache_key)  # a table is immutable: safe to share
        if cached is None:
            table, dtypes, problems = self._long(run_id, keys)
            if keys is None and table.num_rows:
                table = table.filter(pc.invert(pc.starts_with(table.column("key"), SYSTEM_PREFIX)))
            cached = (to_wide(table, dtypes, keys), problems)
            self._history_cache.put(cache_key, cached)
        self._report(run_id, cached[1])
        return cached[0]

    def _version(self, run_id: str) -> tuple:
        return data_version(self.store.run(run_id))

    def data_warnings(self, run_id: str) -> list[str]:
        """Problems found reading the run's files right now (damaged shard, torn tail)."""
        return read_run_data(self.store.run(self.resolve_run_id(run_id)), keys=[]).warnings

    def damage(self, run_id: str) -> list[str]:
        """Every damage known for a run: found when it was indexed, found reading it now, and
        found by the last ``localtrack server check`` (a blob the object store lost).

        This is what the run page, ``localtrack show`` and ``ApiRun.damage()`` list."""
        info = self.run(run_id)
        found = list(info.warnings)
        found += [w for w in self.data_warnings(info.id) if w not in found]
        return found + self.checked_damage(info.id)

    def checked_damage(self, run_id: str) -> list[str]:
        """The run's damaged files in the last ``server check`` record (store/blobdamage.py),
        and, on a shared-nothing server, those the object store could not give the read cache."""
        found = run_damage(self.root, run_id)
        if self.store.remote is not None:
            found += [line for line in self.store.remote.damage(run_id) if line not in found]
        return found

    # -- media --------------------------------------------------------------------------------

    def media(self, run_id: str, key: str | None = None) -> list[MediaItem]:
        """Logged images, tables and histograms (of one key), in (key, step) order."""
        return media_items(self.store.run(self.resolve_run_id(run_id)), key)

    def media_keys(self, run_id: str) -> dict[str, str]:
        """Each media key of a run and its type ("image", "table" or "histogram")."""
        return media_keys(self.store.run(self.resolve_run_id(run_id)))

    def chart(self, run_id: str, key: str, step: int | None = None) -> ChartData:
        """A preset chart (``localtrack.plot.*``): its table's columns (latest step by default)."""
        return chart_data(self.store.run(self.resolve_run_id(run_id)), key, step)

    def media_file(self, run_id: str, name: str) -> Path | None:
        """The file of a media blob named ``<sha256>.<ext>``; None for any other name."""
        return blob_path(self.store.run(self.resolve_run_id(run_id)), name)

    def open_media(self, run_id: str, name: str) -> Path | RangeFile | None:
        """A media blob to send: its file, or on a replica that reads it by byte range
        (store/rangedfiles.py) a seekable file over its ranges; None for any other name."""
        path = self.media_file(run_id, name)
        try:
            return None if path is None else open_source(path)
        except FileNotFoundError:  # gone since (a newer version of the run replaced its view)
            return None

    def table_page(
        self,
        run_id: str,
        key: str,
        step: int | None = None,
        offset: int = 0,
        limit: int = 50,
        sort: str | None = None,
        descending: bool = False,
        search: str | None = None,
    ) -> TablePage:
        """A page of a logged table, sorted and filtered on the server (latest step by default)."""
        paths = self.store.run(self.resolve_run_id(run_id))
        return table_page(paths, key, step, offset, limit, sort, descending, search)

    def histograms(self, run_id: str, key: str, bins: int = 64) -> HistogramSeries:
        """A key's histograms over steps on shared edges (a heatmap's data)."""
        return histogram_series(self.store.run(self.resolve_run_id(run_id)), key, bins)

    # -- files (console output, environment) -------------------------------------------------

    def run_file(self, run_id: str, name: str) -> Path | None:
        """A file in the run's files/ folder (output.log, requirements.txt, diff.patch, or a
        saved ``outputs/notes.txt``); None for a name that is not one (``layout.saved_file``:
        no ``..``, dot-files, links, or anything outside files/)."""
        return saved_file(self.store.run(self.resolve_run_id(run_id)).files, name)

    def alerts(self, run_id: str) -> list[dict[str, Any]]:
        """The alerts the run raised with ``run.alert()`` (alerts.jsonl), oldest first."""
        return read_alerts(self.store.run(self.resolve_run_id(run_id)).dir)

    def console(
        self, run_id: str, search: str | None = None, start_line: int = 0, limit: int = 1000
    ) -> ConsolePage:
        """Lines of the run's captured console output (files/output.log), optionally filtered."""
        path = self.run_file(run_id, "output.log")
        return read_console(path, search, start_line, limit)

    def points(self, run_id: str, key: str, x: str = "step") -> tuple[np.ndarray, np.ndarray]:
        """All points of one key as (x, y) arrays sorted by x; x is step, wall_time,
        relative_time (seconds since the run started) or another metric key (e.g. "epoch")."""
        run_id = self.resolve_run_id(run_id)
        xs, ys, problems = self._points(run_id, key, x)
        self._report(run_id, problems)
        return xs, ys

    def _points(self, run_id: str, key: str, x: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(xs, ys, damage found reading them), cached per version of the run's files."""
        return self._points_many([run_id], {key: x})[(run_id, key)]

    def _points_many(self, run_ids: Sequence[str], axes: Mapping[str, str]) -> dict[Any, Any]:
        """``_points`` of every run and key (→ its x axis), as {(run_id, key): (xs, ys, damage)}.

        Each run's files are read once for all its keys not cached yet (a shard is one row
        group: one key costs as much to read as many), runs side by side (Parquet decoding
        releases the GIL)."""
        out: dict[Any, Any] = {}
        jobs = []
        for run_id in run_ids:
            version = self._version(run_id)
            for axis in dict.fromkeys(axes.values()):
                keys = [k for k, a in axes.items() if a == axis]
                for k in keys:
                    out[(run_id, k)] = self._points_cache.get((run_id, k, axis, version))
                missing = [k for k in keys if out[(run_id, k)] is None]
                if missing:
                    jobs.append((run_id, missing, axis, version))
        if len(jobs) > 1:
            with ThreadPoolExecutor(max_workers=min(8, len(jobs))) as pool:
                for found in pool.map(lambda job: self._read_points(*job), jobs):
                    out.update(found)
        elif jobs:
            out.update(self._read_points(*jobs[0]))
        return out

    def _read_points(
        self, run_id: str, keys: list[str], x: str, version: Any
    ) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray, list[str]]]:
        table, _, problems = self._long(run_id, keys if x in BUILTIN_X else [*keys, x])
        start = self.run(run_id).created_at if x == "relative_time" else None
        out = {}
        for k in keys:
            xs, ys = points_of(table, k, x, start)
            out[(run_id, k)] = (xs, ys, problems)
            self._points_cache.put((run_id, k, x, version), out[(run_id, k)])
        return out

    def default_x(self, run_ids: Sequence[str], key: str) -> str:
        """The x axis of `key` when none is asked for: the ``step_metric`` that
        ``define_metric`` gives it (in the first of `run_ids` that gives one), else "step"."""
        return self.default_axes(run_ids, [key])[key]

    def default_axes(
        self,
        run_ids: Sequence[str],
        keys: Sequence[str],
        metas: Sequence[Mapping[str, Any]] | None = None,
    ) -> dict[str, str]:
        """``default_x`` of each of `keys`, reading each run's metadata at most once (none
        when the caller has it: `metas`, one per run)."""
        found: dict[str, str] = {}
        for i, run_id in enumerate(run_ids):
            todo = [k for k in keys if k not in found]
            if not todo:
                break
            meta = metas[i] if metas is not None else self.run(run_id).meta
            found.update(step_metrics(meta, todo))
        return {k: found.get(k) or "step" for k in keys}

    def series(
        self,
        run_id: str,
        key: str,
        x0: float | None = None,
        x1: float | None = None,
        buckets: int | None = None,
        x: str | None = None,
        edges: np.ndarray | None = None,
    ) -> Series:
        """Per-bucket min/max/last of one key over [x0, x1] (raw points when few enough).

        x defaults to ``default_x``: the key's define_metric step_metric, else step."""
        if buckets is not None and not 1 <= buckets <= 100_000:
            raise UsageError(f"buckets must be between 1 and 100000, not {buckets}")
        run_id = self.resolve_run_id(run_id)
        x = x or self.default_x([run_id], key)
        xs, ys, problems = self._points(run_id, key, x)
        self._report(run_id, problems)
        series = bucketize(run_id, key, x, xs, ys, x0, x1, buckets, edges)
        return replace(series, warnings=tuple(problems))

    def series_many(
        self,
        run_ids: Sequence[str],
        key: str,
        x0: float | None = None,
        x1: float | None = None,
        buckets: int = 1000,
        x: str | None = None,
    ) -> list[Series]:
        """The same key for several runs, bucketed on shared edges so they line up (x as in
        ``series``)."""
        full_ids = [self.resolve_run_id(r) for r in run_ids]
        axes = {key: x or self.default_x(full_ids, key)}
        return self.series_batch(full_ids, axes, x0, x1, buckets)[key]

    def series_batch(
        self,
        run_ids: Sequence[str],
        axes: Mapping[str, str],
        x0: float | None = None,
        x1: float | None = None,
        buckets: int = 1000,
    ) -> dict[str, list[Series]]:
        """``series_many`` of several keys (key → its x axis; ``default_axes`` gives the
        defaults) over the same runs, reading each run's files once for all of them."""
        full_ids = [self.resolve_run_id(r) for r in run_ids]
        points = self._points_many(full_ids, axes)
        for (rid, _), (_, _, problems) in points.items():
            self._report(rid, problems)  # here, in the caller's thread
        return {
            key: bucket_runs(
                [(rid, *points[(rid, key)]) for rid in full_ids], key, axis, x0, x1, buckets
            )
            for key, axis in axes.items()
        }
