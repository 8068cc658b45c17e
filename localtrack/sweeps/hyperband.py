"""Hyperband early termination, asynchronous (ASHA), judged as W&B's controller judges it.

An iteration is one logged value of the sweep's metric. A trial is judged at the highest rung
it reached (W&B's "closest band"): the values every trial (itself included) had at that rung
are ranked, best first, and the one at position ``floor(n / eta)`` is the threshold. A trial
whose best value so far is worse than the threshold is stopped (with ``strict: true``: its value
at the rung). So with 2 trials at a rung and eta 3 the worse one stops; with 9, the best 4 go on.
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


def best_at_rungs(goal: str, hyperband: Hyperband, values: Sequence[float]) -> dict[int, float]:
    """{rung: the best value logged up to that rung} for each rung reached; at the highest
    rung reached, the best value logged so far (what W&B's default, non-strict rule judges)."""
    reached = [r for r in hyperband.rungs if len(values) >= r]
    better = max if goal == "maximize" else min
    out = {r: better(values[:r]) for r in reached}
    if reached:
        out[reached[-1]] = better(values)
    return out


def should_stop(
    hyperband: Hyperband,
    goal: str,
    mine: Mapping[int, float],
    others: Iterable[Mapping[int, float]],
    best: Mapping[int, float] | None = None,
    since: int = 0,
) -> int | None:
    """The rung at which this trial falls outside the best 1/eta, or None to let it go on.

    mine: this trial's value at each rung it reached; others: every other trial's; best: its
    best value so far at each rung (None, or strict: judged by the value at the rung). Rungs
    above `since` (the highest one judged before) are judged in order, as if looked at when
    the trial reached each; the highest rung is judged again on every call, as W&B's
    controller judges a running trial at its closest band whenever it looks.
    """
    if not mine:
        return None
    others = list(others)
    sign = -1.0 if goal == "maximize" else 1.0  # ranked as losses: lower is better
    for rung in [r for r in sorted(mine) if r > since] or [max(mine)]:
        at_rung = sorted(sign * v for v in [mine[rung], *(o[rung] for o in others if rung in o)])
        threshold = at_rung[int(len(at_rung) / hyperband.eta)]
        judged = mine[rung] if hyperband.strict or best is None else best.get(rung, mine[rung])
        if sign * judged > threshold:
            return rung
    return None
