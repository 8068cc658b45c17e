"""Byte counts and progress bars for the commands that move runs (sync, export, import)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click


def fmt_bytes(n: int) -> str:
    """`n` bytes for people: "512 B", "1.5 MB"."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


class _Bar:
    """A progress bar over bytes, opened when the client first says how many it will send
    (shown on a terminal only)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.lock = threading.Lock()

    def __call__(self, what: str, amount: int) -> None:
        with self.lock:
            if what == "total" and amount > 0:
                if self.bar is None:
                    self.bar = click.progressbar(length=amount, label=self.label, file=sys.stderr)
                    self.bar.__enter__()
                else:
                    self.bar.length += amount
            elif what == "bytes" and self.bar is not None:
                self.bar.update(amount)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@contextmanager
def progress(label: str) -> Iterator[_Bar]:
    """A progress bar to pass as a `progress` callback; closed on leaving."""
    bar = _Bar(label)
    try:
        yield bar
    finally:
        bar.close()
