"""run.config and run.summary: dict-like objects that persist every change at once."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from ..errors import UsageError
from .values import config_key, jsonable

log = logging.getLogger(__name__)


class Config:
    """The run's configuration: attribute and item access, update(), nested values.

    Every change is written to run.json immediately (atomically). Values nested more than
    ``values.MAX_NESTING`` levels deep (or containing themselves) and keys that are not valid
    Unicode raise UsageError, and leave the config unchanged.

    As in W&B, changing a key's existing value raises UsageError unless ``update(...,
    allow_val_change=True)`` (or ``init(allow_val_change=True)``) allows it; keys a sweep chose
    are locked: a change to one is ignored with a log message.
    """

    def __init__(self, data: dict[str, Any], on_change: Callable[[dict[str, Any]], None]) -> None:
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_on_change", on_change)
        object.__setattr__(self, "_allow_val_change", False)
        object.__setattr__(self, "_locked", frozenset())

    def _set_rules(self, allow_val_change: bool, locked: Iterable[str] = ()) -> None:
        """init()'s allow_val_change, and the keys a sweep set (changes to them are ignored)."""
        object.__setattr__(self, "_allow_val_change", bool(allow_val_change))
        object.__setattr__(self, "_locked", frozenset(locked))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self._on_change(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Config({self._data!r})"

    def keys(self) -> Any:
        return self._data.keys()

    def items(self) -> Any:
        return self._data.items()

    def values(self) -> Any:
        return self._data.values()

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def update(
        self,
        values: Mapping[str, Any] | None = None,
        allow_val_change: bool | None = None,
        **kw: Any,
    ) -> None:
        """Merge values into the config (W&B-compatible signature) and persist it.

        A new value for a key that has one raises UsageError unless `allow_val_change`.
        """
        allowed = self._allow_val_change if allow_val_change is None else allow_val_change
        if values is not None and not isinstance(values, Mapping) and hasattr(values, "__dict__"):
            values = vars(values)  # argparse.Namespace and similar
        merged = dict(values or {}, **kw)
        converted = {}  # all or nothing: one bad value leaves the config as it was
        for key, value in merged.items():
            name = config_key(key)
            converted[name] = jsonable(value, f"config[{name!r}]")
        for name, value in list(converted.items()):
            if name not in self._data or _same(self._data[name], value):
                continue
            if name in self._locked:
                log.warning("config[%r] is set by the sweep; the change is ignored", name)
                del converted[name]
            elif not allowed:
                raise UsageError(
                    f"config[{name!r}] is {self._data[name]!r}; changing it to {value!r} needs "
                    "config.update({...}, allow_val_change=True) (as in W&B)"
                )
        self._data.update(converted)
        self._on_change(self._data)

    def setdefaults(self, values: Mapping[str, Any]) -> None:
        missing = {k: v for k, v in values.items() if k not in self._data}
        if missing:
            self.update(missing)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._data)


def _same(a: Any, b: Any) -> bool:
    """Equal as config values (NaN equals NaN: setting it again is not a change)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


class Summary:
    """The run's summary: the last value of each metric unless set explicitly.

    Reading returns the current summary; assigning overrides one key and persists it.
    """

    def __init__(
        self,
        compute: Callable[[], dict[str, Any]],
        on_override: Callable[[str, Any], None],
        on_delete: Callable[[str], None],
    ) -> None:
        self._compute = compute
        self._on_override = on_override
        self._on_delete = on_delete

    def __getitem__(self, key: str) -> Any:
        return self._compute()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._on_override(key, jsonable(value, f"summary[{key!r}]"))

    def __delitem__(self, key: str) -> None:
        self._on_delete(key)

    def __contains__(self, key: object) -> bool:
        return key in self._compute()

    def __iter__(self) -> Iterator[str]:
        return iter(self._compute())

    def __len__(self) -> int:
        return len(self._compute())

    def __repr__(self) -> str:
        return f"Summary({self._compute()!r})"

    def get(self, key: str, default: Any = None) -> Any:
        return self._compute().get(key, default)

    def keys(self) -> Any:
        return self._compute().keys()

    def items(self) -> Any:
        return self._compute().items()

    def update(self, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            self[key] = value

    def as_dict(self) -> dict[str, Any]:
        return self._compute()
