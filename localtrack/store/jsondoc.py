"""Reading JSON documents that cross a trust boundary, within limits, and checking their fields.

Every document a client sends (run.json, manifests, media log lines, bundle headers) is parsed by
``loads``: an optional size limit, then a nesting limit of ``MAX_DEPTH`` levels, so a document nested 5,000
deep is one clear ``DocumentError``, never a RecursionError. Its fields are then checked by the
small vocabulary below; each check raises ``Invalid`` with what was wrong, and ``check_fields``
turns that into a ``DocumentError`` naming the document and the field::

    run.json field 'tags' must be a list of strings, got int
    run.json field 'segments[0].pid' must be an integer or null, got str

The schemas live beside what they describe: ``runschema.py`` (run.json), ``mediaschema.py``
(media log lines), ``localtrack/sync/protocol.py`` (manifests) and ``bundle_format.py`` (bundle
headers).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import DocumentError

MAX_DEPTH = 64
INT64_MAX = 2**63 - 1
_CONTROL = frozenset(chr(c) for c in range(32))  # as metric keys (values.check_key)
_LINE_BREAKS = frozenset("\n\r\t")

Check = Callable[[Any], None]


class Invalid(Exception):
    """A value does not fit its field; the message says how, `at` where inside it."""

    def __init__(self, message: str, at: str = "") -> None:
        super().__init__(message)
        self.at = at


def loads(data: bytes | str, document: str, max_bytes: int | None = None) -> Any:
    """Parse `data` as JSON: at most `max_bytes` long (the receiving side checks a file's size
    first, by ``limits.py``) and `MAX_DEPTH` levels deep."""
    if max_bytes is not None and len(data) > max_bytes:
        raise DocumentError(
            f"{document} is {len(data)} bytes, over the limit of {max_bytes}", document
        )
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text)
    except RecursionError:
        raise DocumentError(
            f"{document} is nested deeper than {MAX_DEPTH} levels", document
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise DocumentError(f"{document} is not valid JSON: {exc}", document) from None
    check_depth(value, document)
    return value


def check_depth(value: Any, document: str, max_depth: int = MAX_DEPTH) -> None:
    """Refuse lists and objects nested deeper than `max_depth` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            raise DocumentError(f"{document} is nested deeper than {max_depth} levels", document)
        stack.extend((child, depth + 1) for child in children)


def type_name(value: object) -> str:
    """The name of a value's type, for error messages (``null`` for None, as JSON says)."""
    return "null" if value is None else type(value).__name__


def check_fields(
    document: str,
    data: object,
    checks: Mapping[str, Check],
    required: Sequence[str] = (),
) -> None:
    """Check each field of `data` that `checks` knows; DocumentError naming the first bad one."""
    if not isinstance(data, dict):
        raise DocumentError(f"{document} must be a JSON object, got {type_name(data)}", document)
    for name in required:
        if name not in data:
            raise DocumentError(f"{document} has no field {name!r}", document, name)
    for name, check in checks.items():
        if name in data:
            try:
                check(data[name])
            except Invalid as exc:
                where = name + exc.at
                raise DocumentError(f"{document} field {where!r} {exc}", document, where) from None


# -- the vocabulary --------------------------------------------------------------------------------


def text(
    max_chars: int,
    *,
    nullable: bool = False,
    min_chars: int = 0,
    multiline: bool = False,
    forbid: str = "",
) -> Check:
    """A string of `min_chars`..`max_chars` characters without control characters (line breaks
    and tabs allowed when `multiline`), none of `forbid`, and no lone surrogates."""
    allowed = _LINE_BREAKS if multiline else frozenset()

    def check(value: Any) -> None:
        if value is None and nullable:
            return
        if not isinstance(value, str):
            raise Invalid(
                f"must be a string{' or null' if nullable else ''}, got {type_name(value)}"
            )
        if not min_chars <= len(value) <= max_chars:
            raise Invalid(f"must be {min_chars} to {max_chars} characters, got {len(value)}")
        if not value.isprintable() and any(c in _CONTROL and c not in allowed for c in value):
            raise Invalid("must not contain control characters")
        if forbid and any(c in forbid for c in value):
            raise Invalid(f"must not contain {' or '.join(repr(c) for c in forbid)}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Invalid("must be valid Unicode (it holds a lone surrogate)") from None

    return check


def number(*, nullable: bool = False) -> Check:
    """A finite number (NaN and ±Infinity are refused), an integer within 64 bits or a float."""

    def check(value: Any) -> None:
        if value is None and nullable:
            return
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok:
            raise Invalid(
                f"must be a number{' or null' if nullable else ''}, got {type_name(value)}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise Invalid(f"must be a finite number, got {value}")
        if isinstance(value, int) and abs(value) > INT64_MAX:
            raise Invalid("must fit in 64 bits")

    return check


def integer(*, nullable: bool = False, minimum: int = -INT64_MAX) -> Check:
    """An integer from `minimum` up to 2**63-1 (a bool is not one)."""

    def check(value: Any) -> None:
        if value is None and nullable:
            return
        if not isinstance(value, int) or isinstance(value, bool):
            raise Invalid(
                f"must be an integer{' or null' if nullable else ''}, got {type_name(value)}"
            )
        if not minimum <= value <= INT64_MAX:
            raise Invalid(f"must be from {minimum} to {INT64_MAX}, got {value}")

    return check


def one_of(choices: Sequence[Any]) -> Check:
    """One of a few values (compared by value and type, so True is not 1)."""

    def check(value: Any) -> None:
        if not any(value == c and type(value) is type(c) for c in choices):
            shown = ", ".join(json.dumps(c) for c in choices)
            raise Invalid(f"must be one of {shown}, got {_short(value)}")

    return check


def mapping(*, nullable: bool = False) -> Check:
    """A JSON object of any content (its depth is bounded by ``loads``/``check_depth``)."""

    def check(value: Any) -> None:
        if value is None and nullable:
            return
        if not isinstance(value, dict):
            raise Invalid(
                f"must be an object{' or null' if nullable else ''}, got {type_name(value)}"
            )

    return check


def text_list(max_items: int, item: Check, *, nullable: bool = False) -> Check:
    """A list of at most `max_items` strings, each checked by `item`."""

    def check(value: Any) -> None:
        if value is None and nullable:
            return
        if not isinstance(value, list):
            raise Invalid(f"must be a list of strings, got {type_name(value)}")
        if len(value) > max_items:
            raise Invalid(f"must hold at most {max_items} items, got {len(value)}")
        for i, entry in enumerate(value):
            try:
                item(entry)
            except Invalid as exc:
                raise Invalid(str(exc), f"[{i}]{exc.at}") from None

    return check


def records(max_items: int, fields: Mapping[str, Check], *, nullable: bool = False) -> Check:
    """A list of at most `max_items` objects whose known fields pass `fields`."""

    def check(value: Any) -> None:
        if value is None and nullable:
            return
        if not isinstance(value, list):
            raise Invalid(f"must be a list of objects, got {type_name(value)}")
        if len(value) > max_items:
            raise Invalid(f"must hold at most {max_items} items, got {len(value)}")
        for i, entry in enumerate(value):
            if not isinstance(entry, dict):
                raise Invalid(f"must be an object, got {type_name(entry)}", f"[{i}]")
            for name, field_check in fields.items():
                if name in entry:
                    try:
                        field_check(entry[name])
                    except Invalid as exc:
                        raise Invalid(str(exc), f"[{i}].{name}{exc.at}") from None

    return check


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."
