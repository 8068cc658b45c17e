"""Moving a central server between its backends: ``localtrack server migrate``.

The run directories (``<root>/runs/``) are the truth on either backend; what moves is what the
server keeps beside them:

- the run index (rebuilt from the run directories into the target: ``index.db`` or PostgreSQL),
  and the artifact tables (from ``<root>/artifacts/``);
- the API keys and the session secret (``<root>/server/`` files, or PostgreSQL rows), merged so
  every existing token and session keeps working, a revocation included;
- with ``blobs_url``, every committed blob the object store lacks (``store/ingest/blobcopy.py``),
  and what each commit placed: into PostgreSQL's ``run_files`` (so replicas that share no
  directory read the runs from the bucket), or, moving back, from ``run_files`` into run
  directories (runs committed on such replicas exist nowhere else; ``store/ingest/recordmove.py``);
  and the artifact collections, between ``<root>/artifacts/`` and PostgreSQL's documents with
  their blobs in the bucket (``store/artifacts/catalogmove.py``);
- the server's sweeps and saved workspace views (``<root>/sweeps/``, ``<root>/workspaces/``, or
  PostgreSQL rows), merged as ``localtrack sync`` merges them: claims and results made once, the
  later-saved copy of a view winning;
- the alert rules, destinations' secrets and events (``<root>/alerts/``, or PostgreSQL rows;
  ``alerts/stores.py``): the later-saved rules win (with their secrets), every event is recorded
  once by its identity, so what fired before the move never fires again after it.

Every step skips what the target already holds (a run whose row matches its run.json, a blob
already stored, a key already there), so an interrupted migration is resumed by running it
again, and running it twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .apikeys import KeyStore
from .errors import CorruptDataError, LocaltrackError, StoreError, UsageError
from .store.indexbackend import IndexBackend, redacted
from .store.root import StoreRoot, check_index_url

if TYPE_CHECKING:
    from .store.ingest.importer import Ingest


@dataclass
class MigrationReport:
    """What one migration did (and what it found already done)."""

    index: str
    runs_indexed: int = 0
    runs_current: int = 0
    collections: int = 0
    keys_changed: int = 0
    blobs_copied: int = 0
    blobs_present: int = 0
    sweeps: int = 0
    views: int = 0
    alert_projects: int = 0  # projects whose alert rules were copied
    alert_events: int = 0  # alert events (firings, test alerts, delivery outcomes) copied
    runs_recorded: int = 0  # commit records written into run_files, or runs made from them
    artifacts_moved: int = 0  # collections moved between <root>/artifacts/ and PostgreSQL
    problems: list[str] = field(default_factory=list)


def migrate_server(
    root: Path, source: str | None, target: str | None, blobs_url: str | None = None
) -> MigrationReport:
    """Move the server at `root` from the index `source` to `target`: a postgresql:// URL, or
    None for the directory's index.db (exactly one side is PostgreSQL)."""
    source, target = check_index_url(source), check_index_url(target)
    if (source is None) == (target is None):
        raise UsageError(
            "server migrate moves a store between its directory and PostgreSQL: give "
            "--from DIR --to postgresql://… (or --from postgresql://… --to DIR)"
        )
    report = MigrationReport(redacted(target) if target else str(root / "index.db"))
    if blobs_url:
        from .store.ingest.blobcopy import copy_committed_blobs
        from .store.ingest.importer import Ingest
        from .store.ingest.recordmove import records_from_postgresql, records_to_postgresql

        local = Ingest(root, blobs_url=blobs_url, index_url="")
        if source is not None:  # back: runs committed on shared-nothing replicas come home
            report.runs_recorded, problems = records_from_postgresql(local, source)
            report.problems += problems
        copied = copy_committed_blobs(local)
        report.blobs_copied, report.blobs_present = copied.copied, copied.present
        report.problems += copied.problems
        if target is not None:
            report.runs_recorded = records_to_postgresql(local, target)
        _move_artifacts(local, source, target, report)
    store = StoreRoot(root, index_url=target or "")
    index = store.open_index()
    if index is None:
        raise StoreError(f"cannot open the target index: {store.why_no_index()}")
    try:
        _index_runs(store, index, report)
        if not (blobs_url and target):  # else PostgreSQL's artifact documents are the truth
            from .store.artifacts.catalog import reindex_artifacts
            from .store.artifacts.layout import ArtifactPaths
            from .store.artifacts.namespace import Namespaces

            namespaces = Namespaces(store, ArtifactPaths.of_root(root))
            report.collections, problems = reindex_artifacts(index, namespaces)
            report.problems += problems
    finally:
        index.close()
    old, new = KeyStore(root, source or ""), KeyStore(root, target or "")
    report.keys_changed = new.merge_from(old)
    if old.ever_had_keys():
        new.session_secret(first=old.session_secret())
    _move_sweeps_and_views(root, source, target, report)
    _move_alerts(root, source, target, report)
    return report


def _move_artifacts(
    local: Ingest, source: str | None, target: str | None, report: MigrationReport
) -> None:
    """With --blobs: artifact collections between <root>/artifacts/ and PostgreSQL's
    documents (blobs in the object store), for replicas that share no directory."""
    from .store.artifacts.catalogmove import artifacts_from_postgresql, artifacts_to_postgresql
    from .store.artifacts.pgcatalog import SharedArtifacts

    url = target or source
    assert url is not None
    shared = SharedArtifacts(url, local.blob_store)
    if target is not None:
        moved = artifacts_to_postgresql(local, shared)
        report.collections = shared.reindex()  # every collection PostgreSQL now holds
    else:
        moved = artifacts_from_postgresql(local, shared)
    report.artifacts_moved = moved.collections
    report.blobs_copied += moved.blobs_copied
    report.blobs_present += moved.blobs_present
    report.problems += moved.problems


def _move_alerts(
    root: Path, source: str | None, target: str | None, report: MigrationReport
) -> None:
    from .alerts.stores import open_alert_store

    old, new = open_alert_store(root, source or ""), open_alert_store(root, target or "")
    try:
        for project in old.projects():
            try:
                saved_at = old.rules_saved_at(project) or 0.0
                if new.put_rules(project, old.rules_doc(project), saved_at):
                    report.alert_projects += 1
                    secrets = old.secrets(project)
                else:  # the rules there are newer: keep their secrets, add the ones missing
                    there = new.secrets(project)
                    secrets = {
                        d: {f: v for f, v in fields.items() if f not in there.get(d, {})}
                        for d, fields in old.secrets(project).items()
                    }
                for dest_id, fields in secrets.items():
                    for field, value in fields.items():
                        new.set_secret(project, dest_id, field, value)
                for record in old.events(project):
                    report.alert_events += new.record(project, record) is not None
            except (LocaltrackError, OSError) as exc:
                report.problems.append(f"alerts of {project}: {exc}")
    finally:
        old.close()
        new.close()


def _move_sweeps_and_views(
    root: Path, source: str | None, target: str | None, report: MigrationReport
) -> None:
    from .store.workspaces import open_views
    from .sweeps.pgstate import all_sweep_ids, open_sweep_files
    from .sweeps.wire import apply_state, sweep_state

    for sweep_id in all_sweep_ids(root, source):
        try:
            apply_state(root, sweep_state(open_sweep_files(root, sweep_id, source)), target)
        except (LocaltrackError, OSError) as exc:
            report.problems.append(f"sweep {sweep_id}: {exc}")
            continue
        report.sweeps += 1
    old, new = open_views(root, source), open_views(root, target)
    for project in old.projects():
        for info in old.list_views(project):
            try:
                view = old.read_view(project, info.name)
                new.save_view(project, info.name, view["state"], float(view["updated_at"]))
            except (LocaltrackError, OSError) as exc:
                report.problems.append(f"view {project}/{info.name}: {exc}")
                continue
            report.views += 1
        default = old.default_view(project)
        if default is not None and new.default_view(project) is None:
            new.set_default(project, default)


def _index_runs(store: StoreRoot, index: IndexBackend, report: MigrationReport) -> None:
    from .store.recovery import index_run, scan_run
    from .store.runmeta import heartbeat_time, index_row, load

    for run_id in store.run_ids():
        paths = store.run(run_id)
        try:
            meta = load(paths.run_json)
        except (OSError, CorruptDataError) as exc:
            report.problems.append(f"{run_id}: {exc}")
            continue
        row = index.run_row(run_id)
        expected = index_row(meta, {}, heartbeat_time(paths.heartbeat))
        if row is not None and all(row[k] == expected[k] for k in ("meta", "updated_at")):
            report.runs_current += 1
            continue
        try:
            index_run(index, scan_run(paths))
        except (OSError, CorruptDataError) as exc:
            report.problems.append(f"{run_id}: {exc}")
            continue
        report.runs_indexed += 1
