"""localtrack runs → MLflow, through the ``mlflow`` client: a file store, SQLite or a server.

=================  =========================================================================
project            experiment (created when missing)
run                an MLflow run named like the run, tagged ``localtrack.run_id``
config             params (flattened with ``/``; values as strings, cut at MLflow's limit)
tags, notes        tags (``localtrack.tag.<tag>``), ``mlflow.note.content``
group              ``localtrack.group`` tag
metrics            every point of every key (``log_batch``), steps and values exact,
                   timestamps in milliseconds (MLflow's resolution)
state              FINISHED, FAILED or KILLED, with the run's start and end times
media              artifacts ``media/<key>/step-<step>.<ext>``: each stored file as it is
                   (PNG, WAV, MP4, HTML, a table's Parquet); histograms as JSON (edges, counts)
files              artifacts ``files/<name>`` (console output, requirements, saved files)
artifacts          each version the run logged: ``artifacts/<name>/v<N>/<its files>``
=================  =========================================================================

``localtrack.json`` beside them lists each media item's record and each artifact version's
name and type, so that ``import-from mlflow`` restores them as media and artifact versions.

A run already exported to that store (found by its ``localtrack.run_id`` tag) is left alone,
so exporting again adds only the runs that are new there.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..store.reader import StoreReader
from .runcontent import logged_artifacts, materialized, media_files, media_record, run_files

BATCH = 1000  # MLflow's log_batch takes at most 1000 metrics
MAX_PARAM_CHARS = 6000
INDEX = "localtrack.json"  # beside the media, files and artifacts: what each of them was
_STATUS = {"finished": "FINISHED", "failed": "FAILED", "crashed": "KILLED", "stopped": "KILLED"}


@dataclass
class MlflowExport:
    """What ``export_runs`` did: MLflow run id per run written, and the runs already there."""

    written: dict[str, str] = field(default_factory=dict)
    already: dict[str, str] = field(default_factory=dict)
    points: int = 0
    media: int = 0
    files: int = 0
    artifacts: int = 0


def tracking_uri(target: str) -> str:
    """A server URL or sqlite:/// URI as given; a folder path as a file store URI."""
    if "://" in target:
        return target
    return Path(target).expanduser().absolute().as_uri()


def export_runs(root: Path | str, run_ids: list[str], target: str) -> MlflowExport:
    """Write each run (metrics, config, tags, state) into the MLflow store at `target`."""
    from mlflow.tracking import MlflowClient

    from ..importers.mlflow import mlflow_env

    reader = StoreReader(root)
    report = MlflowExport()
    with mlflow_env():
        client = MlflowClient(tracking_uri(target))
        for run_id in run_ids:
            info = reader.run(run_id)
            experiment = _experiment(client, info.project or "uncategorized")
            found = client.search_runs(
                [experiment], filter_string=f"tags.`localtrack.run_id` = '{info.id}'"
            )
            if found:
                report.already[info.id] = found[0].info.run_id
                continue
            mlflow_id = _write(client, reader, info, experiment, report)
            _log_content(client, mlflow_id, reader, info.id, report)
            report.written[info.id] = mlflow_id
    return report


def _experiment(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found is not None else client.create_experiment(name)


def _write(
    client: Any, reader: StoreReader, info: Any, experiment: str, report: MlflowExport
) -> str:
    from mlflow.entities import Metric, Param

    tags = {"localtrack.run_id": info.id, **{f"localtrack.tag.{t}": "" for t in info.tags}}
    if info.notes:
        tags["mlflow.note.content"] = info.notes
    if info.group:
        tags["localtrack.group"] = info.group
    start = int((info.created_at or 0) * 1000) or None
    run = client.create_run(experiment, start_time=start, tags=tags, run_name=info.name or info.id)
    mlflow_id = run.info.run_id
    params = [Param(k, str(v)[:MAX_PARAM_CHARS]) for k, v in _flat(info.config or {}).items()]
    for i in range(0, len(params), 100):
        client.log_batch(mlflow_id, params=params[i : i + 100])
    table = reader.long_table(info.id)
    keys = table.column("key").to_pylist()
    steps = table.column("step").to_pylist()
    values = table.column("value").to_pylist()
    walls = table.column("wall_time").cast(pa.int64()).to_pylist()
    batch: list[Any] = []
    for key, step, value, wall in zip(keys, steps, values, walls, strict=True):
        batch.append(Metric(key, value, wall // 1000, step))
        if len(batch) == BATCH:
            client.log_batch(mlflow_id, metrics=batch)
            batch = []
    if batch:
        client.log_batch(mlflow_id, metrics=batch)
    report.points += len(keys)
    if info.state in _STATUS:
        end = int(info.ended_at * 1000) if info.ended_at else None
        client.set_terminated(mlflow_id, status=_STATUS[info.state], end_time=end)
    return mlflow_id


def _log_content(
    client: Any, mlflow_id: str, reader: StoreReader, run_id: str, report: MlflowExport
) -> None:
    """The run's media, files and logged artifact versions as the MLflow run's artifacts, with
    ``localtrack.json`` saying what each was."""
    with tempfile.TemporaryDirectory(prefix="localtrack-mlflow-") as tmp:
        staging = Path(tmp)
        index: dict[str, Any] = {"format": 1, "run_id": run_id}
        index["media"] = _stage_media(reader, run_id, staging, report)
        for name, path in run_files(reader, run_id):
            target = staging / "files" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            report.files += 1
        index["artifacts"] = _stage_artifacts(reader, run_id, staging, report)
        if any(staging.iterdir()):
            (staging / INDEX).write_text(json.dumps(index, allow_nan=False))
            client.log_artifacts(mlflow_id, str(staging))


def _stage_media(
    reader: StoreReader, run_id: str, staging: Path, report: MlflowExport
) -> list[dict[str, Any]]:
    """Each media item's file below `staging` (a histogram as JSON); their index entries."""
    entries = []
    for media in media_files(reader, run_id):
        item = media.item
        target = staging / media.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if media.path is not None:
            shutil.copyfile(media.path, target)
        else:
            doc = {"type": item.type, "edges": list(item.edges), "counts": list(item.counts)}
            target.write_text(json.dumps(doc))
        entries.append(
            {"path": media.name, "key": item.key, "step": item.step,
             "wall_time": item.wall_time, "record": media_record(item)}
        )  # fmt: skip
        report.media += 1
    return entries


def _stage_artifacts(
    reader: StoreReader, run_id: str, staging: Path, report: MlflowExport
) -> list[dict[str, Any]]:
    """Each artifact version the run logged, below `staging`; their index entries."""
    entries = []
    for manifest in logged_artifacts(reader.root, run_id):
        place = f"artifacts/{manifest.name}/v{manifest.version}"
        with materialized(reader.root, manifest) as folder:
            shutil.copytree(folder, staging / place)
        entries.append(
            {"path": place, "name": manifest.name, "type": manifest.type,
             "description": manifest.description, "metadata": dict(manifest.metadata)}
        )  # fmt: skip
        report.artifacts += 1
    return entries


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = value
    return out
