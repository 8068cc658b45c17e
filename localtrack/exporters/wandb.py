"""localtrack runs → W&B offline runs, replayed through the ``wandb`` package itself.

Each run is replayed with ``wandb.init(mode="offline", id=<run id>, dir=<out>)`` into
``<out>/wandb/offline-run-*-<id>/``, which ``wandb sync`` carries to any W&B server:

=================  ==========================================================================
name, notes, tags  the same fields; project, group, job type too
config             config; summary overrides → summary
metrics            one ``log()`` per step, in step order, with the step's first wall time as
                   ``_timestamp`` (W&B keeps one time per step); values exact
images             ``wandb.Image`` of the stored PNG (a gallery: a list of them)
histograms         ``wandb.Histogram`` of the stored bins
tables             ``wandb.Table`` of the stored rows
audio, video,      ``wandb.Audio``, ``wandb.Video``, ``wandb.Html`` of the stored file, as it is
html
plotly, 3D         ``wandb.Plotly`` of the stored figure (needs plotly), ``wandb.Object3D``
files              ``run.save()`` of each file the run keeps (console output, saved files)
artifacts          ``run.log_artifact()`` of each version the run logged (same name and type)
=================  ==========================================================================

System metrics (W&B samples its own) are counted, not written, and so is media wandb refuses.
A run whose offline folder is already in `out` is left alone, so exporting again adds only new
runs.
"""

from __future__ import annotations

import io
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..store.reader import StoreReader
from .runcontent import (
    MediaFile,
    logged_artifacts,
    materialized,
    media_files,
    run_files,
    table_rows,
)

SYSTEM_PREFIX = "system/"


@dataclass
class WandbExport:
    written: dict[str, str] = field(default_factory=dict)  # run id → offline run folder
    already: list[str] = field(default_factory=list)
    points: int = 0
    media: int = 0
    files: int = 0
    artifacts: int = 0
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
            _save_files(reader, info.id, run, report)
            _log_artifacts(reader, info.id, run, report, wandb)
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
    for (key, step), (wall, value) in _media_values(reader, run_id, report, wandb).items():
        rows.setdefault(step, {})[key] = value
        times.setdefault(step, wall)  # a step with media only: its first item's time
    for step in sorted(rows):
        run.log({**rows[step], "_timestamp": (times[step] + 0.5) / 1e6}, step=step)


def _media_values(
    reader: StoreReader, run_id: str, report: WandbExport, wandb: Any
) -> dict[tuple[str, int], tuple[int, Any]]:
    """(key, step) → (wall time in µs, wandb value) of each media item; a gallery is a list."""
    grouped: dict[tuple[str, int], tuple[int, list[Any]]] = {}
    for media in media_files(reader, run_id):
        try:
            value = _media(media, wandb)
        except Exception as exc:  # wandb refused the content: count it, export the rest
            report.skipped[f"wandb: {media.item.type} media ({type(exc).__name__})"] += 1
            continue
        if value is None:
            report.skipped[f"wandb: {media.item.type} media"] += 1
            continue
        wall = int(media.item.wall_time * 1e6)
        grouped.setdefault((media.item.key, media.item.step), (wall, []))[1].append(value)
        report.media += 1
    return {k: (w, v[0] if len(v) == 1 else v) for k, (w, v) in grouped.items()}


def _media(media: MediaFile, wandb: Any) -> Any:
    item, path = media.item, media.path
    if item.type == "histogram" and item.edges:
        return wandb.Histogram(np_histogram=(np.asarray(item.counts), np.asarray(item.edges)))
    if path is None:
        return None
    if item.type == "image":
        return wandb.Image(str(path), caption=item.caption)
    if item.type == "table":
        columns, rows = table_rows(path)
        return wandb.Table(columns=columns, data=rows)
    if item.type == "audio":
        return wandb.Audio(str(path), caption=item.caption)
    if item.type == "video":
        return wandb.Video(str(path), caption=item.caption, format=path.suffix.lstrip("."))
    if item.type == "html":
        return wandb.Html(path.read_text(encoding="utf-8"), inject=False)
    if item.type == "plotly":
        import plotly.io  # wandb.Plotly takes a figure object, not its JSON

        return wandb.Plotly(plotly.io.from_json(path.read_text(encoding="utf-8")))
    if item.type == "object3d" and item.format == "pts.json":  # stored as <sha>.json
        text = io.StringIO(path.read_text(encoding="utf-8"))
        return wandb.Object3D(text, caption=item.caption, file_type="pts.json")
    if item.type == "object3d":
        return wandb.Object3D(str(path), caption=item.caption)
    return None


def _save_files(reader: StoreReader, run_id: str, run: Any, report: WandbExport) -> None:
    """Each file of the run's files/ folder, saved into the offline run (wandb sync uploads it)."""
    for name, path in run_files(reader, run_id):
        target = Path(run.dir) / name  # a copy: wandb.save of an outside file only links it
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        run.save(str(target), base_path=run.dir, policy="now")
        report.files += 1


def _log_artifacts(
    reader: StoreReader, run_id: str, run: Any, report: WandbExport, wandb: Any
) -> None:
    for manifest in logged_artifacts(reader.root, run_id):
        with materialized(reader.root, manifest) as folder:
            try:
                artifact = wandb.Artifact(
                    manifest.name, type=manifest.type, description=manifest.description,
                    metadata=dict(manifest.metadata),
                )  # fmt: skip
                artifact.add_dir(str(folder))
                run.log_artifact(artifact)
            except Exception as exc:  # a name or type wandb refuses: count it, go on
                report.skipped[f"wandb: artifact versions ({type(exc).__name__})"] += 1
                continue
        report.artifacts += 1
