"""Importing runs from other trackers' files on disk: ``import_from(source, path)``.

::

    __init__.py     import_from(): read a source, publish each of its runs, report
    sources.py      which reader handles which source name, and the extra each one needs
    model.py        SourceRun (what a reader hands over), RunOutcome, ImportReport
    publish.py      a SourceRun → a run in the store: only what is new, in one commit
    newpoints.py    which of a source's points the run already holds
    tables.py       CSV and Parquet tables of (step, key, value[, timestamp])
    tensorboard.py  TensorBoard event files, through the ``tensorboard`` package's loader
    tbwatch.py      init(sync_tensorboard=True): mirror a live SummaryWriter's scalars
    mlflow.py       MLflow file stores and SQLite databases, through the ``mlflow`` client
    mlflow_layout.py  what export-to mlflow left among a run's artifacts, restored
    wandb.py        W&B offline runs: records folded into a run
    wandb_log.py    the .wandb record log's framing; records decoded by ``wandb``'s protobuf
    trackio.py      Trackio projects' SQLite files (read-only, standard library)
    aim.py          Aim repositories, through the ``aim`` SDK (on an indexed copy)

Readers never write; the publisher goes through the store's ingest area (``store/ingest``),
the door bundle imports and syncs use, so an imported run appears whole or not at all.
``docs/import-export.md`` is the user's guide.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..errors import ImportSourceError, LocaltrackError
from ..settings import resolve_dir
from .model import ImportReport, RunOutcome, SourceRun
from .publish import publish, run_id_for
from .sources import SOURCES, reader_for

__all__ = ["SOURCES", "ImportReport", "RunOutcome", "SourceRun", "import_from", "run_id_for"]


def import_from(
    source: str,
    path: str | os.PathLike[str],
    dir: str | os.PathLike[str] | None = None,
    project: str | None = None,
    dry_run: bool = False,
    on_run: Callable[[RunOutcome], None] | None = None,
) -> ImportReport:
    """Import every run found at `path` (written by `source`: see ``SOURCES``) into the store
    at `dir` (default: as ``init()``). Importing again adds only what is new.

    A run that cannot be imported is reported (status ``failed``) and the others still are;
    a missing path, an unknown source or a missing extra raise ImportSourceError. `on_run` is
    called with each run's outcome as soon as it is imported (the CLI prints it)."""
    read = reader_for(source)
    text = os.fspath(path)
    where = Path(text.removeprefix("sqlite:///") if source == "mlflow" else text).expanduser()
    if not where.exists():
        raise ImportSourceError(f"{where} does not exist: pass the folder or file {source} wrote")
    from ..store.ingest.importer import Ingest

    report = ImportReport(source, str(where), dry_run)
    root = resolve_dir(dir)
    ingest = Ingest(root) if dry_run and not root.exists() else Ingest(root).create()
    try:
        for run in read(where, report):
            report.unmapped.update(run.unmapped)
            report.damage.extend(run.damage)
            outcome = _publish_one(ingest, run, project, dry_run)
            report.runs.append(outcome)
            if on_run is not None:
                on_run(outcome)
    finally:
        ingest.close()
    return report


def _publish_one(ingest: object, run: SourceRun, project: str | None, dry_run: bool) -> RunOutcome:
    try:
        return publish(ingest, run, project, dry_run)  # type: ignore[arg-type]
    except (LocaltrackError, OSError) as exc:
        return RunOutcome(
            run_id=run_id_for(run.source, run.source_id),
            source_id=run.source_id,
            name=run.name,
            project=project or run.project or "",
            status="failed",
            points=run.points,
            new_points=0,
            new_media=0,
            error=str(exc),
        )
