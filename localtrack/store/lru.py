"""A small thread-safe LRU cache bounded by the total size of its values."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any


class SizedLRU:
    """A thread-safe LRU cache bounded by the total size (in bytes) of its values.

    Without `size_of` every value counts 1, so `max_bytes` bounds the number of entries.
    """

    def __init__(self, max_bytes: int, size_of: Any = lambda value: 1) -> None:
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._data: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key][0]
        return None

    def put(self, key: Any, value: Any) -> None:
        size = self._size_of(value)
        with self._lock:
            if key in self._data:
                self._bytes -= self._data.pop(key)[1]
            self._data[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._data) > 1:
                self._bytes -= self._data.popitem(last=False)[1][1]
