"""localtrack runs → W&B offline runs, replayed through the ``wandb`` package itself.

Each run is replayed with ``wandb.init(mode="offline", id=<run id>, dir=<out>)`` into
``<out>/wandb/offline-run-*-<id>/``, which ``wandb sync`` carries to any W&B server:

=================  ==========================================================================
name, notes, tags  the same fields; project, group, job type too
config             config; summary overrides → summary
metrics            one ``log()`` per step, in step order, with the step's first wall time as
                   ``_timestamp`` (W&B keeps one time per step); values exact
images             ``wandb.Image`` of the stored PNG
histograms         ``wandb.Histogram`` of the stored bins
=================  ==========================================================================

System metrics (W&B samples its own) and other media kinds are counted, not written. A run
whose offline folder is already in `out` is left alone, so exporting again adds only new runs.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..store.reader import StoreReader

SYSTEM_PREFIX = "system/"


@dataclass
class WandbExport:
    written: dict[str, str] = field(default_factory=dict)  # run id → offline run folder
    already: list[str] = field(default_factory=list)
    points: int = 0
    media: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


def export_runs(root: Path | str, run_ids: list[str], out: Path | str) -> WandbExport:
    """Replay each run into a W&B offline run folder below `out`."""
    import wandb

    reader = StoreReader(root)
    target = Path(os.fspath(out)).expanduser().absolute()
    target.mkdir(parents=True, exist_ok=True)
    report = WandbExport()
    for run_id in run_ids:
        info = reader.run(run_id)
        if any(target.glob(f"wandb/offline-run-*-{info.id}")):
            report.already.append(info.id)
            continue
        run = wandb.init(
            mode="offline",
            dir=str(target),
            id=info.id,
            project=info.project or "uncategorized",
            name=info.name or info.id,
            notes=info.notes,
            tags=list(info.tags) or None,
            group=info.group,
            job_type=info.job_type,
            config=dict(info.config or {}),
            settings=wandb.Settings(x_disable_stats=True, console="off", silent=True),
        )
        try:
            _replay(reader, info.id, run, report, wandb)
            for key, value in (info.summary or {}).items():
                if not isinstance(value, dict):
                    run.summary[key] = value
        finally:
            run.finish(exit_code=0 if info.state == "finished" else 1)
        report.written[info.id] = next(
            str(p) for p in target.glob(f"wandb/offline-run-*-{info.id}")
        )
    return report


def _replay(reader: StoreReader, run_id: str, run: Any, report: WandbExport, wandb: Any) -> None:
    table = reader.long_table(run_id)
    rows: dict[int, dict[str, Any]] = {}
    times: dict[int, int] = {}
    keys = table.column("key").to_pylist()
    steps = table.column("step").to_pylist()
    values = table.column("value").to_pylist()
    walls = table.column("wall_time").cast(pa.int64()).to_pylist()
    for key, step, value, wall in zip(keys, steps, values, walls, strict=True):
        if key.startswith(SYSTEM_PREFIX):
            report.skipped["wandb: system metrics (W&B samples its own)"] += 1
            continue
        rows.setdefault(step, {})[key] = value
        times[step] = min(times.get(step, wall), wall)
        report.points += 1
    for item in reader.media(run_id):
        value = _media(reader, run_id, item, wandb)
        if value is None:
            report.skipped[f"wandb: {item.type} media"] += 1
            continue
        rows.setdefault(item.step, {})[item.key] = value
        times.setdefault(item.step, int(item.wall_time * 1e6))
        report.media += 1
    for step in sorted(rows):
        run.log({**rows[step], "_timestamp": (times[step] + 0.5) / 1e6}, step=step)


def _media(reader: StoreReader, run_id: str, item: Any, wandb: Any) -> Any:
    if item.type == "histogram" and item.edges:
        return wandb.Histogram(np_histogram=(np.asarray(item.counts), np.asarray(item.edges)))
    if item.type == "image" and item.file and item.index in (None, 0) and (item.count or 1) == 1:
        path = reader.media_file(run_id, item.file.rsplit("/", 1)[-1])
        return None if path is None else wandb.Image(str(path), caption=item.caption)
    return None
