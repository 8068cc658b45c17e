"""What ``ApiRun`` needs from where the runs live: a local store or a central server.

``LocalBackend`` (``local.py``) reads a store directory through ``StoreReader``;
``RemoteBackend`` (``remote.py``) reads the same things from a ``localtrack server``'s JSON API.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from ..store.reader import MetricKey, ProjectInfo, RunInfo, StoreReader
from ..store.series import Series

DEFAULT_PAGE_SIZE = 1000


@dataclass(frozen=True)
class FileInfo:
    """One file of a run's ``files/`` folder: its name there (``/`` between folders), size and
    modification time (epoch seconds)."""

    name: str
    size: int
    updated_at: float | None


class ArtifactSource(Protocol):
    """Where ``Api().artifact`` and ``ApiRun.logged_artifacts`` find artifact versions: the
    store's files (``artifacts/query.py``) or a server's artifact routes (``remote_artifacts``)."""

    def artifact(self, spec: str, type: str | None) -> Any: ...

    def artifacts(self, type: str | None, name: str | None, project: str | None) -> list[Any]: ...

    def artifact_versions(self, name: str, type: str | None) -> list[Any]: ...

    def run_artifacts(self, run_id: str, used: bool) -> list[Any]: ...


class Backend(Protocol):
    ui_base: str  # where the runs' pages are: the server, or `localtrack ui`'s default address

    def runs(
        self, project: str | None, filters: Mapping[str, Any] | None, order: str | None
    ) -> list[RunInfo]: ...

    def run(self, run_id: str) -> RunInfo: ...

    def projects(self) -> list[ProjectInfo]: ...

    def history(self, run_id: str, keys: Sequence[str] | None) -> pa.Table: ...

    def scan(
        self,
        run_id: str,
        keys: Sequence[str] | None,
        min_step: int | None,
        max_step: int | None,
        page_size: int,
    ) -> Iterator[pa.Table]: ...

    def long_table(self, run_id: str, keys: Sequence[str] | None) -> pa.Table: ...

    def series(
        self,
        run_id: str,
        key: str,
        x0: float | None,
        x1: float | None,
        buckets: int | None,
        x: str | None,
        edges: np.ndarray | None,
    ) -> Series: ...

    def metric_keys(self, run_id: str) -> list[MetricKey]: ...

    def damage(self, run_id: str) -> list[str]: ...

    def metadata(self, run_id: str) -> dict[str, Any]: ...

    def artifacts(self) -> ArtifactSource: ...

    def files(self, run_id: str) -> list[FileInfo]: ...

    def download(self, run_id: str, name: str, dest: Path) -> None: ...

    def update(self, run_id: str, changes: Mapping[str, Any]) -> RunInfo: ...

    def delete(self, run_id: str) -> None: ...

    def local_reader(self, what: str) -> StoreReader: ...
