"""The compare page's media: which media keys the selected runs have (and which runs lack each),
and for one key the item(s) every run logged at the nearest step at or before a chosen step.

The page shows one step slider over the union of the runs' steps for the key; each run shows what
it logged at the latest of its own steps not after the slider's, labelled with that actual step.
Items are described as on the run page (``media_views``), so its renderers draw them.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any

from localtrack.errors import UsageError
from localtrack.store.reader import MediaItem, StoreReader

from .catalog import int_arg
from .media_views import TYPE_ORDER, _item_json, kind_of, natural

MAX_STEPS = 5000  # the slider's stops; with more steps logged, an even sample (ends kept)


def _by_key(reader: StoreReader, run_id: str) -> dict[tuple[str, str], list[MediaItem]]:
    out: dict[tuple[str, str], list[MediaItem]] = {}
    for item in reader.media(run_id):
        out.setdefault((kind_of(item), item.key), []).append(item)
    return out


def nearest_at_or_before(steps: Sequence[int], step: int) -> int | None:
    """The largest of the sorted `steps` that is ≤ `step` (None when all are after it)."""
    i = bisect.bisect_right(steps, step)
    return steps[i - 1] if i else None


def _sampled(steps: list[int]) -> list[int]:
    if len(steps) <= MAX_STEPS:
        return steps
    last = len(steps) - 1
    picks = sorted({round(i * last / (MAX_STEPS - 1)) for i in range(MAX_STEPS)})
    return [steps[i] for i in picks]


def compare_media_view(
    reader: StoreReader, project: str, run_ids: Sequence[str], args: Mapping[str, Any]
) -> dict[str, Any]:
    """Every media key of the runs (with the runs that have and lack it) and, for the chosen key
    (``?key``, with ``?type`` when two kinds share a name; else the first key most runs have),
    each run's items at the nearest step at or before ``?step`` (the latest step when absent)."""
    runs = [reader.run(r) for r in run_ids]
    media = [_by_key(reader, r.id) for r in runs]
    order = {t: i for i, t in enumerate(TYPE_ORDER)}
    every = sorted(
        set().union(*(m.keys() for m in media)),
        key=lambda e: (order.get(e[0], 99), natural(e[1])),
    )
    keys = []
    for kind, key in every:
        have = [r.id for r, m in zip(runs, media, strict=True) if (kind, key) in m]
        keys.append(
            {
                "key": key,
                "type": kind,
                "runs": have,
                "missing": [r.id for r in runs if r.id not in have],
                "shared": len(have) == len(runs),
                "count": sum(len(m.get((kind, key), ())) for m in media),
            }
        )
    out: dict[str, Any] = {
        "project": project,
        "runs": [{"id": r.id, "name": r.name} for r in runs],
        "keys": keys,
        "shared_keys": [k["key"] for k in keys if k["shared"]],
        "key": None,
        "type": None,
    }
    wanted_key = str(args.get("key") or "")
    wanted_type = str(args.get("type") or "")
    if wanted_key:
        chosen = next(
            (
                k
                for k in keys
                if k["key"] == wanted_key and (not wanted_type or k["type"] == wanted_type)
            ),
            None,
        )
        if chosen is None:
            raise UsageError(f"none of these runs logged media under {wanted_key!r}")
    else:
        # the first key all runs share, else the first of those most of them have
        chosen = max(keys, key=lambda k: len(k["runs"]), default=None)
    if chosen is None:
        return out
    kind, key = chosen["type"], chosen["key"]
    own = [sorted({i.step for i in m.get((kind, key), ())}) for m in media]
    steps = sorted(set().union(*own))
    step = int_arg(args, "step", steps[-1], -(2**62), 2**62)
    panels = []
    for run, m, run_steps in zip(runs, media, own, strict=True):
        panel: dict[str, Any] = {"run_id": run.id, "name": run.name, "has_key": bool(run_steps)}
        at = nearest_at_or_before(run_steps, step) if run_steps else None
        panel["step"] = at
        panel["first_step"] = run_steps[0] if run_steps else None
        panel["last_step"] = run_steps[-1] if run_steps else None
        items = [i for i in m.get((kind, key), ()) if i.step == at] if at is not None else []
        items.sort(key=lambda i: i.index or 0)
        panel["items"] = [_item_json(i) for i in items]
        panels.append(panel)
    out.update(
        key=key,
        type=kind,
        step=step,
        steps=_sampled(steps),
        total_steps=len(steps),
        panels=panels,
    )
    return out
