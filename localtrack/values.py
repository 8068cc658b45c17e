"""Turning what users pass to run.log() and run.config into what the store keeps.

Scalars: bool, int, float, numpy scalars, 0-d arrays and 0-d tensors (any object with
``.item()`` and an empty ``.shape`` — torch is never imported). NaN and ±Inf are kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

MAX_KEY_LENGTH = 512
RESERVED_KEYS = frozenset({"_step", "_timestamp"})
_FLOAT_LIMIT = 1.7976931348623157e308


class Unsupported(Exception):
    """Internal: a value or key cannot be logged (message says why)."""


def check_key(key: object) -> str:
    """A metric key as stored; raises Unsupported with the reason when it cannot be one."""
    if not isinstance(key, str):
        raise Unsupported(f"metric keys must be strings, not {type(key).__name__} ({key!r})")
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Unsupported(f"metric key {key!r} must be 1 to {MAX_KEY_LENGTH} characters")
    if key in RESERVED_KEYS:
        raise Unsupported(f"metric key {key!r} is reserved for the history table's own columns")
    if any(ord(c) < 32 for c in key):
        raise Unsupported(f"metric key {key!r} contains control characters")
    return key


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


def flatten(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested mappings become "a/b" keys."""
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        full = f"{prefix}{key}" if isinstance(key, str) else key
        if isinstance(value, Mapping):
            if not isinstance(full, str):
                out.append((full, value))
                continue
            out.extend(flatten(value, f"{full}/"))
        else:
            out.append((full, value))
    return out


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of a config value (numpy scalars, tuples, paths, sets converted)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v) for v in items]
    if isinstance(value, PurePath):
        return str(value)
    item = getattr(value, "item", None)
    if callable(item) and tuple(getattr(value, "shape", (0,))) == ():
        return jsonable(item())
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return jsonable(tolist())
    return repr(value)
