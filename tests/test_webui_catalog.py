"""The runs table's logic (webui/catalog.py): flatten, filter, sort, group, page, columns."""

from __future__ import annotations

import math
from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from localtrack.errors import UsageError
from localtrack.store.reader import RunInfo
from webui import catalog


def make_run(i: int, **over: Any) -> RunInfo:
    fields: dict[str, Any] = {
        "id": f"r{i:03d}",
        "project": "p",
        "entity": None,
        "name": f"run-{i}",
        "state": "finished",
        "created_at": 1000.0 + i,
        "updated_at": 1000.0 + i,
        "heartbeat_at": None,
        "ended_at": 1010.0 + i,
        "exit_code": 0,
        "tags": (),
        "group": None,
        "job_type": None,
        "notes": None,
        "host": "h",
        "pid": 1,
        "config": {"lr": 10.0**-i, "opt": {"name": "adam" if i % 2 else "sgd"}},
        "summary": {"val/acc": i / 10},
        "max_step": 100,
        "warnings": (),
        "meta_json": "{}",
    }
    fields.update(over)
    return RunInfo(**fields)


def records(n: int = 6, **over: Any) -> list[catalog.Record]:
    return [catalog.make_record(make_run(i, **over)) for i in range(n)]


def names(page: catalog.TablePage) -> list[str]:
    return [r.run.name for r in page.rows]


def q(**args: Any) -> catalog.TableQuery:
    return catalog.TableQuery.from_args(MultiDict(args))


def test_flatten_nested_config() -> None:
    assert catalog.flatten({"a": {"b": {"c": 1}, "d": 2}, "e": {}, "f": [1]}) == {
        "a.b.c": 1,
        "a.d": 2,
        "e": {},
        "f": [1],
    }


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-created_at", ["run-5", "run-4", "run-3", "run-2", "run-1", "run-0"]),
        ("name", ["run-0", "run-1", "run-2", "run-3", "run-4", "run-5"]),
        ("config.lr", ["run-5", "run-4", "run-3", "run-2", "run-1", "run-0"]),
        ("-summary.val/acc", ["run-5", "run-4", "run-3", "run-2", "run-1", "run-0"]),
        ("config.opt.name", ["run-1", "run-3", "run-5", "run-0", "run-2", "run-4"]),
    ],
)
def test_sort_by_any_column(sort: str, expected: list[str]) -> None:
    assert names(catalog.select(records(), q(sort=sort))) == expected


@pytest.mark.parametrize("sort", ["summary.missing", "-summary.missing"])
def test_missing_values_sort_last_both_ways(sort: str) -> None:
    recs = records(3)
    recs.append(catalog.make_record(make_run(9, summary={"missing": 5})))
    assert names(catalog.select(recs, q(sort=sort)))[0] == "run-9"


def test_sort_puts_nan_last() -> None:
    recs = [
        catalog.make_record(make_run(i, summary={"x": v}))
        for i, v in enumerate([1.0, math.nan, 0.5])
    ]
    assert names(catalog.select(recs, q(sort="-summary.x"))) == ["run-0", "run-2", "run-1"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"where": "lr < 1e-3 and val/acc > 0.35"}, ["run-5", "run-4"]),
        ({"where": "config.opt.name == 'adam'"}, ["run-5", "run-3", "run-1"]),
        ({"where": "opt.name == 'adam' and summary.val/acc < 0.2"}, ["run-1"]),
        ({"q": "RUN-2"}, ["run-2"]),
        ({"state": "failed"}, []),
    ],
)
def test_filters(args: dict[str, str], expected: list[str]) -> None:
    assert names(catalog.select(records(), q(**args))) == expected


def test_filter_by_tag_and_state() -> None:
    recs = [
        catalog.make_record(make_run(0, tags=("a", "b"), state="running")),
        catalog.make_record(make_run(1, tags=("a",), state="failed")),
        catalog.make_record(make_run(2, tags=("b",), state="running")),
    ]
    page = catalog.select(
        recs, catalog.TableQuery.from_args(MultiDict([("tag", "a"), ("state", "running,failed")]))
    )
    assert names(page) == ["run-1", "run-0"]
    page = catalog.select(
        recs, catalog.TableQuery.from_args(MultiDict([("tag", "a"), ("tag", "b")]))
    )
    assert names(page) == ["run-0"]


def test_paging_counts() -> None:
    page = catalog.select(records(7), q(per_page="3", page="3", sort="name"))
    assert (page.total, page.matched, names(page)) == (7, 7, ["run-6"])


def test_group_by_config_key_keeps_groups_together() -> None:
    page = catalog.select(records(), q(group_by="config.opt.name", sort="-created_at"))
    assert names(page) == ["run-5", "run-3", "run-1", "run-4", "run-2", "run-0"]
    assert [(g["value"], g["count"]) for g in page.groups] == [("adam", 3), ("sgd", 3)]


def test_default_columns_prefer_varying_config() -> None:
    recs = [catalog.make_record(make_run(i, config={"same": 1, "lr": i})) for i in range(3)]
    page = catalog.select(recs, q())
    assert page.columns == ["config.lr", "summary.val/acc"]
    assert page.fields["config"] == ["lr", "same"]


def test_chosen_columns_are_kept() -> None:
    page = catalog.select(records(2), q(columns="summary.val/acc,config.lr"))
    assert page.columns == ["summary.val/acc", "config.lr"]
    row = catalog.row_json(page.rows[0], page.columns)
    assert row["values"] == {"summary.val/acc": 0.1, "config.lr": 0.1}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"sort": "bogus"}, "unknown field 'bogus'"),
        ({"group_by": "nope"}, "unknown field 'nope'"),
        ({"state": "sleeping"}, "unknown state 'sleeping'"),
        ({"page": "0"}, "page must be between 1"),
        ({"per_page": "x"}, "per_page must be a whole number"),
        ({"per_page": "100000"}, "per_page must be between 1 and 500"),
        ({"where": "lr <"}, "expected a field name"),
    ],
)
def test_bad_arguments_raise_usage_errors(args: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        catalog.select(records(), q(**args))


def test_json_value_makes_odd_values_safe() -> None:
    assert catalog.json_value({"a": (1, math.inf), "b": math.nan, "c": object}) == {
        "a": [1, "Infinity"],
        "b": "NaN",
        "c": str(object),
    }
