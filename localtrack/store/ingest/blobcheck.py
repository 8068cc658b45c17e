"""``localtrack server check``: is every blob a committed run names there, with its hash?

The commit records (``<root>/ingest/runs/<run>.json``) say which file of each run holds which
sha256. With an object store (``--blobs s3://…``) each blob is read back from it and hashed; with
the directory backend the committed files in ``<root>/runs/`` are (their staged copies are
collected a day after the commit; ``run.json`` there is only checked to exist, since editing a
run on the server rewrites it). Runs deleted since their commit are skipped. Each damaged run is
named with its files and what is wrong; the findings replace ``<root>/ingest/damage.json``
(``store/blobdamage.py``), which reads of those runs then list.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..artifacts.pgcatalog import ArtifactDamage, SharedArtifacts
from ..atomic import read_json
from ..blobdamage import write_damage
from ..blobstore import BlobProblem, verify_blob
from .importer import Ingest
from .manifest_types import is_sha256

_CHUNK = 1 << 20


@dataclass
class RunDamage:
    run_id: str
    files: dict[str, str] = field(default_factory=dict)  # file name -> what is wrong


@dataclass
class CheckReport:
    location: str
    runs: int = 0
    blobs: int = 0
    damaged: list[RunDamage] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # commit records that cannot be read
    artifact_versions: int = 0  # live artifact versions checked (shared-nothing servers)
    damaged_artifacts: list[ArtifactDamage] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.damaged and not self.unreadable and not self.damaged_artifacts


def check_committed_blobs(ingest: Ingest) -> CheckReport:
    """Verify every blob every commit record names; see the module docstring."""
    report = CheckReport(
        ingest.blob_store.location if ingest.remote_blobs else str(ingest.paths.runs)
    )
    verdicts: dict[str, BlobProblem | None] = {}
    for run_id, files in commit_records(ingest, report.unreadable):
        run_dir = ingest.paths.run(run_id).dir
        if ingest.shared is None and not run_dir.is_dir():
            continue  # deleted since (the record stays behind)
        report.runs += 1
        damage = RunDamage(run_id)
        for name, entry in sorted(files.items()):
            sha = entry.get("sha256") if isinstance(entry, dict) else None
            if not isinstance(sha, str) or not is_sha256(sha):
                damage.files[name] = "its commit record names no valid sha256"
                continue
            if ingest.remote_blobs:
                if sha not in verdicts:
                    verdicts[sha] = verify_blob(ingest.blob_store, sha)
                    report.blobs += 1
                problem = verdicts[sha]
            else:
                report.blobs += 1
                problem = _check_file(run_dir / name, sha, content=name != "run.json")
            if problem is not None:
                damage.files[name] = f"blob {sha} {problem.problem}"
        if damage.files:
            report.damaged.append(damage)
    _check_artifacts(ingest, report, verdicts)
    found = {d.run_id: d.files for d in report.damaged}
    where = ingest.blob_store.location if ingest.remote_blobs else "the server's own copy"
    write_damage(ingest.paths.root, where, found, time.time())
    return report


def _check_artifacts(
    ingest: Ingest, report: CheckReport, verdicts: dict[str, BlobProblem | None]
) -> None:
    """On a shared-nothing server, every stored file of every live artifact version too (its
    blob in the object store; a blob a run shares is read once)."""
    artifacts = SharedArtifacts.open(ingest)
    if artifacts is None:
        return

    def verify(sha256: str) -> str | None:
        if sha256 not in verdicts:
            verdicts[sha256] = verify_blob(ingest.blob_store, sha256)
            report.blobs += 1
        found = verdicts[sha256]
        return None if found is None else found.problem

    report.artifact_versions, report.damaged_artifacts = artifacts.check_blobs(verify)


def commit_records(ingest: Ingest, unreadable: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(run id, {file name: {"sha256": …, …}}) of every commit record; a record that cannot be
    read is added to `unreadable` (its name and why) and skipped. On a shared-nothing server
    the records are PostgreSQL's ``run_files`` rows."""
    if ingest.shared is not None:
        yield from sorted(ingest.shared.records().items())
        return
    try:
        names = sorted(os.listdir(ingest.records))
    except FileNotFoundError:
        return
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            record = read_json(ingest.records / name)
            files = record["files"]
            if not isinstance(files, dict):
                raise TypeError("files is not an object")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            unreadable.append(f"{name}: {exc}")
            continue
        yield name[: -len(".json")], files


def _check_file(path: Path, sha256: str, content: bool) -> BlobProblem | None:
    if not content:
        return None if path.is_file() else BlobProblem(sha256, "missing")
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        return BlobProblem(sha256, "missing")
    actual = digest.hexdigest()
    return None if actual == sha256 else BlobProblem(sha256, f"changed: hashes to {actual}")


def _own_copy(ingest: Ingest, run_id: str, name: str, sha256: str) -> Path:
    """The server's own copy of a run's file: in ``<root>/runs/``, or on a shared-nothing
    server its verified upload (``ingest/blobs/``) when it still has one."""
    if ingest.shared is None or not is_sha256(sha256):
        return ingest.paths.run(run_id).dir / name
    return ingest.local_blobs.local_file(sha256)


def repair_missing(ingest: Ingest, report: CheckReport) -> list[str]:
    """Put back into the object store each blob `report` found missing there, from the run's
    own committed file when that still hashes to the blob's name (checked again on the way in).
    Returns "run/file" for each one put back; the rest stay in the report."""
    if not ingest.remote_blobs:
        return []
    repaired = []
    for damage in report.damaged:
        for name, problem in list(damage.files.items()):
            sha = problem.split()[1] if problem.endswith(" missing") else ""
            path = _own_copy(ingest, damage.run_id, name, sha)
            if not is_sha256(sha) or _check_file(path, sha, content=True) is not None:
                continue
            with open(path, "rb") as f:
                ingest.blob_store.put(sha, iter(lambda: f.read(_CHUNK), b""), 1 << 62)
            del damage.files[name]
            repaired.append(f"{damage.run_id}/{name}")
    report.damaged = [d for d in report.damaged if d.files]
    for art in report.damaged_artifacts:  # from this replica's own upload, if it still has it
        for entry_path, problem in list(art.files.items()):
            sha = problem.split()[1] if problem.endswith(" missing") else ""
            if not is_sha256(sha):
                continue
            own = ingest.local_blobs.local_file(sha)
            if _check_file(own, sha, content=True) is None:
                with open(own, "rb") as f:
                    ingest.blob_store.put(sha, iter(lambda: f.read(_CHUNK), b""), 1 << 62)
                del art.files[entry_path]
                repaired.append(f"{art.version}/{entry_path}")
    report.damaged_artifacts = [a for a in report.damaged_artifacts if a.files]
    found = {d.run_id: d.files for d in report.damaged}
    write_damage(ingest.paths.root, ingest.blob_store.location, found, time.time())
    return repaired
