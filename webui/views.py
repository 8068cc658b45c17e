"""View models: the JSON-ready data behind each page. The HTML page and its /api/v1 twin both
call these, so the two can never disagree. Reads go through ``StoreReader`` only.
"""

from __future__ import annotations

import fnmatch
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from localtrack.errors import RunNotFoundError, UsageError
from localtrack.store.reader import MetricKey, RunInfo
from localtrack.store.runjson import UI_FIELDS, json_safe
from localtrack.store.runjson import run_json as run_json_fields
from localtrack.store.runmeta import summary_modes

from . import catalog
from .alert_models import run_badge
from .files_views import redact_remote
from .state import UIState

MAX_COMPARE = 200
SYSTEM_SECTION = "system"  # system/* keys: sampled by the client in the background


def projects_view(
    state: UIState, visible: Callable[[str], bool] = lambda _name: True, show_root: bool = True
) -> dict[str, Any]:
    """Every project (that `visible` admits) with its run counts, from the shared runs snapshot.

    A central server hides its directory (`show_root=False`) and lists a project-scoped key's
    project only.
    """
    projects = []
    for name, records in sorted(state.snapshot().by_project.items()):
        if not visible(name):
            continue
        counts: dict[str, int] = {}
        for rec in records:
            counts[rec.run.state] = counts.get(rec.run.state, 0) + 1
        activity = [rec.run.updated_at or rec.run.created_at or 0 for rec in records]
        projects.append(
            {
                "name": name,
                "run_count": len(records),
                "running_count": counts.get("running", 0),
                "last_activity": max(activity),
                "state_counts": counts,
            }
        )
    return {"root": str(state.reader.root) if show_root else "", "projects": projects}


def project_records(state: UIState, project: str) -> list[catalog.Record]:
    records = state.records(project)
    if not records:
        raise RunNotFoundError(f"there is no project named {project!r} in {state.reader.root}")
    return records


def runs_view(state: UIState, project: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """One page of a project's runs table (see ``catalog.TableQuery`` for the arguments)."""
    records = project_records(state, project)
    q = catalog.TableQuery.from_args(args)
    page = catalog.select(records, q)
    tags: dict[str, int] = {}
    states: dict[str, int] = {}
    for rec in records:
        states[rec.run.state] = states.get(rec.run.state, 0) + 1
        for tag in rec.run.tags:
            tags[tag] = tags.get(tag, 0) + 1
    group_key = q.group_by or None
    return {
        "project": project,
        "total": page.total,
        "matched": page.matched,
        "page": q.page,
        "per_page": q.per_page,
        "pages": max(1, -(-page.matched // q.per_page)),
        "sort": q.sort,
        "q": q.text,
        "where": q.where,
        "tag": list(q.tags),
        "state": list(q.states),
        "group_by": q.group_by,
        "columns": page.columns,
        "fields": page.fields,
        "groups": page.groups,
        "tags": dict(sorted(tags.items())),
        "state_counts": states,
        "rows": [catalog.row_json(r, page.columns, group_key) for r in page.rows],
        "summary_modes": _summary_modes(page.rows),
    }


def _summary_modes(records: Sequence[Any]) -> dict[str, str]:
    """How each summary column's value was computed, where not `last` (define_metric)."""
    modes: dict[str, str] = {}
    for rec in records:
        modes.update(summary_modes(rec.run.meta, rec.run.summary))
    return dict(sorted(modes.items()))


def section_of(key: str) -> str:
    """The chart section of a metric key: its prefix before the first '/', or 'charts'."""
    return key.split("/", 1)[0] if "/" in key else "charts"


def _key_json(k: MetricKey) -> dict[str, Any]:
    return {
        "key": k.key,
        "dtype": k.dtype,
        "count": k.count,
        "min": catalog.clean_number(k.min),
        "max": catalog.clean_number(k.max),
        "last": catalog.clean_number(k.last),
        "mean": catalog.clean_number(k.mean),
        "last_step": k.last_step,
    }


def sections(keys: Sequence[str]) -> list[dict[str, Any]]:
    """Keys grouped by prefix: un-prefixed 'charts' first, then by name, 'system' metrics last."""
    grouped: dict[str, list[str]] = {}
    for key in keys:
        grouped.setdefault(section_of(key), []).append(key)
    order = sorted(grouped, key=lambda s: (s != "charts", s == SYSTEM_SECTION, s.lower()))
    return [{"name": name, "keys": sorted(grouped[name])} for name in order]


def run_json(run: RunInfo) -> dict[str, Any]:
    """The run's overview fields (what the run page's header shows)."""
    system = dict(run.system)
    git, argv = system.get("git"), system.get("argv")
    if isinstance(git, Mapping):  # a remote URL can carry a token
        remote = git.get("remote")
        system["git"] = dict(git, remote=redact_remote(remote) if isinstance(remote, str) else None)
    argv = argv if isinstance(argv, list) else []  # an old store may hold junk here
    return {
        **run_json_fields(run, UI_FIELDS),
        "command": shlex.join(str(a) for a in argv) if argv else None,
        "system": json_safe(system),
    }


def _summary_order(item: tuple[str, Any]) -> tuple[bool, str]:
    return item[0].startswith(SYSTEM_SECTION + "/"), item[0]


def run_view(state: UIState, run_id: str) -> dict[str, Any]:
    """Everything the run page shows: overview, config, summary, metric keys, warnings."""
    run = state.reader.run(run_id)
    keys = [k for k in state.reader.metric_keys(run.id)]
    warnings = list(run.warnings)
    warnings += [w for w in data_warnings(state, run.id) if w not in warnings]
    warnings += state.reader.checked_damage(run.id)
    return {
        "run": run_json(run),
        "config": json_safe(run.config),
        "config_flat": json_safe(catalog.flatten(run.config)),
        "summary": json_safe(dict(sorted(run.summary.items(), key=_summary_order))),
        "keys": [_key_json(k) for k in keys],
        "sections": sections([k.key for k in keys]),
        "warnings": warnings,
        "alerts": run_badge(state, run.namespace, run.id),
    }


def data_warnings(state: UIState, run_id: str) -> list[str]:
    """Problems reading the run's files now (damaged shard, torn tail), for the run page."""
    return state.reader.data_warnings(run_id)


def parse_run_ids(raw: str | None) -> list[str]:
    ids = [r for r in (raw or "").replace(" ", ",").split(",") if r]
    if not ids:
        raise UsageError(
            "give the runs to compare as ?runs=ID,ID,… (select them in the runs table)"
        )
    if len(ids) > MAX_COMPARE:
        raise UsageError(f"compare at most {MAX_COMPARE} runs at once, not {len(ids)}")
    return list(dict.fromkeys(ids))


def parse_keys(raw: str | None) -> list[str]:
    """``?keys=train/loss,val/*`` → the metric keys (or fnmatch patterns) a compare page shows."""
    return list(dict.fromkeys(k.strip() for k in (raw or "").split(",") if k.strip()))


def _chosen(keys: Sequence[str], patterns: Sequence[str]) -> list[str]:
    if not patterns:
        return list(keys)
    return [k for k in keys if any(fnmatch.fnmatchcase(k, p) for p in patterns)]


def compare_view(
    state: UIState, project: str, run_ids: Sequence[str], keys: Sequence[str] = ()
) -> dict[str, Any]:
    """Selected runs side by side: shared metric keys (only `keys`, exact names or fnmatch
    patterns, when given), config diff, numeric fields."""
    runs = [state.reader.run(r) for r in run_ids]
    flat = [catalog.flatten(r.config) for r in runs]
    names = state.reader.metric_key_names([r.id for r in runs])
    key_sets = [names[r.id] for r in runs]
    shared = _chosen(sorted(set.intersection(*key_sets)) if key_sets else [], keys)
    every = sorted(set().union(*key_sets)) if key_sets else []
    return {
        "project": project,
        "runs": [
            {
                "id": r.id,
                "name": r.name,
                "state": r.state,
                "project": r.project,
                "group": r.group,
                "tags": list(r.tags),
                "config": json_safe(f),
                "summary": json_safe(r.summary),
            }
            for r, f in zip(runs, flat, strict=True)
        ],
        "shared_keys": shared,
        "chosen_keys": list(keys),
        "all_keys": every,
        "sections": sections(shared),
        "config_diff": config_diff(flat),
        "numeric_fields": numeric_fields(flat, [r.summary for r in runs]),
    }


def config_diff(flat: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Only the config keys whose values differ between the runs (a missing key counts)."""
    keys = sorted(set().union(*(f.keys() for f in flat))) if flat else []
    diff = []
    for key in keys:
        values = [f.get(key, catalog.query.MISSING) for f in flat]
        if len({repr(v) for v in values}) > 1:
            diff.append(
                {
                    "key": key,
                    "values": [
                        None if v is catalog.query.MISSING else json_safe(v) for v in values
                    ],
                    "missing": [v is catalog.query.MISSING for v in values],
                }
            )
    return diff


def numeric_fields(
    flat: Sequence[Mapping[str, Any]], summaries: Sequence[Mapping[str, Any]]
) -> dict[str, list[str]]:
    """Config and summary fields usable as plot axes (numbers, or a few distinct strings)."""

    def usable(rows: Sequence[Mapping[str, Any]]) -> list[str]:
        keys = sorted(set().union(*(r.keys() for r in rows))) if rows else []
        out = []
        for key in keys:
            values = [r[key] for r in rows if key in r and r[key] is not None]
            numeric = all(isinstance(v, (int, float)) for v in values)
            few_labels = all(isinstance(v, (str, bool)) for v in values) and len(set(values)) <= 20
            if values and (numeric or few_labels):
                out.append(key)
        return out

    return {"config": usable(flat), "summary": usable(summaries)}
