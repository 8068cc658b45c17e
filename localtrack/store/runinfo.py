"""What readers get back about runs: RunInfo, ProjectInfo, MetricKey (frozen values)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .runmeta import as_integer, as_number, as_text, effective_state


@dataclass(frozen=True)
class ProjectInfo:
    """A project as the UI lists it: `name` is its namespace, ``entity/project`` (just the
    project when its runs name no entity), so one project name used by two entities is two."""

    name: str
    run_count: int
    running_count: int
    last_activity: float | None
    state_counts: dict[str, int] = field(default_factory=dict)
    entity: str | None = None
    project: str = ""


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
        meta = _decoded(self.meta_json, dict)
        assert isinstance(meta, dict)
        return meta

    @property
    def namespace(self) -> str:
        """``entity/project`` (just the project when no entity was given): where the run lives
        in the UI, so runs of a project name used by two teams or clusters stay apart."""
        return namespace_of(self.entity, self.project)

    @property
    def duration(self) -> float | None:
        if self.created_at is None:
            return None
        end = self.ended_at if self.state != "running" else time.time()
        end = end or self.updated_at
        return None if end is None else max(0.0, end - self.created_at)

    @property
    def system(self) -> dict[str, Any]:
        system = self.meta.get("system")
        return dict(system) if isinstance(system, dict) else {}


def namespace_of(entity: str | None, project: str) -> str:
    """``entity/project``, or just the project when there is no entity (as the UI names it)."""
    return f"{entity}/{project}" if entity else project


def project_infos(runs: list[RunInfo]) -> list[ProjectInfo]:
    """The projects these runs belong to, one per namespace, sorted by namespace."""
    by_name: dict[str, list[RunInfo]] = {}
    for run in runs:
        by_name.setdefault(run.namespace, []).append(run)
    out = []
    for name, members in sorted(by_name.items()):
        counts: dict[str, int] = {}
        for r in members:
            counts[r.state] = counts.get(r.state, 0) + 1
        activity = [r.updated_at or r.created_at or 0 for r in members]
        first = members[0]
        running = counts.get("running", 0)
        out.append(
            ProjectInfo(
                name, len(members), running, max(activity), counts, first.entity, first.project
            )
        )
    return out


def _state(row: dict[str, Any]) -> str:
    state = as_text(row.get("state")) or "crashed"
    if state != "running":
        return state
    meta = _decoded(row.get("meta"), dict)
    return effective_state(dict(meta, state="running"), as_number(row.get("heartbeat_at")))


def _decoded(text: object, kind: type) -> Any:
    """A JSON column decoded, if it holds a `kind`; else an empty one (old indexes may hold
    junk: readers show the run without it rather than fail the listing)."""
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        value = None
    return value if isinstance(value, kind) else kind()


def newest_first(row: dict[str, Any]) -> tuple[float, str]:
    """Sort key for index rows: newest first, then by id."""
    return (-(as_number(row.get("created_at")) or 0.0), str(row["id"]))


def run_info(row: dict[str, Any]) -> RunInfo:
    """A RunInfo from an index row, each column taken only if it has its type."""
    run_id = str(row["id"])
    return RunInfo(
        id=run_id,
        project=as_text(row.get("project")) or "uncategorized",
        entity=as_text(row.get("entity")),
        name=as_text(row.get("name")) or run_id,
        state=_state(row),
        created_at=as_number(row.get("created_at")),
        updated_at=as_number(row.get("updated_at")),
        heartbeat_at=as_number(row.get("heartbeat_at")),
        ended_at=as_number(row.get("ended_at")),
        exit_code=as_integer(row.get("exit_code")),
        tags=tuple(t for t in _decoded(row.get("tags"), list) if isinstance(t, str)),
        group=as_text(row.get("run_group")),
        job_type=as_text(row.get("job_type")),
        notes=as_text(row.get("notes")),
        host=as_text(row.get("host")),
        pid=as_integer(row.get("pid")),
        config=_decoded(row.get("config"), dict),
        summary=_decoded(row.get("summary"), dict),
        max_step=as_integer(row.get("max_step")),
        warnings=tuple(str(w) for w in _decoded(row.get("warnings"), list)),
        meta_json=as_text(row.get("meta")) or "{}",
    )
