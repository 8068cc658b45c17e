"""localtrack.Api: read runs back from a store, in Python.

::

    api = localtrack.Api()                       # dir= > LOCALTRACK_DIR > ./localtrack-runs
    for run in api.runs("mnist", filters={"state": "finished", "config.lr": {"$lt": 1e-3}}):
        print(run.name, run.summary.get("val/acc"))
        df = run.history(keys=["train/loss"]).to_pandas()

A read that meets damaged data (a shard that fails its checksum, a torn tail log) returns what
is whole and warns with ``localtrack.DataDamageWarning`` naming the run and the damaged files;
``run.damage()`` lists them without reading the data.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from .errors import DataDamageWarning, RunNotFoundError, UsageError
from .settings import resolve, resolve_dir
from .store.reader import MetricKey, ProjectInfo, RunInfo, StoreReader
from .store.series import Series

_OPERATORS = {
    "$eq": lambda a, b: a == b,
    "$ne": lambda a, b: a != b,
    "$lt": lambda a, b: a is not None and a < b,
    "$lte": lambda a, b: a is not None and a <= b,
    "$gt": lambda a, b: a is not None and a > b,
    "$gte": lambda a, b: a is not None and a >= b,
    "$in": lambda a, b: a in b,
}


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _caller_stacklevel() -> int:
    """The stacklevel of the first frame outside localtrack, counted from our caller's caller."""
    level, frame = 2, sys._getframe(2)
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def warn_damage(run_id: str, problems: list[str]) -> None:
    """Warn, at the caller's line, that a read of `run_id` left damaged data out."""
    warnings.warn(DataDamageWarning(run_id, problems), stacklevel=_caller_stacklevel())


class ApiRun:
    """One run, read-only: metadata as attributes, metric data through methods."""

    def __init__(self, reader: StoreReader, info: RunInfo) -> None:
        self._reader = reader
        self._info = info

    def __getattr__(self, name: str) -> Any:
        return getattr(self._info, name)

    def __repr__(self) -> str:
        return f"<ApiRun {self.id} {self.name!r} {self.state}>"

    @property
    def info(self) -> RunInfo:
        return self._info

    def logged_artifacts(self) -> list[Any]:
        """Artifact versions this run logged."""
        from .artifacts.query import run_artifacts

        return run_artifacts(self._reader.store.root, self._info.id, used=False)

    def used_artifacts(self) -> list[Any]:
        """Artifact versions this run used."""
        from .artifacts.query import run_artifacts

        return run_artifacts(self._reader.store.root, self._info.id, used=True)

    def history(self, keys: Sequence[str] | None = None) -> pa.Table:
        """One row per step: ``step``, ``wall_time``, and a column per key (null where unlogged).

        Rows stay indexed by step whatever ``define_metric(step_metric=...)`` says: a step
        metric such as ``epoch`` is a column like any other, aligned by step (ask for it in
        `keys`); ``series()`` is what uses it as the x axis.

        ``.to_pandas()`` on the result gives a DataFrame when pandas is installed.
        """
        return self._reader.history(self.id, keys)

    def long_table(self, keys: Sequence[str] | None = None) -> pa.Table:
        """Long format: one row per logged value (step, key, value, wall_time)."""
        return self._reader.long_table(self.id, keys)

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
        return self._reader.series(self.id, key, x0, x1, buckets, x, edges)

    def metric_keys(self) -> list[MetricKey]:
        return self._reader.metric_keys(self.id)

    def damage(self) -> list[str]:
        """The run's damaged files and why, as ``localtrack show`` and the run page list them
        (found when it was indexed, or now); empty when its data is whole."""
        return self._reader.damage(self.id)

    def refresh(self) -> ApiRun:
        """Re-read the run's metadata (for a run that is still logging)."""
        self._info = self._reader.run(self.id)
        return self


def _field(info: RunInfo, name: str) -> Any:
    if name.startswith("config."):
        value: Any = info.config
        for part in name[len("config.") :].split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        return value
    if name.startswith("summary."):
        return info.summary.get(name[len("summary.") :])
    if name == "group":
        return info.group
    if not hasattr(info, name):
        raise UsageError(
            f"cannot filter on {name!r}: use a run field (state, name, tags, group, job_type, "
            "project), config.<key> or summary.<key>"
        )
    return getattr(info, name)


def _matches(info: RunInfo, filters: Mapping[str, Any]) -> bool:
    for name, wanted in filters.items():
        value = _field(info, name)
        if isinstance(wanted, Mapping):
            for op, operand in wanted.items():
                if op not in _OPERATORS:
                    raise UsageError(
                        f"unknown filter operator {op!r}; use one of {sorted(_OPERATORS)}"
                    )
                try:
                    if not _OPERATORS[op](value, operand):
                        return False
                except TypeError:
                    return False
        elif name == "tags":
            if wanted not in value:
                return False
        elif value != wanted:
            return False
    return True


class Api:
    """Read access to a store: projects, runs and their data."""

    def __init__(self, dir: str | os.PathLike[str] | None = None) -> None:
        self.reader = StoreReader(
            resolve_dir(dir), index_mode=resolve("index"), on_damage=warn_damage
        )

    def projects(self) -> list[ProjectInfo]:
        """Every project as the UI lists it: ``name`` is ``entity/project`` (the project alone
        for runs without an entity), so two entities' projects of one name stay apart."""
        return self.reader.projects()

    def runs(
        self, project: str | None = None, filters: Mapping[str, Any] | None = None
    ) -> list[ApiRun]:
        """Runs newest first, optionally of one project and matching `filters`.

        `project` is named as the UI and ``projects()`` name it: ``"entity/project"``, or
        ``"project"`` for runs logged without an entity.

        Filters map a field (``state``, ``name``, ``tags``, ``group``, ``job_type``,
        ``config.<key>`` with dots for nesting, ``summary.<key>``) to a value, or to operators:
        ``{"$lt": x}``, ``$lte``, ``$gt``, ``$gte``, ``$ne``, ``$in``. ``tags`` matches a run
        that has the tag.
        """
        infos = self.reader.runs(project)
        if filters:
            infos = [i for i in infos if _matches(i, filters)]
        return [ApiRun(self.reader, i) for i in infos]

    def artifact(self, name: str, type: str | None = None) -> Any:
        """An artifact version: ``"project/name:alias"`` (or ``"entity/project/name:v3"``)."""
        from .artifacts.query import artifact

        return artifact(self.reader.store.root, name, type)

    def artifacts(
        self, type: str | None = None, name: str | None = None, project: str | None = None
    ) -> list[Any]:
        """The latest version of each artifact collection, optionally filtered."""
        from .artifacts.query import artifacts

        return artifacts(self.reader.store.root, type, name, project)

    def artifact_versions(self, name: str, type: str | None = None) -> list[Any]:
        """Every live version of ``"project/name"``, oldest first."""
        from .artifacts.query import artifact_versions

        return artifact_versions(self.reader.store.root, name, type)

    def run(self, path: str) -> ApiRun:
        """A run by id (or a unique id prefix), or by W&B-style path: ``"entity/project/id"``,
        ``"project/id"`` (``…/runs/id`` also works). A path whose namespace is not the run's
        raises RunNotFoundError."""
        namespace, _, run_id = path.rpartition("/")
        if namespace.endswith("/runs"):
            namespace = namespace[: -len("/runs")]
        info = self.reader.run(run_id)
        if namespace and info.namespace != namespace:
            raise RunNotFoundError(
                f"run {info.id} is in {info.namespace!r}, not {namespace!r}; "
                "`localtrack runs` lists runs with their projects"
            )
        return ApiRun(self.reader, info)
