"""MLflow tracking stores → runs, read with the ``mlflow`` package's own client.

PATH is an ``mlruns/`` folder (the file store), an SQLite database file (``mlflow.db``) or a
``sqlite:///…`` URI. ``mlflow-skinny`` is enough (``pip install 'localtrack[mlflow]'``).

==========================  ==================================================================
experiment                  project (``/`` in its name becomes ``-``)
run id                      the run's identity: importing again finds the same run
run name, start, end        name, created_at, ended_at
status                      FINISHED → finished, FAILED → failed, KILLED → crashed,
                            RUNNING / SCHEDULED → running
metrics                     every point of every key's full history (``get_metric_history``):
                            steps, values (float64, exact), timestamps (ms)
params                      config (strings, as MLflow keeps them)
tags                        tags as ``key=value``; ``mlflow.note.content`` → notes;
                            ``mlflow.user``, ``mlflow.source.*`` → system
nested runs                 group: the top run's name, shared by it and every run below it
artifacts                   one artifact version per run (type ``model`` when it holds an
                            ``MLmodel`` file), linked to the run; what ``export-to mlflow``
                            wrote (``localtrack.json``): media, files and artifact versions
==========================  ==================================================================

Deleted runs and experiments are left out. Other ``mlflow.*`` tags are counted in the report.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ImportSourceError
from .mlflow_layout import take_localtrack_parts
from .model import ArtifactFolder, ImportReport, KeyPoints, SourceRun

STATES = {
    "FINISHED": "finished",
    "FAILED": "failed",
    "KILLED": "crashed",
    "RUNNING": "running",
    "SCHEDULED": "running",
}
_SYSTEM_TAGS = {
    "mlflow.user": "user",
    "mlflow.source.name": "program",
    "mlflow.source.type": "source_type",
    "mlflow.source.git.commit": "git_commit",
    "mlflow.source.git.branch": "git_branch",
    "mlflow.source.git.repoURL": "git_remote",
}
_KNOWN_TAGS = {"mlflow.runName", "mlflow.parentRunId", "mlflow.note.content", *_SYSTEM_TAGS}
MAX_TAG_CHARS = 256
_EXPORTED_TAG_PREFIX = "localtrack.tag."
PAGE = 1000


def tracking_uri(path: Path | str) -> str:
    """The MLflow tracking URI for an mlruns/ folder, a database file or a sqlite:/// URI."""
    text = os.fspath(path)
    if text.startswith("sqlite:///"):
        return text
    where = Path(text).expanduser().absolute()
    if where.is_file():
        return f"sqlite:///{where}"
    if where.is_dir():
        return where.as_uri()
    raise ImportSourceError(f"{text} is neither an mlruns/ folder nor an MLflow database file")


_MLFLOW_ENV = {
    "MLFLOW_ALLOW_FILE_STORE": "true",  # MLflow 3 refuses its file store unless told; we only read
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # our CLI reports; no bars on stderr
}


@contextlib.contextmanager
def mlflow_env() -> Iterator[None]:
    """The environment our MLflow client calls run in (set while they run, then restored)."""
    before = {name: os.environ.get(name) for name in _MLFLOW_ENV}
    os.environ.update(_MLFLOW_ENV)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def read_runs(path: Path, report: ImportReport) -> Iterator[SourceRun]:
    """Every live run of every live experiment of the store at `path`."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(path)
    with mlflow_env():
        try:
            client = MlflowClient(tracking_uri=uri)
            experiments = _all(client.search_experiments)
        except MlflowException as exc:
            raise ImportSourceError(f"MLflow cannot read {uri}: {exc.message}") from None
        for experiment in experiments:
            runs = _runs_of(client, experiment, report)
            names = {r.info.run_id: r.info.run_name for r in runs}
            parents = {
                r.info.run_id: r.data.tags.get("mlflow.parentRunId")
                for r in runs
                if r.data.tags.get("mlflow.parentRunId")
            }
            for run in runs:
                with tempfile.TemporaryDirectory(prefix="localtrack-mlflow-") as tmp:
                    try:
                        found = _read_run(client, run, experiment.name, names, parents, Path(tmp))
                    except Exception as exc:  # MLflow's or its database's error: this run only
                        report.damage.append(f"run {run.info.run_id}: not readable ({exc})")
                        continue
                    yield found


def _runs_of(client: Any, experiment: Any, report: ImportReport) -> list[Any]:
    """The experiment's live runs. When one damaged run makes the search fail, a file store's
    runs are read one by one, so only the damaged ones are skipped (and reported)."""
    from mlflow.exceptions import MlflowException

    try:
        return _all(client.search_runs, [experiment.experiment_id])
    except MlflowException as exc:
        problem = exc.message
    location = str(experiment.artifact_location or "")
    if not location.startswith("file:"):
        report.damage.append(f"experiment {experiment.name}: not readable ({problem})")
        return []
    folder = Path(urllib.parse.unquote(urllib.parse.urlparse(location).path))
    runs = []
    for run_dir in sorted(p for p in folder.iterdir() if (p / "meta.yaml").is_file()):
        try:
            run = client.get_run(run_dir.name)
        except Exception as exc:  # MLflow's error reading this run's files: this run only
            report.damage.append(f"run {run_dir.name}: not readable ({exc})")
            continue
        if run.info.lifecycle_stage == "active":
            runs.append(run)
    return runs


def _all(search: Any, *args: Any) -> list[Any]:
    """Every page of a paged MLflow search."""
    found, token = [], None
    while True:
        page = search(*args, max_results=PAGE, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def _read_run(
    client: Any,
    source: Any,
    experiment: str,
    names: dict[str, str],
    parents: dict[str, str],
    tmp: Path,
) -> SourceRun:
    info, data = source.info, source.data
    run = SourceRun(
        source="mlflow",
        source_id=info.run_id,
        location=str(info.artifact_uri),
        project=experiment.replace("/", "-").strip("-")[:128] or None,
        name=info.run_name,
        config=dict(data.params),
        state=STATES.get(str(info.status), "finished"),
        created_at=info.start_time / 1000 if info.start_time else None,
        ended_at=info.end_time / 1000 if info.end_time else None,
    )
    _map_tags(run, data.tags)
    top = _top(info.run_id, parents)
    if top != info.run_id or top in parents.values():
        run.group = names.get(top) or top
    for key in sorted(data.metrics):
        history = client.get_metric_history(info.run_id, key)
        run.metrics.append(
            KeyPoints(
                key,
                np.fromiter((m.step for m in history), dtype=np.int64, count=len(history)),
                np.fromiter((m.value for m in history), dtype=np.float64, count=len(history)),
                np.fromiter((m.timestamp for m in history), dtype=np.int64, count=len(history))
                * 1000,
            )
        )
    _artifacts(client, run, info.run_id, tmp)
    return run


def _top(run_id: str, parents: dict[str, str]) -> str:
    seen = {run_id}
    while run_id in parents and parents[run_id] not in seen:
        run_id = parents[run_id]
        seen.add(run_id)
    return run_id


def _map_tags(run: SourceRun, tags: dict[str, str]) -> None:
    system: dict[str, Any] = {}
    labels = []
    for key, value in sorted(tags.items()):
        if key == "mlflow.note.content":
            run.notes = value
        elif key in _SYSTEM_TAGS:
            system[_SYSTEM_TAGS[key]] = value
        elif key.startswith(_EXPORTED_TAG_PREFIX):  # what export-to mlflow wrote
            labels.append(key[len(_EXPORTED_TAG_PREFIX) :])
        elif key == "localtrack.group":
            run.group = run.group or value or None
        elif key == "localtrack.run_id":
            continue
        elif key.startswith("mlflow."):
            if key not in _KNOWN_TAGS:
                run.unmapped[f"mlflow: system tags ({key})"] += 1
        elif len(label := f"{key}={value}" if value else key) <= MAX_TAG_CHARS:
            labels.append(label)
        else:
            run.unmapped[f"mlflow: tags longer than {MAX_TAG_CHARS} characters"] += 1
    run.tags = labels
    run.system = system or None


def _artifacts(client: Any, run: SourceRun, run_id: str, tmp: Path) -> None:
    """Download the run's artifacts (local stores: a copy) as one folder to log; what
    ``export-to mlflow`` wrote there becomes media, files and artifact versions again."""
    if not client.list_artifacts(run_id):
        return
    folder = Path(client.download_artifacts(run_id, "", str(tmp / "download")))
    take_localtrack_parts(folder, tmp / "localtrack", run)
    if not any(folder.iterdir()):
        return
    has_model = any(p.name == "MLmodel" for p in folder.rglob("MLmodel"))
    run.artifacts.append(
        ArtifactFolder(
            name=f"mlflow-{run_id}",
            type="model" if has_model else "mlflow-artifacts",
            path=folder,
            metadata={"mlflow_run_id": run_id},
        )
    )
