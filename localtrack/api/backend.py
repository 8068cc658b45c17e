"""What ``ApiRun`` needs from where the runs live: a local store or a central server.

``LocalBackend`` (``local.py``) reads a store directory through ``StoreReader``;
``RemoteBackend`` (``remote.py``) reads the same things from a ``localtrack server``'s JSON API.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from ..store.reader import RunInfo, StoreReader

DEFAULT_PAGE_SIZE = 1000


@dataclass(frozen=True)
class FileInfo:
    """One file of a run's ``files/`` folder: its name there (``/`` between folders), size and
    modification time (epoch seconds)."""

    name: str
    size: int
    updated_at: float | None


class Backend(Protocol):
    def runs(
        self, project: str | None, filters: Mapping[str, Any] | None, order: str | None
    ) -> list[RunInfo]: ...

    def run(self, run_id: str) -> RunInfo: ...

    def history(self, run_id: str, keys: Sequence[str] | None) -> pa.Table: ...

    def scan(
        self,
        run_id: str,
        keys: Sequence[str] | None,
        min_step: int | None,
        max_step: int | None,
        page_size: int,
    ) -> Iterator[pa.Table]: ...

    def files(self, run_id: str) -> list[FileInfo]: ...

    def download(self, run_id: str, name: str, dest: Path) -> None: ...

    def update(self, run_id: str, changes: Mapping[str, Any]) -> RunInfo: ...

    def delete(self, run_id: str) -> None: ...

    def local_reader(self, what: str) -> StoreReader: ...
