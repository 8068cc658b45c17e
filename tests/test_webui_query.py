"""The runs-table filter language (webui/query.py): parsing, evaluation, and clear errors."""

from __future__ import annotations

import re
from typing import Any

import pytest

from localtrack.errors import UsageError
from webui import query

RUN: dict[str, Any] = {
    "lr": 1e-4,
    "val/acc": 0.93,
    "optimizer": "Adam",
    "epochs": 10,
    "tags": ["baseline", "v2"],
    "name": "resnet-50 long",
    "use_amp": True,
    "notes": None,
    "model.depth": 24,
    "my key": 3,
}


def resolve(name: str) -> Any:
    return RUN.get(name, query.MISSING)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("lr < 1e-3 and val/acc > 0.9", True),
        ("lr<1e-3 and val/acc>0.95", False),
        ("lr >= 0.0001", True),
        ("lr > 1e-4", False),
        ("epochs == 10", True),
        ("epochs = 10", True),
        ("epochs != 10", False),
        ("optimizer == 'adam'", True),  # string equality ignores case
        ('optimizer == "sgd" or epochs <= 10', True),
        ("not (epochs >= 10)", False),
        ("not epochs > 20", True),
        ("name ~ 'RESNET'", True),
        ("name !~ 'vit'", True),
        ("tags ~ 'baseline'", True),
        ("'v2' in tags", True),
        ("'v3' in tags", False),
        ("epochs in (5, 10, 20)", True),
        ("optimizer in ('sgd', 'adamw')", False),
        ("use_amp", True),
        ("use_amp == true", True),
        ("notes == null", True),
        ("missing_key == null", True),
        ("missing_key > 1", False),
        ("missing_key != 1", True),
        ("missing_key ~ 'x'", False),
        ("missing_key", False),
        ("model.depth == 24", True),
        ("`my key` == 3", True),
        ("optimizer > 1", False),  # a string never orders against a number
        ("lr < 1e-3 AND (val/acc > 0.99 OR epochs == 10)", True),
        ("epochs > -1", True),
    ],
)
def test_evaluate_table(expr: str, expected: bool) -> None:
    assert query.evaluate(query.parse(expr), resolve) is expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("lr <", "expected a field name, number or quoted string at column 5"),
        ("lr < 1e-3 and", "at column 14, found the end"),
        ("(lr < 1", "expected ')'"),
        ("lr $ 3", "unexpected character '$' at column 4"),
        ("3", "expected a comparison operator"),
        ("lr < 1 2", "expected 'and', 'or' or the end"),
        ("x in (a, 1)", "a list after 'in' may hold only"),
        ("'open", "unexpected character"),
    ],
)
def test_parse_errors_say_where(expr: str, message: str) -> None:
    with pytest.raises(query.QueryError, match=re.escape(message)):
        query.parse(expr)


def test_query_error_is_a_usage_error() -> None:
    assert issubclass(query.QueryError, UsageError)


def test_parse_refuses_very_long_filters() -> None:
    with pytest.raises(query.QueryError, match="longer than 2000"):
        query.parse("a == 1 or " * 300 + "a == 1")


def test_parse_never_evaluates_python() -> None:
    tree = query.parse("__import__ == 'os'")
    assert query.evaluate(tree, resolve) is False
    assert query.fields_of(tree) == {"__import__"}


def test_fields_of_lists_every_referenced_field() -> None:
    tree = query.parse("lr < 1 and not (val/acc > 0.5 or 'x' in tags)")
    assert query.fields_of(tree) == {"lr", "val/acc", "tags"}


def test_strings_with_escaped_quotes() -> None:
    assert query.parse(r"name == 'it\'s'") == query.Compare(
        "==", query.Field("name"), query.Const("it's")
    )
