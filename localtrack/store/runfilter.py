"""W&B-style run filters and sort orders, as pure functions over RunInfo.

The local ``localtrack.Api`` and the server's ``run-query`` route both use this module, so a
filter means the same thing against a directory and against a central server::

    {"$and": [{"state": "finished"}, {"config.lr": {"$lt": 1e-3}}]}
    {"$or": [{"tags": {"$in": ["best", "baseline"]}}, {"summary_metrics.val/acc": {"$gte": 0.9}}]}
    {"created_at": {"$gte": "2024-05-01T00:00:00"}}

A field maps to a value (equality) or to operators: ``$eq $ne $gt $gte $lt $lte $in $nin $regex
$exists``; ``$and``, ``$or`` and ``$nor`` combine filters. As in MongoDB, a list field (``tags``)
matches when one of its elements does (``$ne`` and ``$nin``: when none does), and a missing value
fails every operator except ``$ne``, ``$nin`` and ``$exists: false``. A bad filter is a
UsageError naming the part that is wrong, raised by ``compile_filter`` before any run is read.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import UsageError
from .runinfo import RunInfo

__all__ = ["FIELDS", "MISSING", "compile_filter", "field_value", "sort_runs"]

Predicate = Callable[[RunInfo], bool]


class _Missing:
    """A field the run does not have (unlike one set to null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

# a filterable run field → how it is read; W&B's camelCase names are aliases
FIELDS: dict[str, Callable[[RunInfo], Any]] = {
    "id": lambda r: r.id,
    "name": lambda r: r.name,
    "display_name": lambda r: r.name,
    "project": lambda r: r.project,
    "entity": lambda r: r.entity,
    "state": lambda r: r.state,
    "tags": lambda r: list(r.tags),
    "group": lambda r: r.group,
    "job_type": lambda r: r.job_type,
    "jobType": lambda r: r.job_type,
    "notes": lambda r: r.notes,
    "host": lambda r: r.host,
    "created_at": lambda r: r.created_at,
    "createdAt": lambda r: r.created_at,
    "updated_at": lambda r: r.updated_at,
    "updatedAt": lambda r: r.updated_at,
    "heartbeat_at": lambda r: r.heartbeat_at,
    "heartbeatAt": lambda r: r.heartbeat_at,
    "ended_at": lambda r: r.ended_at,
    "exit_code": lambda r: r.exit_code,
    "duration": lambda r: r.duration,
    "max_step": lambda r: r.max_step,
}
TIME_FIELDS = {"created_at", "createdAt", "updated_at", "updatedAt", "heartbeat_at"}
TIME_FIELDS |= {"heartbeatAt", "ended_at"}
PREFIXES = {"config.": "config", "summary_metrics.": "summary", "summary.": "summary"}
COMBINERS = ("$and", "$or", "$nor")
OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$regex", "$exists")


def _lookup(doc: Mapping[str, Any], path: str) -> Any:
    """`path` in a nested mapping: the whole string as one key first (``val/acc``, ``a.b``
    logged flat), else split on dots."""
    if path in doc:
        return doc[path]
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return MISSING
        value = value[part]
    return value


def _check_field(name: str) -> None:
    if name in FIELDS:
        return
    for prefix in PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return
    close = difflib.get_close_matches(name, [*FIELDS, *PREFIXES], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UsageError(
        f"filters: cannot filter on {name!r}{hint}; use a run field ({', '.join(sorted(FIELDS))}), "
        "config.<key> or summary_metrics.<key>"
    )


def field_value(info: RunInfo, name: str) -> Any:
    """The value of filter/order field `name` for a run; MISSING when it has none."""
    for prefix, attr in PREFIXES.items():
        if name.startswith(prefix):
            return _lookup(getattr(info, attr), name[len(prefix) :])
    _check_field(name)
    value = FIELDS[name](info)
    return MISSING if value is None else value


def _as_time(value: Any, where: str) -> float:
    """An epoch-seconds bound from a number, a datetime/date or an ISO 8601 string (UTC unless
    it names its zone, as W&B's createdAt is)."""
    if isinstance(value, bool):
        raise UsageError(f"filters: {where} needs a time, not {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(
                f"filters: {where}: {value!r} is not an ISO 8601 time such as "
                "'2024-05-01T12:00:00' (or give epoch seconds)"
            ) from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.timestamp()
    raise UsageError(f"filters: {where} needs a time, not {type(value).__name__}")


def _ordered(a: Any, b: Any) -> bool:
    """Whether a and b can be compared with < (numbers with numbers, strings with strings)."""
    number = (int, float)
    if isinstance(a, number) and isinstance(b, number):
        return not (isinstance(a, float) and math.isnan(a)) and not (
            isinstance(b, float) and math.isnan(b)
        )
    return isinstance(a, str) and isinstance(b, str)


def _compare(op: str, operand: Any) -> Callable[[Any], bool]:
    if op == "$gt":
        return lambda v: _ordered(v, operand) and v > operand
    if op == "$gte":
        return lambda v: _ordered(v, operand) and v >= operand
    if op == "$lt":
        return lambda v: _ordered(v, operand) and v < operand
    return lambda v: _ordered(v, operand) and v <= operand


def _operator(name: str, op: str, operand: Any) -> Callable[[Any], bool]:
    """A test of one value (MISSING included) for `op`; list values handled by the caller."""
    where = f"{name}.{op}"
    if name in TIME_FIELDS and op in ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte"):
        operand = _as_time(operand, where)
    if op in ("$eq", "$ne"):
        return lambda v: v == operand if v is not MISSING else operand is None
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return _compare(op, operand)
    if op in ("$in", "$nin"):
        if isinstance(operand, str | bytes) or not isinstance(operand, Sequence | set | frozenset):
            raise UsageError(f"filters: {where} needs a list of values, not {operand!r}")
        values = [_as_time(v, where) for v in operand] if name in TIME_FIELDS else list(operand)
        return lambda v: v is not MISSING and any(v == x for x in values)
    if op == "$regex":
        if not isinstance(operand, str):
            raise UsageError(f"filters: {where} needs a regular expression string")
        try:
            pattern = re.compile(operand)
        except re.error as exc:
            raise UsageError(
                f"filters: {where}: {operand!r} is not a regular expression: {exc}"
            ) from None
        return lambda v: isinstance(v, str) and pattern.search(v) is not None
    raise AssertionError(op)  # pragma: no cover - _field_predicate checks the name


def _negated(op: str) -> bool:
    return op in ("$ne", "$nin")


def _field_predicate(name: str, wanted: Any) -> Predicate:
    _check_field(name)
    if not isinstance(wanted, Mapping) or not any(str(k).startswith("$") for k in wanted):
        if name in TIME_FIELDS and not isinstance(wanted, Mapping):
            wanted = _as_time(wanted, name)
        conditions = [("$eq", wanted)]
    else:
        conditions = list(wanted.items())
    tests: list[Predicate] = []
    for op, operand in conditions:
        if op == "$options":
            continue
        if op not in OPERATORS:
            close = difflib.get_close_matches(str(op), [*OPERATORS, *COMBINERS], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(
                f"filters: unknown operator {op!r} on {name!r}{hint}; "
                f"use one of {', '.join(OPERATORS)}"
            )
        if (
            op == "$regex"
            and isinstance(wanted, Mapping)
            and "i" in str(wanted.get("$options", ""))
        ):
            operand = f"(?i){operand}" if isinstance(operand, str) else operand
        tests.append(_one_test(name, op, operand))
    return lambda info: all(t(info) for t in tests)


def _one_test(name: str, op: str, operand: Any) -> Predicate:
    if op == "$exists":
        if not isinstance(operand, bool):
            raise UsageError(f"filters: {name}.$exists needs true or false, not {operand!r}")
        return lambda info: (field_value(info, name) is not MISSING) == operand
    test = _operator(name, "$eq" if op == "$ne" else ("$in" if op == "$nin" else op), operand)
    negate = _negated(op)
    whole_list = op in ("$eq", "$ne") and isinstance(operand, list)

    def check(info: RunInfo) -> bool:
        value = field_value(info, name)
        hit = test(value)
        if not hit and isinstance(value, list) and not whole_list:
            hit = any(test(v) for v in value)  # a list field matches through its elements
        return not hit if negate else hit

    return check


def _combiner(op: str, parts: Any) -> Predicate:
    if not isinstance(parts, list | tuple) or not parts:
        raise UsageError(f"filters: {op} needs a non-empty list of filters, not {parts!r}")
    children = [compile_filter(p, f"{op}[{i}]") for i, p in enumerate(parts)]
    if op == "$and":
        return lambda info: all(c(info) for c in children)
    if op == "$or":
        return lambda info: any(c(info) for c in children)
    return lambda info: not any(c(info) for c in children)


def compile_filter(filters: Mapping[str, Any] | None, where: str = "filters") -> Predicate:
    """A predicate over RunInfo for a W&B/MongoDB-style filter; UsageError naming the bad part."""
    if filters is None:
        return lambda info: True
    if not isinstance(filters, Mapping):
        raise UsageError(f"{where} must be a mapping such as {{'state': 'finished'}}")
    tests: list[Predicate] = []
    for key, wanted in filters.items():
        if not isinstance(key, str):
            raise UsageError(f"{where}: field names are strings, not {key!r}")
        if key.startswith("$"):
            if key not in COMBINERS:
                close = difflib.get_close_matches(key, COMBINERS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise UsageError(
                    f"{where}: unknown top-level operator {key!r}{hint}; "
                    f"use {', '.join(COMBINERS)} or a field name"
                )
            tests.append(_combiner(key, wanted))
        else:
            tests.append(_field_predicate(key, wanted))
    return lambda info: all(t(info) for t in tests)


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is MISSING:
        return (3, 0)
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (0, value) if not math.isnan(value) else (3, 0)
    if isinstance(value, str):
        return (1, value)
    return (2, str(value))


def parse_order(order: str | None) -> tuple[str, bool]:
    """(field, descending) of a W&B order string: ``"-summary_metrics.val/acc"``,
    ``"+created_at"``; None is ``"-created_at"``."""
    order = (order or "-created_at").strip()
    descending = order.startswith("-")
    name = order.lstrip("+-")
    if not name:
        raise UsageError(f"order {order!r} names no field; e.g. '-summary_metrics.val/acc'")
    _check_field(name)
    return name, descending


def sort_runs(runs: Sequence[RunInfo], order: str | None) -> list[RunInfo]:
    """`runs` in `order` (stable; runs without the field last in either direction)."""
    name, descending = parse_order(order)
    present = [(field_value(r, name), r) for r in runs]
    have = [(v, r) for v, r in present if _sort_key(v)[0] < 3]
    missing = [r for v, r in present if _sort_key(v)[0] == 3]
    have.sort(key=lambda p: _sort_key(p[0]), reverse=descending)
    return [r for _, r in have] + missing
