"""Trackio projects → runs, read from their SQLite files (opened read-only).

PATH is a Trackio folder (``TRACKIO_DIR``, default ``~/.cache/huggingface/trackio``: one
``<project>.db`` per project) or one project's ``.db`` file. Trackio keeps plain tables, so
the standard library's sqlite3 reads them; trackio itself need not be installed.

===============  ==========================================================================
project file     project (the file's name)
run id           the run's identity (``project/run id``)
run name         name
config           config (Trackio's own ``_Username``, ``_Created``, ``_Group`` left out;
                 ``_Group`` → group)
metrics rows     metric points at their step and timestamp, values exactly as logged
system_metrics   ``system/<name>`` rows, numbered per run in time order
===============  ==========================================================================

Values that are not numbers (Trackio's media objects, strings) are counted in the report. A
database that is locked or damaged is reported and skipped; the other projects still import.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ImportSourceError
from ..store.metrics import merge_dtype
from .model import ImportReport, KeyPoints, SourceRun

_OWN_CONFIG = ("_Username", "_Created", "_Group")


def read_runs(path: Path, report: ImportReport) -> Iterator[SourceRun]:
    files = [path] if path.is_file() else sorted(path.glob("*.db"))
    if not files:
        raise ImportSourceError(f"no Trackio project databases (<project>.db) at {path}")
    for file in files:
        try:
            runs = _read_project(file)
        except sqlite3.Error as exc:
            report.damage.append(f"{file}: not readable ({exc}), skipped")
            continue
        yield from runs


def _read_project(file: Path) -> list[SourceRun]:
    project = file.stem
    uri = f"{file.absolute().as_uri()}?mode=ro"
    with sqlite3.connect(uri, uri=True, timeout=5) as db:
        configs = {
            run_id: (name, json.loads(config), created)
            for run_id, name, config, created in db.execute(
                "SELECT run_id, run_name, config, created_at FROM configs"
            )
        }
        runs: dict[str, _Run] = {}
        rows = db.execute(
            "SELECT run_id, run_name, step, timestamp, metrics FROM metrics ORDER BY id"
        )
        for run_id, name, step, stamp, metrics in rows:
            run = runs.setdefault(run_id, _Run(project, run_id, name, file))
            run.row(int(step), _micros(stamp), json.loads(metrics), "")
        system = db.execute(
            "SELECT run_id, run_name, timestamp, metrics FROM system_metrics ORDER BY timestamp, id"
        )
        for run_id, name, stamp, metrics in system:
            run = runs.setdefault(run_id, _Run(project, run_id, name, file))
            run.row(run.system_step, _micros(stamp), json.loads(metrics), "system/")
            run.system_step += 1
    for run_id, (name, config, created) in configs.items():
        run = runs.setdefault(run_id, _Run(project, run_id, name, file))
        run.configure(config, created)
    return [run.finish() for run in runs.values()]


def _micros(stamp: str) -> int:
    moment = datetime.fromisoformat(stamp)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


class _Run:
    def __init__(self, project: str, run_id: str, name: str, file: Path) -> None:
        self.run = SourceRun(
            source="trackio",
            source_id=f"{project}/{run_id}",
            location=str(file),
            project=project,
            name=name,
        )
        self.points: dict[str, tuple[list[int], list[float], list[int], str]] = {}
        self.system_step = 0

    def row(self, step: int, wall_us: int, values: dict[str, Any], prefix: str) -> None:
        for key, value in values.items():
            if isinstance(value, bool):
                kind = "bool"
            elif isinstance(value, int):
                kind = "int"
            elif isinstance(value, float):
                kind = "float"
            else:
                self.run.unmapped[f"trackio: {type(value).__name__} values"] += 1
                continue
            steps, numbers, walls, old = self.points.get(prefix + key, ([], [], [], kind))
            steps.append(step)
            numbers.append(float(value))
            walls.append(wall_us)
            self.points[prefix + key] = (steps, numbers, walls, merge_dtype(old, kind))

    def configure(self, config: dict[str, Any], created: str) -> None:
        self.run.group = config.get("_Group")
        self.run.config = {k: v for k, v in config.items() if k not in _OWN_CONFIG}
        self.run.created_at = _micros(config.get("_Created") or created) / 1e6

    def finish(self) -> SourceRun:
        for key, (steps, values, walls, kind) in self.points.items():
            self.run.metrics.append(
                KeyPoints(
                    key,
                    np.asarray(steps, dtype=np.int64),
                    np.asarray(values, dtype=np.float64),
                    np.asarray(walls, dtype=np.int64),
                    kind,
                )
            )
        return self.run
