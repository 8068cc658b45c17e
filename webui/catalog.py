"""The runs table's logic: flatten runs into records, then filter, sort, group and page them.

Field names used by the table, the API and the filter language:

- built-in: ``name id state created_at updated_at duration tags group job_type host notes
  max_step exit_code``
- ``config.<key>`` — nested config flattened with dots (``config.optimizer.lr``)
- ``summary.<key>`` — summary keys as logged (``summary.val/acc``)

In filters a bare name resolves to a built-in, then a summary key, then a config key, so
``lr < 1e-3 and val/acc > 0.9`` works without prefixes. Pure logic: no I/O, no Flask.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from localtrack.errors import UsageError
from localtrack.store.exitreason import reason_text
from localtrack.store.reader import RunInfo

from . import query

BUILTIN_FIELDS = (
    "name",
    "id",
    "state",
    "created_at",
    "updated_at",
    "duration",
    "tags",
    "group",
    "job_type",
    "host",
    "notes",
    "max_step",
    "exit_code",
)
STATES = ("running", "finished", "failed", "crashed", "stopped")
MAX_PER_PAGE = 500
AUTO_CONFIG_COLUMNS = 3
AUTO_SUMMARY_COLUMNS = 4
EVAL_PREFIXES = ("val", "valid", "validation", "eval", "test")


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts become dotted keys: {"opt": {"lr": 1}} -> {"opt.lr": 1}."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


@dataclass(frozen=True)
class Record:
    """One run, flattened for the table: built-in fields plus flat config and summary."""

    run: RunInfo
    builtins: dict[str, Any]
    config: dict[str, Any]
    summary: dict[str, Any]

    def get(self, name: str) -> Any:
        """The value of a table field, or query.MISSING."""
        if name.startswith("config."):
            return self.config.get(name[7:], query.MISSING)
        if name.startswith("summary."):
            return self.summary.get(name[8:], query.MISSING)
        return self.builtins.get(name, query.MISSING)

    def resolve(self, name: str) -> Any:
        """A filter name: exact field first, then built-in, summary key, config key."""
        for source in (self.builtins, self.summary, self.config):
            if name in source:
                return source[name]
        return self.get(name)


def make_record(run: RunInfo) -> Record:
    builtins = {
        "name": run.name,
        "id": run.id,
        "state": run.state,
        "created_at": run.created_at,
        "updated_at": run.updated_at,
        "duration": run.duration,
        "tags": list(run.tags),
        "group": run.group,
        "job_type": run.job_type,
        "host": run.host,
        "notes": run.notes,
        "max_step": run.max_step,
        "exit_code": run.exit_code,
    }
    return Record(run, builtins, flatten(run.config), dict(run.summary))


@dataclass(frozen=True)
class TableQuery:
    """What the runs table asks for; built from request arguments by ``from_args``."""

    text: str = ""
    tags: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    where: str = ""
    sort: str = "-created_at"
    group_by: str = ""
    columns: tuple[str, ...] | None = None
    page: int = 1
    per_page: int = 50

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> TableQuery:
        """Read ``q tag state where sort group_by columns page per_page`` from a MultiDict."""
        getlist = getattr(args, "getlist", None)

        def many(name: str) -> tuple[str, ...]:
            raw = getlist(name) if getlist else [args.get(name)] if args.get(name) else []
            return tuple(v for item in raw for v in str(item).split(",") if v.strip())

        states = many("state")
        bad = [s for s in states if s not in STATES]
        if bad:
            raise UsageError(f"unknown state {bad[0]!r}; use one of {', '.join(STATES)}")
        columns = many("columns") if args.get("columns") is not None else None
        return cls(
            text=str(args.get("q") or "").strip(),
            tags=many("tag"),
            states=states,
            where=str(args.get("where") or "").strip(),
            sort=str(args.get("sort") or "-created_at"),
            group_by=str(args.get("group_by") or ""),
            columns=columns,
            page=int_arg(args, "page", 1, 1, 10**9),
            per_page=int_arg(args, "per_page", 50, 1, MAX_PER_PAGE),
        )


@dataclass
class TablePage:
    """One page of the runs table, plus what the UI needs to draw its controls."""

    total: int
    matched: int
    rows: list[Record]
    columns: list[str]
    fields: dict[str, list[str]]
    groups: list[dict[str, Any]] = field(default_factory=list)


def select(records: Sequence[Record], q: TableQuery) -> TablePage:
    """Filter, sort, group and page `records` as `q` asks."""
    matched = filter_records(records, q)
    group_key = q.group_by or None
    if group_key:
        check_field(group_key)
    matched = sort_records(matched, q.sort, group_key)
    start = (q.page - 1) * q.per_page
    fields = available_fields(records)
    columns = list(q.columns) if q.columns is not None else default_columns(records, fields)
    groups = summarize_groups(matched, group_key) if group_key else []
    return TablePage(
        len(records), len(matched), matched[start : start + q.per_page], columns, fields, groups
    )


def filter_records(records: Iterable[Record], q: TableQuery) -> list[Record]:
    tree = query.parse(q.where) if q.where else None
    text = q.text.lower()
    tags = set(q.tags)
    states = set(q.states)
    out = []
    for rec in records:
        if states and rec.run.state not in states:
            continue
        if tags and not tags.issubset(rec.run.tags):
            continue
        if text and not _text_match(rec, text):
            continue
        if tree is not None and not query.evaluate(tree, rec.resolve):
            continue
        out.append(rec)
    return out


def _text_match(rec: Record, text: str) -> bool:
    run = rec.run
    haystack = [run.name, run.id, run.group or "", run.job_type or "", run.notes or "", *run.tags]
    return any(text in item.lower() for item in haystack)


def check_field(name: str) -> None:
    if not (name in BUILTIN_FIELDS or name.startswith(("config.", "summary."))):
        raise UsageError(
            f"unknown field {name!r}: use a built-in ({', '.join(BUILTIN_FIELDS)}), "
            "config.<key> or summary.<key>"
        )


def sort_value(value: Any) -> tuple[int, Any]:
    """A key that orders mixed values: numbers, then strings, then other; missing last."""
    if value is query.MISSING or value is None:
        return (3, 0)
    if isinstance(value, bool):
        return (0, float(value))
    if isinstance(value, (int, float)):
        return (0, value) if not math.isnan(value) else (3, 0)
    if isinstance(value, str):
        return (1, value.lower())
    if isinstance(value, (list, tuple)):
        return (2, ",".join(str(v) for v in value).lower())
    return (2, str(value))


def sort_records(records: list[Record], sort: str, group_key: str | None = None) -> list[Record]:
    """Sort by one field (``-field`` for descending); missing values always go last."""
    descending = sort.startswith("-")
    name = sort.lstrip("-+")
    check_field(name)
    present = [r for r in records if sort_value(r.get(name))[0] != 3]
    absent = [r for r in records if sort_value(r.get(name))[0] == 3]
    present.sort(key=lambda r: sort_value(r.get(name)), reverse=descending)
    ordered = present + absent
    if group_key:
        ordered.sort(
            key=lambda r: (sort_value(r.get(group_key))[0], _group_label(r.get(group_key)))
        )
    return ordered


def _group_label(value: Any) -> str:
    if value is query.MISSING or value is None:
        return "(none)"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "(none)"
    return str(value)


def summarize_groups(records: Sequence[Record], group_key: str) -> list[dict[str, Any]]:
    """Per group (in table order): its label, run count and state counts."""
    groups: dict[str, dict[str, Any]] = {}
    for rec in records:
        label = _group_label(rec.get(group_key))
        entry = groups.setdefault(label, {"value": label, "count": 0, "states": {}})
        entry["count"] += 1
        entry["states"][rec.run.state] = entry["states"].get(rec.run.state, 0) + 1
    return list(groups.values())


def group_label(rec: Record, group_key: str) -> str:
    return _group_label(rec.get(group_key))


def available_fields(records: Iterable[Record]) -> dict[str, list[str]]:
    """Every config and summary key any run has (sorted), for the column picker."""
    config: set[str] = set()
    summary: set[str] = set()
    for rec in records:
        config.update(rec.config)
        summary.update(rec.summary)
    return {
        "builtin": list(BUILTIN_FIELDS),
        "config": sorted(config),
        "summary": sorted(summary),
    }


def default_columns(records: Sequence[Record], fields: dict[str, list[str]]) -> list[str]:
    """Config keys whose values differ between runs, then summary metrics, evaluation ones first."""
    varying = [k for k in fields["config"] if _varies(records, k)]
    config = varying[:AUTO_CONFIG_COLUMNS] or fields["config"][:AUTO_CONFIG_COLUMNS]
    metrics = [k for k in fields["summary"] if not k.startswith("system/")]
    metrics.sort(key=lambda k: (k.split("/", 1)[0].lower() not in EVAL_PREFIXES, "/" not in k))
    summary = metrics[:AUTO_SUMMARY_COLUMNS]
    return [f"config.{k}" for k in config] + [f"summary.{k}" for k in summary]


def _varies(records: Sequence[Record], key: str) -> bool:
    seen: set[str] = set()
    for rec in records[:2000]:
        if key in rec.config:  # a run without the key does not make it interesting
            seen.add(repr(rec.config[key]))
        if len(seen) > 1:
            return True
    return False


def clean_number(value: Any) -> Any:
    """JSON cannot hold NaN or infinity: send them as strings the UI shows as they are."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def row_json(rec: Record, columns: Sequence[str], group_key: str | None = None) -> dict[str, Any]:
    """One table row as JSON: built-ins plus the chosen columns' values."""
    run = rec.run
    values = {}
    for name in columns:
        value = rec.get(name)
        values[name] = None if value is query.MISSING else json_value(value)
    out = {
        "id": run.id,
        "name": run.name,
        "state": run.state,
        "reason": reason_text(run.meta),  # the state cell's hover
        "created_at": run.created_at,
        "duration": run.duration,
        "tags": list(run.tags),
        "group": run.group,
        "job_type": run.job_type,
        "max_step": run.max_step,
        "values": values,
    }
    if group_key:
        out["group_value"] = group_label(rec, group_key)
    return out


def json_value(value: Any) -> Any:
    """A config/summary value made JSON-safe (NaN → "NaN", tuples → lists, odd types → str)."""
    if isinstance(value, float):
        return clean_number(value)
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return str(value)


def int_arg(args: Mapping[str, Any], name: str, default: int | None, lo: int, hi: int) -> Any:
    """A whole-number request argument in [lo, hi]; `default` when absent (UsageError if bad)."""
    raw = args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise UsageError(f"{name} must be a whole number, not {raw!r}") from None
    if not lo <= value <= hi:
        raise UsageError(f"{name} must be between {lo} and {hi}, not {value}")
    return value
