"""Hyperband early termination, asynchronous (ASHA): judged from the metric the trials log.

An iteration is one logged value of the sweep's metric. At each rung (min_iter·eta^k logged
values) a trial's latest value is compared with what every other trial had at that rung; once
at least `eta` trials reached the rung, a trial outside the best 1/eta of them is stopped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import LocaltrackError
from ..store.layout import RunPaths
from .config import Hyperband

log = logging.getLogger(__name__)


class MetricFollower:
    """The values of one metric a run logged so far, read incrementally.

    The agent looks every 0.25 s; each look first compares the run's data version (a few
    ``stat`` calls) and reads nothing when no row landed. A sealed shard never changes, so each
    is read once; only the live tail (bounded by the seal threshold) is decoded again.
    """

    def __init__(self, paths: RunPaths, key: str) -> None:
        self._paths = paths
        self._key = key
        self._version: tuple[Any, ...] | None = None
        self._shards: dict[str, list[float]] = {}
        self._values: list[float] = []
        self.shard_reads = 0

    def values(self) -> list[float]:
        from ..store.runfiles import data_version

        version = data_version(self._paths)
        if version == self._version:
            return self._values
        try:
            self._values = self._read()
        except (OSError, LocaltrackError) as exc:  # compacted or half-written: next look
            log.debug("reading %s of %s: %s", self._key, self._paths.dir, exc)
            return self._values
        self._version = version
        return self._values

    def _read(self) -> list[float]:
        from ..store.runfiles import list_shards, list_tail_segments, read_tail_batches
        from ..store.shards import read_shard

        paths, key = self._paths, self._key
        tails = []
        for segment in list_tail_segments(paths):
            tails.extend(read_tail_batches(paths, segment)[0])
        shards = list_shards(paths)
        live = {s.filename for s in shards}
        self._shards = {k: v for k, v in self._shards.items() if k in live}
        pieces: list[tuple[tuple[int, int], list[float]]] = []
        for name in shards:
            if name.filename not in self._shards:
                table, _ = read_shard(paths.shard(name), [key])
                self.shard_reads += 1
                self._shards[name.filename] = _finite(table, key)
            pieces.append(((name.segment, name.first_batch), self._shards[name.filename]))
        for batch in tails:
            if not any(s.covers_batch(batch.segment, batch.batch_seq) for s in shards):
                pieces.append(((batch.segment, batch.batch_seq), _finite(batch.table, key)))
        pieces.sort(key=lambda p: p[0])
        return [v for _, values in pieces for v in values]


def _finite(table: Any, key: str) -> list[float]:
    if table.num_rows == 0:
        return []
    keys = table.column("key").to_pylist()
    values = table.column("value").to_pylist()
    return [
        float(v)
        for k, v in zip(keys, values, strict=True)
        if k == key and isinstance(v, int | float) and math.isfinite(v)
    ]


def metric_values(paths: RunPaths, key: str) -> list[float]:
    """Every value of `key` the run logged so far (sealed shards and the live tail), in order."""
    return MetricFollower(paths, key).values()


def rung_values(hyperband: Hyperband, values: Sequence[float]) -> dict[int, float]:
    """{rung: the metric's value at that iteration} for each rung the trial reached."""
    return {r: values[r - 1] for r in hyperband.rungs if len(values) >= r}


def should_stop(
    hyperband: Hyperband,
    goal: str,
    mine: Mapping[int, float],
    others: Iterable[Mapping[int, float]],
) -> int | None:
    """The rung at which this trial falls outside the best 1/eta, or None to let it go on."""
    others = list(others)
    for rung in sorted(mine, reverse=True):
        peers = [o[rung] for o in others if rung in o]
        if len(peers) + 1 < math.ceil(hyperband.eta):
            continue
        ranked = sorted([*peers, mine[rung]], reverse=goal == "maximize")
        keep = max(1, math.floor((len(peers) + 1) / hyperband.eta))
        cutoff = ranked[keep - 1]
        worse = mine[rung] > cutoff if goal != "maximize" else mine[rung] < cutoff
        if worse:
            return rung
        return None
    return None
