"""The local backend of ``localtrack.Api``: a store directory, read through StoreReader."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import RunNotFoundError
from ..store.historypage import HistoryPager
from ..store.layout import saved_file
from ..store.reader import MetricKey, ProjectInfo, RunInfo, StoreReader
from ..store.runedit import delete_run, edit_run
from ..store.runfilter import compile_filter, sort_runs
from ..store.series import Series
from .backend import FileInfo

DamageHandler = Callable[[str, list[str]], None]


LOCAL_UI = "http://127.0.0.1:8080"  # `localtrack ui`'s default address


class LocalBackend:
    ui_base = LOCAL_UI

    def __init__(self, reader: StoreReader, on_damage: DamageHandler) -> None:
        self.reader = reader
        self._on_damage = on_damage

    def runs(
        self, project: str | None, filters: Mapping[str, Any] | None, order: str | None
    ) -> list[RunInfo]:
        keep = compile_filter(filters)  # a bad filter fails before anything is read
        infos = [i for i in self.reader.runs(project) if keep(i)]
        return sort_runs(infos, order) if order else infos

    def run(self, run_id: str) -> RunInfo:
        return self.reader.run(run_id)

    def projects(self) -> list[ProjectInfo]:
        return self.reader.projects()

    def history(self, run_id: str, keys: Sequence[str] | None) -> pa.Table:
        return self.reader.history(run_id, keys)

    def scan(
        self,
        run_id: str,
        keys: Sequence[str] | None,
        min_step: int | None,
        max_step: int | None,
        page_size: int,
    ) -> Iterator[pa.Table]:
        run_id = self.reader.resolve_run_id(run_id)
        pager = HistoryPager(self.reader.store.run(run_id), keys)
        step = min_step
        try:
            while True:
                page = pager.page(step, max_step, page_size)
                if page.table.num_rows:
                    yield page.table
                if page.next_step is None:
                    return
                step = page.next_step
        finally:
            if pager.warnings:
                self._on_damage(run_id, pager.warnings)

    def long_table(self, run_id: str, keys: Sequence[str] | None) -> pa.Table:
        return self.reader.long_table(run_id, keys)

    def series(
        self,
        run_id: str,
        key: str,
        x0: float | None,
        x1: float | None,
        buckets: int | None,
        x: str | None,
        edges: np.ndarray | None,
    ) -> Series:
        return self.reader.series(run_id, key, x0, x1, buckets, x, edges)

    def metric_keys(self, run_id: str) -> list[MetricKey]:
        return self.reader.metric_keys(run_id)

    def damage(self, run_id: str) -> list[str]:
        return self.reader.damage(run_id)

    def metadata(self, run_id: str) -> dict[str, Any]:
        return self.reader.run(run_id).system

    def artifacts(self) -> LocalArtifacts:
        return LocalArtifacts(self.reader.store.root)

    def _files_dir(self, run_id: str) -> Path:
        return self.reader.store.run(self.reader.resolve_run_id(run_id)).files

    def files(self, run_id: str) -> list[FileInfo]:
        top = self._files_dir(run_id)
        found = []
        for folder, dirs, names in os.walk(top):  # os.walk does not follow links to folders
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                path = Path(folder) / name
                if name.startswith(".") or path.is_symlink() or not path.is_file():
                    continue  # partial files (.name.tmp) and links are not the run's files
                st = path.stat()
                rel = path.relative_to(top).as_posix()
                found.append(FileInfo(rel, st.st_size, st.st_mtime))
        return found

    def download(self, run_id: str, name: str, dest: Path) -> None:
        path = saved_file(self._files_dir(run_id), name)
        if path is None:
            raise RunNotFoundError(f"run {run_id} has no file {name!r}; run.files() lists them")
        shutil.copyfile(path, dest)

    def update(self, run_id: str, changes: Mapping[str, Any]) -> RunInfo:
        run_id = self.reader.resolve_run_id(run_id)
        edit_run(self.reader.store, run_id, changes)
        return self.reader.run(run_id)

    def delete(self, run_id: str) -> None:
        delete_run(self.reader.store, self.reader.resolve_run_id(run_id))

    def local_reader(self, what: str) -> StoreReader:
        return self.reader


class LocalArtifacts:
    """Artifact versions read straight from a store's files (``artifacts/query.py``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def artifact(self, spec: str, type: str | None) -> Any:
        from ..artifacts import query

        return query.artifact(self.root, spec, type)

    def artifacts(self, type: str | None, name: str | None, project: str | None) -> list[Any]:
        from ..artifacts import query

        return query.artifacts(self.root, type, name, project)

    def artifact_versions(self, name: str, type: str | None) -> list[Any]:
        from ..artifacts import query

        return query.artifact_versions(self.root, name, type)

    def run_artifacts(self, run_id: str, used: bool) -> list[Any]:
        from ..artifacts import query

        return query.run_artifacts(self.root, run_id, used)
