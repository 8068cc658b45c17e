"""Moving what each commit placed between a store directory and PostgreSQL (``server migrate``).

A directory server keeps one commit record per run (``<root>/ingest/runs/<run>.json``) beside
the run directory; a shared-nothing server (``--index`` + ``--blobs``) keeps the same record as
``run_files`` rows and the files as blobs in the bucket (``pgcommits.py``). Forward, the records
are copied into ``run_files``; back, every run whose ``run_files`` differ from the directory's
record is committed into its run directory from the bucket, each blob hashed again on the way.
Both skip what is already the same, so a migration run twice changes nothing the second time.
"""

from __future__ import annotations

from typing import Any

from ...errors import LocaltrackError
from .commits import plan_commit
from .importer import Ingest
from .manifest_types import FileRef, RunManifest


def _pg(url: str) -> Any:
    from ..pgindex import PgIndex

    return PgIndex(url)


def records_to_postgresql(ingest: Ingest, url: str) -> int:
    """Copy each run's commit record into ``run_files``; returns how many were written."""
    index = _pg(url)
    written = 0
    for run_id in index_ids(ingest):
        record = ingest.record(run_id)
        if record is None:
            continue
        there = index.run_record(run_id) or {}
        same = there.get("files") == record.get("files")
        if same and there.get("heartbeat_at") == record.get("heartbeat_at"):
            continue
        with index.transaction():
            index.write_run_record(run_id, record.get("files") or {}, record.get("heartbeat_at"))
        written += 1
    return written


def index_ids(ingest: Ingest) -> list[str]:
    """The run ids with a commit record in the directory."""
    try:
        names = sorted(p.name for p in ingest.records.iterdir() if p.suffix == ".json")
    except FileNotFoundError:
        return []
    return [name[: -len(".json")] for name in names]


def records_from_postgresql(ingest: Ingest, url: str) -> tuple[int, list[str]]:
    """Commit each run of ``run_files`` into its run directory unless the directory's record
    already says the same; returns (runs committed, problems by run)."""
    done, problems = 0, []
    for run_id, files in sorted(_pg(url).run_records().items()):
        record = _pg(url).run_record(run_id) or {}
        here = ingest.record(run_id) or {}
        if here.get("files") == files and (ingest.paths.run(run_id).dir / "run.json").is_file():
            continue
        refs = tuple(
            FileRef(n, str(f["sha256"]), int(f["bytes"])) for n, f in sorted(files.items())
        )
        manifest = RunManifest(run_id, refs, record.get("heartbeat_at"))
        try:
            manifest.validate()
            ingest.create()
            with ingest.run_lock(run_id):
                plan = plan_commit(manifest, here, ingest.paths.run(run_id).dir)
                ingest.apply_plan(plan)
        except (LocaltrackError, OSError) as exc:
            problems.append(f"{run_id}: {exc}")
            continue
        done += 1
    return done, problems
