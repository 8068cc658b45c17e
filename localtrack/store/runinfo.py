"""What readers get back about runs: RunInfo, ProjectInfo, MetricKey (frozen values)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .runmeta import effective_state


@dataclass(frozen=True)
class ProjectInfo:
    name: str
    run_count: int
    running_count: int
    last_activity: float | None
    state_counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricKey:
    key: str
    dtype: str
    count: int
    min: float | None
    max: float | None
    last: float | None
    last_step: int | None
    mean: float | None


@dataclass(frozen=True)
class RunInfo:
    """One run as readers see it. `state` already says "crashed" for a dead writer."""

    id: str
    project: str
    entity: str | None
    name: str
    state: str
    created_at: float | None
    updated_at: float | None
    heartbeat_at: float | None
    ended_at: float | None
    exit_code: int | None
    tags: tuple[str, ...]
    group: str | None
    job_type: str | None
    notes: str | None
    host: str | None
    pid: int | None
    config: dict[str, Any]
    summary: dict[str, Any]
    max_step: int | None
    warnings: tuple[str, ...]
    meta_json: str = field(default="{}", repr=False, compare=False)

    @cached_property
    def meta(self) -> dict[str, Any]:
        """run.json without the config (system info, segments, metric definitions, ...)."""
        return json.loads(self.meta_json) if self.meta_json else {}

    @property
    def namespace(self) -> str:
        """``entity/project`` (just the project when no entity was given): where the run lives
        in the UI, so runs of a project name used by two teams or clusters stay apart."""
        return f"{self.entity}/{self.project}" if self.entity else self.project

    @property
    def duration(self) -> float | None:
        if self.created_at is None:
            return None
        end = self.ended_at if self.state != "running" else time.time()
        end = end or self.updated_at
        return None if end is None else max(0.0, end - self.created_at)

    @property
    def system(self) -> dict[str, Any]:
        return dict(self.meta.get("system") or {})

    @property
    def metric_definitions(self) -> list[dict[str, Any]]:
        return list(self.meta.get("metric_definitions") or [])


def _state(row: dict[str, Any]) -> str:
    if row["state"] != "running":
        return str(row["state"])
    meta = json.loads(row["meta"]) if row.get("meta") else {}
    return effective_state(dict(meta, state="running"), row.get("heartbeat_at"))


def run_info(row: dict[str, Any]) -> RunInfo:
    return RunInfo(
        id=row["id"],
        project=row["project"],
        entity=row.get("entity"),
        name=row["name"],
        state=_state(row),
        created_at=row.get("created_at"),
        updated_at=row.get("updated_at"),
        heartbeat_at=row.get("heartbeat_at"),
        ended_at=row.get("ended_at"),
        exit_code=row.get("exit_code"),
        tags=tuple(json.loads(row["tags"] or "[]")),
        group=row.get("run_group"),
        job_type=row.get("job_type"),
        notes=row.get("notes"),
        host=row.get("host"),
        pid=row.get("pid"),
        config=json.loads(row["config"] or "{}"),
        summary=json.loads(row["summary"] or "{}"),
        max_step=row.get("max_step"),
        warnings=tuple(json.loads(row.get("warnings") or "[]")),
        meta_json=row.get("meta") or "{}",
    )
