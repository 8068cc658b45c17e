"""Changes to a live run's run.json made from the training thread: config, summary, metrics.

``run.config``, ``run.summary`` and ``run.define_metric()`` land here. Each change is saved to
run.json at once (atomically; a full disk keeps it in memory for the writer to retry) and the
writer is asked to refresh the run's index row on its next round.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..errors import UsageError
from ..store.runmeta import SUMMARY_MODES, MetaDocument, metric_definition
from .values import require_key

_GOALS = {"minimize": "minimize", "min": "minimize", "maximize": "maximize", "max": "maximize"}


def _summary_mode(summary: Any, goal: Any) -> Any:
    """W&B's summary= as one of SUMMARY_MODES: "best" by the goal, the first of a list."""
    if not isinstance(summary, str):
        return summary
    first = summary.split(",")[0].strip()
    if first == "best":
        if goal is None:
            raise UsageError("define_metric(summary='best') needs goal='minimize' or 'maximize'")
        return "min" if _GOALS[goal] == "minimize" else "max"
    return first


class RunEdits:
    """Applies config, summary and metric-definition changes to one run's run.json."""

    def __init__(self, meta: MetaDocument, segment: int, changed: Callable[[], None]) -> None:
        self._meta = meta
        self._segment = segment
        self._changed = changed

    def save_config(self, data: dict[str, Any]) -> None:
        """Record the whole config; one config version per segment, the latest kept."""
        versions = self._meta.get("config_versions") or []
        now = time.time()
        if versions and versions[-1].get("segment") == self._segment:
            versions[-1] = dict(versions[-1], config=dict(data), time=now)
        else:
            versions.append(
                {
                    "version": len(versions) + 1,
                    "segment": self._segment,
                    "time": now,
                    "config": dict(data),
                }
            )
        self._meta.update(config=dict(data), config_versions=versions)
        self._changed()

    def override_summary(self, key: str, value: Any) -> None:
        require_key(key, "summary key")
        overrides = self._meta.get("summary_overrides") or {}
        overrides[key] = value
        deleted = [k for k in self._meta.get("summary_deleted") or [] if k != key]
        self._meta.update(summary_overrides=overrides, summary_deleted=deleted)
        self._changed()

    def delete_summary(self, key: str) -> None:
        require_key(key, "summary key")
        overrides = self._meta.get("summary_overrides") or {}
        overrides.pop(key, None)
        deleted = sorted(set(self._meta.get("summary_deleted") or []) | {key})
        self._meta.update(summary_overrides=overrides, summary_deleted=deleted)
        self._changed()

    def define_metric(
        self,
        name: Any,
        step_metric: Any,
        summary: Any,
        goal: Any = None,
        hidden: Any = None,
        overwrite: Any = None,
    ) -> None:
        """Define a metric name or glob (see Run.define_metric); a repeated name is updated
        field by field (all fields replaced with `overwrite`) and counts as the most recent
        definition. W&B's ``summary="best"`` takes min or max from `goal`; of a list such as
        ``"min,max"`` the first mode is kept (one summary value per metric here)."""
        if not isinstance(name, str) or not name:
            raise UsageError("define_metric() needs a metric name or glob such as 'val/*'")
        require_key(name, "define_metric() name")
        if step_metric is not None:
            require_key(step_metric, "define_metric(step_metric=...)")
        if goal is not None and goal not in _GOALS:
            raise UsageError(
                f"define_metric(goal=...) must be 'minimize' or 'maximize', not {goal!r}"
            )
        summary = _summary_mode(summary, goal)
        if summary is not None and summary not in SUMMARY_MODES:
            raise UsageError(
                f"define_metric(summary=...) must be one of {SUMMARY_MODES}, not {summary!r}"
            )
        definitions = self._meta.get("metric_definitions", [])
        earlier = [d for d in definitions if d.get("name") == name and not overwrite]
        new = {"name": name, "step_metric": step_metric, "summary": summary}
        new |= {"goal": _GOALS.get(goal), "hidden": hidden}
        for field in new:  # a second call on a name adds to the first
            if new[field] is None and earlier:
                new[field] = earlier[-1].get(field)
        new = {k: v for k, v in new.items() if v is not None or k in ("step_metric", "summary")}
        definitions = [d for d in definitions if d.get("name") != name] + [new]
        self._meta.update(metric_definitions=definitions)
        self._changed()

    def step_metric_for(self, key: str) -> str | None:
        """The x-axis metric define_metric() gives `key`, if any (exact name beats a glob)."""
        definitions = self._meta.get("metric_definitions", [])
        found = metric_definition(key, definitions)["step_metric"]
        return str(found) if found else None
