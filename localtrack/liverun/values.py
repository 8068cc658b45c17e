"""Turning what users pass to run.log() and run.config into what the store keeps.

Scalars: bool, int, float, numpy scalars, 0-d arrays and 0-d tensors (any object with
``.item()`` and an empty ``.shape`` — torch is never imported). NaN and ±Inf are kept.

Keys (metric keys, summary keys, ``define_metric`` names): strings of 1 to ``MAX_KEY_LENGTH``
characters, valid Unicode (no lone surrogates, so they encode as UTF-8), no control characters
(U+0000–U+001F, U+007F–U+009F). Steps: whole numbers from 0 to ``MAX_STEP`` (int64). Nested
dicts (in ``log()`` and in config) may be at most ``MAX_NESTING`` levels deep.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from ..errors import UsageError

MAX_KEY_LENGTH = 512
MAX_STEP = 2**63 - 1
MAX_NESTING = 32  # run.json (runschema) allows 64 levels in all; config sits 3-4 down
RESERVED_KEYS = frozenset({"_step", "_timestamp"})
_FLOAT_LIMIT = 1.7976931348623157e308
# control characters (C0, DEL, C1) and surrogates (a str holding one cannot be encoded as UTF-8)
_BAD_KEY_CHAR = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_TOO_DEEP = f"nested more than {MAX_NESTING} levels deep (a dict or list that contains itself?)"


class Unsupported(Exception):
    """Internal: a value or key cannot be logged (message says why)."""


class TooDeep:
    """Stands in, in flatten()'s output, for a nested value that goes deeper than MAX_NESTING
    or contains itself."""

    __slots__ = ("reason", "type_name")

    def __init__(self, value: object, reason: str = _TOO_DEEP) -> None:
        self.type_name = type(value).__name__
        self.reason = reason


def key_problem(key: object, what: str = "metric key") -> str | None:
    """Why `key` cannot be a key (None when it can): see the module docstring for the rules."""
    if not isinstance(key, str):
        return f"{what}s must be strings, not {type(key).__name__} ({key!r})"
    if not key or len(key) > MAX_KEY_LENGTH:
        return f"{what} {key[:80]!r} must be 1 to {MAX_KEY_LENGTH} characters, not {len(key)}"
    bad = _BAD_KEY_CHAR.search(key)
    if bad is not None:
        kind = "a lone surrogate" if "\ud800" <= bad.group() <= "\udfff" else "a control character"
        return (
            f"{what} {key!r} contains {kind} ({bad.group()!r}); keys must be valid Unicode "
            "without control characters"
        )
    return None


def check_key(key: object) -> str:
    """A metric key as stored; raises Unsupported with the reason when it cannot be one."""
    problem = key_problem(key)
    if problem is not None:
        raise Unsupported(problem)
    if key in RESERVED_KEYS:
        raise Unsupported(f"metric key {key!r} is reserved for the history table's own columns")
    return key  # type: ignore[return-value]


def require_key(key: object, what: str) -> str:
    """`key` if it follows the key rules; otherwise a UsageError naming `what` it was for."""
    problem = key_problem(key, what)
    if problem is not None:
        raise UsageError(problem)
    return key  # type: ignore[return-value]


def check_step(step: Any) -> int:
    """A step as stored (a whole number from 0 to MAX_STEP); UsageError otherwise."""
    if isinstance(step, bool):
        raise UsageError(f"step must be an integer, not a bool ({step!r})")
    try:
        value = int(step)
    except (TypeError, ValueError, OverflowError):
        raise UsageError(f"step must be an integer, not {type(step).__name__} ({step!r})") from None
    if value != step:
        raise UsageError(f"step must be a whole number, not {step!r}")
    if value < 0:
        raise UsageError(f"step must be zero or positive, not {value}")
    if value > MAX_STEP:
        raise UsageError(f"step {value} is too large: steps are int64, at most {MAX_STEP}")
    return value


def check_exit_code(exit_code: Any) -> int:
    """An exit code for finish(): any integer that fits in 32 bits; UsageError otherwise."""
    try:
        code = operator.index(exit_code)
    except TypeError:
        raise UsageError(f"finish(exit_code=...) must be an int, not {exit_code!r}") from None
    if not -(2**31) <= code < 2**31:
        raise UsageError(f"finish(exit_code=...) must fit in 32 bits, not {code}")
    return code


def coerce_scalar(value: Any) -> tuple[float | int, str]:
    """(value, kind) for a loggable scalar; kind is "bool", "int" or "float"."""
    t = type(value)
    if t is bool:
        return int(value), "bool"
    if t is float:
        return value, "float"
    if t is int:
        if -_FLOAT_LIMIT <= value <= _FLOAT_LIMIT:
            return value, "int"
        raise Unsupported(f"int {value} is too large to store (beyond float64)")
    item = getattr(value, "item", None)
    shape = getattr(value, "shape", None)
    if callable(item) and shape is not None and tuple(shape) == () and not isinstance(value, str):
        try:
            inner = item()
        except Exception as exc:
            raise Unsupported(f"{t.__name__}.item() failed: {exc}") from exc
        if type(inner) in (bool, int, float):
            return coerce_scalar(inner)
        if isinstance(inner, complex):
            raise Unsupported("complex numbers cannot be logged as scalars")
        raise Unsupported(f"{t.__name__} holding {type(inner).__name__}")
    if hasattr(value, "shape"):
        raise Unsupported(
            f"{t.__name__} of shape {tuple(value.shape)}: only scalars (0-d) can be logged; "
            "log a reduced value such as x.mean().item()"
        )
    raise Unsupported(f"values of type {t.__name__} cannot be logged as metrics")


def flatten(
    data: Mapping[Any, Any], prefix: str = "", parents: tuple[int, ...] = ()
) -> list[tuple[Any, Any]]:
    """Nested mappings become "a/b" keys; a branch deeper than MAX_NESTING, or one that
    contains a mapping it is inside of, becomes TooDeep (the caller drops it)."""
    parents = (*parents, id(data))
    out: list[tuple[Any, Any]] = []
    for key, value in data.items():
        full = f"{prefix}{key}" if isinstance(key, str) else key
        if isinstance(value, Mapping) and isinstance(full, str):
            if id(value) in parents:
                out.append((full, TooDeep(value, "it contains itself")))
            elif len(parents) >= MAX_NESTING:
                out.append((full, TooDeep(value)))
            else:
                out.extend(flatten(value, f"{full}/", parents))
        else:
            out.append((full, value))
    return out


def jsonable(value: Any, name: str = "value") -> Any:
    """A JSON-safe copy of a config value (numpy scalars, tuples, paths, sets converted).

    Strings that are not valid Unicode (lone surrogates, e.g. from undecodable file names) keep
    U+FFFD in place of the bad characters. UsageError, naming `name`, for a value nested more than
    MAX_NESTING levels deep or a mapping key that is not valid Unicode.
    """
    return _jsonable(value, name, 0)


def _jsonable(value: Any, name: str, depth: int) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _valid_text(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        if depth >= MAX_NESTING:
            raise UsageError(f"{name} is {_TOO_DEEP}")
        if isinstance(value, Mapping):
            return {_config_key(k, name): _jsonable(v, name, depth + 1) for k, v in value.items()}
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [_jsonable(v, name, depth + 1) for v in items]
    if isinstance(value, PurePath):
        return _valid_text(str(value))
    item = getattr(value, "item", None)
    if callable(item) and tuple(getattr(value, "shape", (0,))) == ():
        return _jsonable(item(), name, depth)
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return _jsonable(tolist(), name, depth)
    return _valid_text(repr(value))


def config_key(key: object) -> str:
    """A config key as stored (str() of it); UsageError when it is not valid Unicode."""
    return _config_key(key, "config")


def _config_key(key: object, name: str) -> str:
    text = str(key)
    if _SURROGATE.search(text) is not None:
        raise UsageError(
            f"{name}: key {text!r} is not valid Unicode (it holds a lone surrogate); "
            "keys must encode as UTF-8"
        )
    return text


def _valid_text(text: str) -> str:
    return text if _SURROGATE.search(text) is None else _SURROGATE.sub("\ufffd", text)
