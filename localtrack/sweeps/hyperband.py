"""Hyperband early termination, asynchronous (ASHA): judged from the metric the trials log.

An iteration is one logged value of the sweep's metric. At each rung (min_iter·eta^k logged
values) a trial's latest value is compared with what every other trial had at that rung; once
at least `eta` trials reached the rung, a trial outside the best 1/eta of them is stopped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from ..store.layout import RunPaths
from .config import Hyperband


def metric_values(paths: RunPaths, key: str) -> list[float]:
    """Every value of `key` the run logged so far (sealed shards and the live tail), in order."""
    from ..store.runfiles import read_run_data

    try:
        data = read_run_data(paths, keys=[key])
    except OSError:
        return []
    values: list[float] = []
    for table in data.tables:
        for k, v in zip(
            table.column("key").to_pylist(), table.column("value").to_pylist(), strict=True
        ):
            if k == key and v is not None and math.isfinite(v):
                values.append(float(v))
    return values


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
