"""ApiRun: one run read back (W&B's ``wandb.apis.public.Run``), and File, one of its files."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import UsageError
from ..store.reader import MetricKey, RunInfo
from ..store.series import Series
from . import history as shaping
from .backend import DEFAULT_PAGE_SIZE, Backend, FileInfo

EDITABLE = ("name", "notes", "tags", "group", "job_type", "config", "summary")


class File:
    """A file of a run's ``files/`` folder (W&B's ``public.File``)."""

    def __init__(self, backend: Backend, run_id: str, info: FileInfo) -> None:
        self._backend = backend
        self._run_id = run_id
        self.name = info.name
        self.size = info.size
        self.updated_at = info.updated_at

    def __repr__(self) -> str:
        return f"<File {self.name} ({self.size} bytes)>"

    def download(
        self, root: str | os.PathLike[str] = ".", replace: bool = False, exist_ok: bool = False
    ) -> Path:
        """Copy the file to ``root/<name>`` and return that path. An existing file there is an
        error unless `replace` (overwrite it) or `exist_ok` (keep it)."""
        parts = self.name.split("/")
        if any(p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts):
            raise UsageError(f"refusing to download {self.name!r}: not a name inside files/")
        dest = Path(root).joinpath(*parts)
        if dest.exists() and not replace:
            if exist_ok:
                return dest
            raise UsageError(f"{dest} exists; pass replace=True to overwrite it")
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.download")
        try:
            self._backend.download(self._run_id, self.name, partial)
            os.replace(partial, dest)
        finally:
            partial.unlink(missing_ok=True)
        return dest


class Tags(list):  # type: ignore[type-arg]
    """A run's tags: a list to edit in place as W&B's (``run.tags.append("x"); run.update()``),
    which also equals the tuple this API returned before it could be edited."""

    def __eq__(self, other: object) -> bool:
        if isinstance(other, tuple):
            return list(self) == list(other)
        return list.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]


class ApiRun:
    """One run: metadata as attributes, metric data and files through methods.

    ``name``, ``notes``, ``tags``, ``group``, ``job_type``, ``config`` and ``summary`` may be
    changed in place; ``update()`` writes them to the store (or the server).
    """

    def __init__(self, backend: Backend, info: RunInfo) -> None:
        self._backend = backend
        self._set_info(info)

    def _set_info(self, info: RunInfo) -> None:
        self._info = info
        self.name: str = info.name
        self.notes: str | None = info.notes
        self.tags: list[str] = Tags(info.tags)
        self.group: str | None = info.group
        self.job_type: str | None = info.job_type
        self.config: dict[str, Any] = copy.deepcopy(info.config)
        self.summary: dict[str, Any] = copy.deepcopy(info.summary)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._info, name)

    def __repr__(self) -> str:
        return f"<ApiRun {self.id} {self.name!r} {self.state}>"

    @property
    def info(self) -> RunInfo:
        return self._info

    @property
    def _reader(self) -> Any:
        return self._backend.local_reader("this")

    @property
    def display_name(self) -> str:
        return self.name

    @property
    def summary_metrics(self) -> dict[str, Any]:
        return self.summary

    @property
    def url(self) -> str:
        """The run's page: on the server this Api reads, else on ``localtrack ui`` at its
        default local address."""
        return f"{self._backend.ui_base}/runs/{self._info.id}"

    @property
    def lastHistoryStep(self) -> int:  # W&B's name
        """The last step logged (-1 for none), as W&B's."""
        return -1 if self._info.max_step is None else self._info.max_step

    @property
    def metadata(self) -> dict[str, Any]:
        """What the run recorded about where it ran (run.json's ``system``: host, Python,
        git, command line, hardware); W&B's ``run.metadata``. From a server, credentials in a
        git remote URL come back as ``***``."""
        return self._backend.metadata(self._info.id)

    @property
    def path(self) -> list[str]:
        """``[entity, project, id]`` as W&B gives it (entity "" when the run has none)."""
        return [self._info.entity or "", self._info.project, self._info.id]

    # -- metric data ------------------------------------------------------------------------

    def history(
        self,
        keys: Sequence[str] | None = None,
        samples: int | None = None,
        x_axis: str = "_step",
        pandas: bool = True,
        stream: str = "default",
    ) -> Any:
        """One row per step: ``step``, ``wall_time`` and a column per key (null where unlogged),
        as a pandas DataFrame (``pandas=False``: a pyarrow.Table).

        With `keys`, only those columns and only rows holding at least one of them. `x_axis`
        (``"_step"``, ``"_timestamp"`` or a metric key) is the first column; rows without it
        are dropped. Every row comes back unless `samples` asks for at most that many (picked
        evenly, first and last kept). ``stream="system"`` reads the system metrics.

        Rows stay indexed by step whatever ``define_metric(step_metric=...)`` says; ``series()``
        is what uses a step metric as the x axis.
        """
        x = shaping.x_column(x_axis)
        wanted = shaping.wanted_keys(keys, x)
        if stream == "system":
            if wanted is None:
                wanted = [k.key for k in self.metric_keys() if k.key.startswith("system/")]
        elif stream != "default":
            raise UsageError(f"stream is 'default' or 'system', not {stream!r}")
        table = self._backend.history(self.id, wanted)
        return shaping.to_frame(shaping.shape(table, wanted, x, samples), pandas)

    def scan_history(
        self,
        keys: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        min_step: int | None = None,
        max_step: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every row (``min_step`` ≤ step ≤ ``max_step``, both inclusive) as a dict, read
        `page_size` steps at a time: memory stays bounded however long the run. With `keys`,
        each row has all of them (None where one was not logged) and rows holding none are
        skipped; without, a row has the keys logged at its step."""
        if page_size < 1:
            raise UsageError(f"page_size must be at least 1, not {page_size}")
        wanted = shaping.wanted_keys(keys, "step")
        for page in self._backend.scan(self.id, wanted, min_step, max_step, page_size):
            yield from shaping.rows(shaping.shape(page, wanted, "step", None), wanted)

    def long_table(self, keys: Sequence[str] | None = None) -> pa.Table:
        """Long format: one row per logged value (step, key, value, wall_time)."""
        return self._backend.long_table(self.id, keys)

    def series(
        self,
        key: str,
        x0: float | None = None,
        x1: float | None = None,
        buckets: int | None = None,
        x: str | None = None,
        edges: np.ndarray | None = None,
    ) -> Series:
        """Per-bucket min/max/last of `key` over [x0, x1] on given edges (what charts use).

        `x` is step, wall_time, relative_time or another metric key; by default the key's
        ``define_metric(step_metric=...)`` (each point paired with that metric's latest value at
        or before its step), else step. ``Series.x_axis`` says which was used."""
        return self._backend.series(self.id, key, x0, x1, buckets, x, edges)

    def metric_keys(self) -> list[MetricKey]:
        return self._backend.metric_keys(self.id)

    def damage(self) -> list[str]:
        """The run's damaged files and why, as ``localtrack show`` and the run page list them
        (found when it was indexed, or now); empty when its data is whole."""
        return self._backend.damage(self.id)

    # -- files --------------------------------------------------------------------------------

    def files(self) -> list[File]:
        """The files of the run's ``files/`` folder (console output, requirements, saved files)."""
        return [File(self._backend, self.id, f) for f in self._backend.files(self.id)]

    def file(self, name: str) -> File:
        """One file by its name in ``files/``; RunNotFoundError-free: a missing name is a
        UsageError listing what there is."""
        files = {f.name: f for f in self._backend.files(self.id)}
        if name not in files:
            shown = ", ".join(sorted(files)[:10]) or "none"
            raise UsageError(f"run {self.id} has no file {name!r} (it has: {shown})")
        return File(self._backend, self.id, files[name])

    # -- artifacts ----------------------------------------------------------------------------

    def logged_artifacts(self) -> list[Any]:
        """Artifact versions this run logged."""
        return self._backend.artifacts().run_artifacts(self._info.id, used=False)

    def used_artifacts(self) -> list[Any]:
        """Artifact versions this run used."""
        return self._backend.artifacts().run_artifacts(self._info.id, used=True)

    # -- edits --------------------------------------------------------------------------------

    def _changes(self) -> dict[str, Any]:
        info = self._info
        before = {
            "name": info.name,
            "notes": info.notes,
            "tags": list(info.tags),
            "group": info.group,
            "job_type": info.job_type,
            "config": info.config,
            "summary": info.summary,
        }
        return {k: getattr(self, k) for k in EDITABLE if getattr(self, k) != before[k]}

    def update(self) -> ApiRun:
        """Write changed ``name``, ``notes``, ``tags``, ``group``, ``job_type``, ``config`` and
        ``summary`` to the run (run.json replaced atomically, then the index row). A run that a
        live process is still writing is refused: change it from its script instead."""
        changes = self._changes()
        if changes:
            self._set_info(self._backend.update(self.id, changes))
        return self

    def delete(self, delete_artifacts: bool = False) -> None:
        """Remove the run from the store: its index rows and its directory."""
        if delete_artifacts:
            raise UsageError(
                "delete_artifacts=True is not supported: artifact versions are shared and kept"
            )
        self._backend.delete(self.id)

    def refresh(self) -> ApiRun:
        """Re-read the run's metadata (for a run that is still logging); unsaved edits are lost."""
        self._set_info(self._backend.run(self.id))
        return self

    load = refresh
