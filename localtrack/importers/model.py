"""What every reader hands over: a source run in one neutral shape, and what an import did.

A reader (``tables``, ``tensorboard``, ...) turns whatever the other tool wrote into ``SourceRun``
values; ``publish`` turns each into a localtrack run. Readers never touch the store, and the
publisher never knows which tool a run came from.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class KeyPoints:
    """Every point of one metric key, in the source's order.

    `wall_us` is Unix time in microseconds (the store's resolution); `dtype` is the kind the
    store restores on read (``float``, ``int`` or ``bool``)."""

    key: str
    steps: np.ndarray  # int64
    values: np.ndarray  # float64, exactly the source's values
    wall_us: np.ndarray  # int64
    dtype: str = "float"

    def __post_init__(self) -> None:
        n = len(self.steps)
        if len(self.values) != n or len(self.wall_us) != n:
            raise ValueError(f"{self.key}: steps, values and wall times differ in length")

    def __len__(self) -> int:
        return len(self.steps)


@dataclass(frozen=True)
class MediaPoint:
    """One media item (image, histogram, table): its media-log record without key/step/time,
    and the blobs it names as ``(sha256, extension, bytes)``."""

    key: str
    step: int
    wall_time: float
    record: dict[str, Any]
    blobs: tuple[tuple[str, str, bytes], ...] = ()


@dataclass(frozen=True)
class ArtifactFolder:
    """Files a source run kept (an MLflow run's artifacts, a model): logged as one artifact
    version of the run, named `name`, of `type` (``model`` when it holds a model)."""

    name: str
    type: str
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class SourceRun:
    """One run of another tool, read from disk, ready to publish.

    `source` names the tool (``tensorboard``); `source_id` is what identifies the run there
    (an MLflow run id, the first event file's name): a run imported again by the same identity
    becomes the same localtrack run. `unmapped` counts what could not be mapped, by kind (one
    report line each); `damage` says what was skipped because the source is damaged."""

    source: str
    source_id: str
    location: str
    project: str | None = None
    name: str | None = None
    metrics: list[KeyPoints] = field(default_factory=list)
    media: list[MediaPoint] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # name below files/ → content
    artifacts: list[ArtifactFolder] = field(default_factory=list)
    config: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None  # values that are no metric's last value
    tags: list[str] | None = None
    notes: str | None = None
    group: str | None = None
    job_type: str | None = None
    state: str = "finished"
    created_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    host: str | None = None
    system: dict[str, Any] | None = None  # who ran it, where, from which program
    unmapped: Counter[str] = field(default_factory=Counter)
    damage: list[str] = field(default_factory=list)
    # identities an older localtrack gave this run: a store that imported it from this same
    # location under one of them goes on adding to that run instead of starting another
    earlier_ids: tuple[str, ...] = ()

    @property
    def points(self) -> int:
        return sum(len(k) for k in self.metrics)


@dataclass(frozen=True)
class RunOutcome:
    """What importing one source run did (or, for a dry run, would do)."""

    run_id: str
    source_id: str
    name: str | None
    project: str
    status: str  # "new", "updated", "unchanged" or "failed"
    points: int  # points in the source
    new_points: int
    new_media: int
    new_artifacts: int = 0
    error: str | None = None


@dataclass
class ImportReport:
    """The result of one ``import_from``: a line per run, and per kind of what was not mapped."""

    source: str
    path: str
    dry_run: bool
    runs: list[RunOutcome] = field(default_factory=list)
    unmapped: Counter[str] = field(default_factory=Counter)
    damage: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[RunOutcome]:
        return [r for r in self.runs if r.status == "failed"]

    @property
    def new_points(self) -> int:
        return sum(r.new_points for r in self.runs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "path": self.path,
            "dry_run": self.dry_run,
            "runs": [r.__dict__ for r in self.runs],
            "unmapped": dict(sorted(self.unmapped.items())),
            "damage": list(self.damage),
        }
