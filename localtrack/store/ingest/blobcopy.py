"""Copying a server's committed blobs into its object store (``localtrack server migrate
--blobs s3://…``): every blob a commit record names that the object store lacks is uploaded from
the local copy (``<root>/ingest/blobs/``, else the committed file in ``<root>/runs/``), hashed again
on the way. Blobs already there are skipped, so an interrupted copy resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import DigestMismatchError
from .blobcheck import commit_records
from .importer import Ingest
from .manifest_types import is_sha256

_CHUNK = 1 << 20
_NO_LIMIT = 1 << 62


@dataclass
class BlobCopyReport:
    copied: int = 0
    present: int = 0
    problems: list[str] = field(default_factory=list)


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            yield chunk


def copy_committed_blobs(ingest: Ingest) -> BlobCopyReport:
    """Upload every committed blob `ingest`'s blob store lacks; see the module docstring."""
    report = BlobCopyReport()
    held = set(ingest.blob_store.hashes())
    for run_id, files in commit_records(ingest, report.problems):
        run_dir = ingest.paths.run(run_id).dir
        for name, entry in sorted(files.items()):
            sha = entry.get("sha256") if isinstance(entry, dict) else None
            if not isinstance(sha, str) or not is_sha256(sha):
                report.problems.append(f"run {run_id}: {name}: its commit record names no sha256")
                continue
            if sha in held:
                report.present += 1
                continue
            sources = [p for p in (ingest.blobs / sha, run_dir / name) if p.is_file()]
            if not sources:
                report.problems.append(f"run {run_id}: {name}: blob {sha} is nowhere here")
                continue
            try:
                ingest.blob_store.put(sha, _file_chunks(sources[0]), _NO_LIMIT)
            except DigestMismatchError:
                report.problems.append(
                    f"run {run_id}: {name}: changed since its commit (blob {sha} not copied)"
                )
                continue
            held.add(sha)
            report.copied += 1
    return report
