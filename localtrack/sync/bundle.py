"""Bundles: runs and their artifact collections in one file, to carry across an air gap.
``export`` writes, ``import`` applies.

The file format (frames, limits, the whole-file checksum) is ``bundle_format.py``; this module
moves runs in and out of it.

Import reads the file once: each blob goes through ``Ingest.receive`` (the code a server's PUT
uses: hashed while streamed, kept only if the hash matches), manifests are parsed as the
protocol parses them, and only when the end frame's whole-file checksum matches are the runs
committed, one atomic ``Ingest.commit`` each. A truncated or tampered bundle is refused before
any run changes, and the blobs it staged are removed again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import BundleError, DocumentError, LocaltrackError, MissingBlobsError
from ..store.artifacts.pgcatalog import SharedArtifacts
from ..store.artifacts.repository import ArtifactRepository
from ..store.atomic import publishing
from ..store.ingest.artifacts import ArtifactIngest
from ..store.ingest.importer import Ingest
from ..store.layout import RUN_JSON
from ..store.root import StoreRoot
from . import protocol
from .artifact_manifests import doc_key, local_documents
from .bundle_format import (
    FORMAT,
    MAGIC,
    MAX_BLOB_BYTES,
    VERSION,
    BundleContents,
    FrameWriter,
    scan_bundle,
)
from .manifest_builder import LocalRun, ManifestBuilder
from .state import RunSyncState

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


# -- exporting ------------------------------------------------------------------------------------


@dataclass
class ExportReport:
    path: Path
    runs: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    blobs: int = 0
    bytes: int = 0
    seconds: float = 0.0
    artifacts: list[str] = field(default_factory=list)
    views: list[str] = field(default_factory=list)  # saved workspace views, "project/name"
    sweeps: list[str] = field(default_factory=list)  # sweep ids
    reports: list[str] = field(default_factory=list)  # reports, "project/name"


def export_bundle(
    root: Path | str,
    run_ids: Sequence[str],
    out: Path | str,
    progress: Callable[[str, int], None] | None = None,
) -> ExportReport:
    """Write `run_ids` of the store at `root` into one bundle at `out` (atomically).

    Each shard is read once, hashed while copied; a run whose file no longer matches its
    hash is left out and named in ``report.failed``, the rest are exported.
    """
    started = time.monotonic()
    out = Path(out)
    report = ExportReport(out)
    builder = ManifestBuilder(StoreRoot(root))
    tick = progress or (lambda what, n: None)
    written: set[str] = set()
    try:
        with publishing(out) as f:
            w = FrameWriter(f)
            w.write(MAGIC)
            header = {"format": FORMAT, "version": VERSION, "created_at": time.time()}
            w.frame(b"H", json.dumps(header).encode())
            manifests = []
            for run_id in run_ids:
                manifest = _export_run(w, builder, run_id, written, report, tick)
                if manifest is not None:
                    manifests.append(manifest)
                    report.runs.append(run_id)
            for manifest in manifests:
                w.frame(b"M", protocol.canonical_json(manifest.to_json()).encode())
            _export_artifacts(w, Path(root), report, written, tick)
            _export_views(w, Path(root), {m.project for m in manifests}, report)
            _export_reports(w, Path(root), {m.project for m in manifests}, report)
            _export_sweeps(w, Path(root), report)
            w.end()
    finally:
        builder.close()
    report.seconds = time.monotonic() - started
    return report


def _export_reports(w: FrameWriter, root: Path, projects: set[str], report: ExportReport) -> None:
    """The reports of the exported runs' projects, one R frame each (sync/reports.py)."""
    from .reports import local_documents

    for doc in local_documents(root, projects):
        w.frame(b"R", json.dumps(doc, allow_nan=False).encode())
        report.reports.append(f"{doc['project']}/{doc['name']}")


def _export_views(w: FrameWriter, root: Path, projects: set[str], report: ExportReport) -> None:
    """The saved workspace views of the exported runs' projects, one W frame each."""
    from .views import local_documents

    for doc in local_documents(root, projects):
        w.frame(b"W", json.dumps(doc, allow_nan=False).encode())
        report.views.append(f"{doc['project']}/{doc['view']['name']}")


def _export_sweeps(w: FrameWriter, root: Path, report: ExportReport) -> None:
    """The sweeps the exported trial runs belong to, with their state, one S frame each."""
    from ..sweeps.wire import local_states, sweeps_of

    for state in local_states(root, sweeps_of(report.runs)):
        w.frame(b"S", json.dumps(state, allow_nan=False).encode())
        report.sweeps.append(state["id"])


def _export_run(
    w: FrameWriter,
    builder: ManifestBuilder,
    run_id: str,
    written: set[str],
    report: ExportReport,
    tick: Callable[[str, int], None],
) -> protocol.Manifest | None:
    """Append the blobs of `run_id` that are not in the bundle yet and return its manifest; on
    failure take them back out, name the run in ``report.failed`` and return None."""
    f = w.f
    state = builder.load_state(run_id)
    mark = (f.tell(), w.digest.copy(), w.size, set(written), report.blobs, report.bytes)
    try:
        local = builder.build(run_id, state)
        tick("total", sum(r.bytes for r in local.manifest.files if r.sha256 not in written))
        for ref in local.manifest.files:
            if ref.sha256 not in written:
                _copy_blob(w, local, ref.name, ref.sha256, ref.bytes)
                written.add(ref.sha256)
                report.blobs += 1
                report.bytes += ref.bytes
                tick("bytes", ref.bytes)
    except (LocaltrackError, OSError) as exc:
        # Take the run's frames back out, so the bundle holds no half of it.
        f.seek(mark[0])
        f.truncate()
        w.digest, w.size = mark[1], mark[2]
        written.clear()
        written.update(mark[3])
        report.blobs, report.bytes = mark[4], mark[5]
        report.failed[run_id] = str(exc)
        log.warning("run %s left out of the bundle: %s", run_id, exc)
        return None
    finally:
        state.save()
    return local.manifest


def _export_artifacts(
    w: FrameWriter,
    root: Path,
    report: ExportReport,
    written: set[str],
    tick: Callable[[str, int], None],
) -> None:
    """The collections the exported runs produced or used, each blob once (after the runs')."""
    repo = ArtifactRepository(root)
    for doc in local_documents(root, run_ids=report.runs) if report.runs else []:
        for version in doc["versions"]:
            for entry in version["entries"].values():
                sha, size = entry["sha256"], int(entry["size"])
                if entry.get("ref") is not None or sha in written:
                    continue
                w.begin_blob(sha, size)
                with repo.blobs.open(sha) as src:
                    left = size
                    while left > 0 and (chunk := src.read(min(_CHUNK, left))):
                        w.write(chunk)
                        left -= len(chunk)
                if left:
                    raise BundleError(
                        f"artifact blob {sha[:12]}… is shorter than its manifest says"
                    )
                written.add(sha)
                report.blobs += 1
                report.bytes += size
                tick("bytes", size)
        w.frame(b"A", protocol.canonical_json(doc).encode())
        report.artifacts.append(doc_key(doc))


def _copy_blob(w: FrameWriter, local: LocalRun, name: str, sha256: str, size: int) -> None:
    w.begin_blob(sha256, size)
    digest = hashlib.sha256()
    left = size
    with local.open_file(name) as src:
        while left > 0:
            chunk = src.read(min(_CHUNK, left))
            if not chunk:
                break
            digest.update(chunk)
            w.write(chunk)
            left -= len(chunk)
    if left or digest.hexdigest() != sha256:
        raise BundleError(
            f"{name} of run {local.run_id} changed or is damaged on disk (its sha256 no longer "
            "matches); `localtrack doctor` checks the run"
        )


# -- importing into a store ----------------------------------------------------------------------


@dataclass
class ImportReport:
    runs: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    blobs: int = 0
    bytes: int = 0
    seconds: float = 0.0
    artifacts: list[str] = field(default_factory=list)
    views: list[str] = field(default_factory=list)  # saved workspace views, "project/name"
    sweeps: list[str] = field(default_factory=list)  # sweep ids
    reports: list[str] = field(default_factory=list)  # reports, "project/name"


def import_bundle(
    path: Path | str,
    root: Path | str,
    progress: Callable[[str, int], None] | None = None,
    blobs_url: str | None = None,
) -> ImportReport:
    """Verify the bundle at `path` completely, then commit its runs into the store at `root`;
    `blobs_url` (``s3://bucket/prefix``) puts the blobs in that object store (docs/deploy.md)."""
    started = time.monotonic()
    ingest = Ingest(root, blobs_url=blobs_url).create()
    ingest.recover()
    report = ImportReport()
    staged: list[str] = []
    tick = progress or (lambda what, n: None)

    def on_blob(sha: str, chunks: Iterator[bytes], size: int) -> None:
        if not ingest.has_blob(sha):
            ingest.receive(sha, chunks, max_bytes=MAX_BLOB_BYTES)
            staged.append(sha)
            report.blobs += 1
            report.bytes += size
        tick("bytes", size)

    try:
        contents = scan_bundle(path, on_blob)
        _check_documents(ingest, contents)
    except BaseException:
        for sha in staged:
            ingest.discard_blob(sha)
        ingest.close()
        raise
    try:
        for manifest in contents.manifests:
            report.runs.append(manifest.run_id)
            try:
                result = ingest.commit(manifest.run)
            except (LocaltrackError, OSError) as exc:
                report.failed[manifest.run_id] = str(exc)
                continue
            if result.changed:
                report.changed.append(manifest.run_id)
            tick("run", 1)
        artifacts: ArtifactIngest | SharedArtifacts | None = None
        if contents.artifacts:  # a shared-nothing server's go to PostgreSQL and the bucket
            artifacts = SharedArtifacts.open(ingest) or ArtifactIngest(root, ingest.blob_path)
        for doc in contents.artifacts:
            assert artifacts is not None
            try:
                artifacts.apply(doc)
            except (LocaltrackError, OSError) as exc:
                report.failed[doc.key] = str(exc)
                continue
            report.artifacts.append(doc.key)
        index_url = StoreRoot(root).index_url  # a server's PostgreSQL: its views and sweeps too
        for view in contents.views:  # checked by the schema when the bundle was scanned
            from .views import apply_document

            try:
                report.views.append(apply_document(root, view, index_url))
            except (LocaltrackError, OSError) as exc:
                report.failed[f"view {view['project']}/{view['view']['name']}"] = str(exc)
        for travelling in contents.reports:  # checked by the schema when the bundle was scanned
            from .reports import apply_document as apply_report

            try:
                report.reports.append(apply_report(root, travelling))
            except (LocaltrackError, OSError) as exc:
                where = f"report {travelling['project']}/{travelling['name']}"
                report.failed[where] = str(exc)
        for state in contents.sweeps:  # checked by the schema when the bundle was scanned
            from ..sweeps.wire import apply_state

            try:
                apply_state(Path(root), state, index_url)
            except (LocaltrackError, OSError) as exc:
                report.failed[f"sweep {state['id']}"] = str(exc)
                continue
            report.sweeps.append(state["id"])
    finally:
        ingest.close()
    report.seconds = time.monotonic() - started
    return report


def _check_documents(ingest: Ingest, contents: BundleContents) -> None:
    """Refuse the whole bundle, before any run changes, if one run's run.json or media log
    breaks its schema (the message names the run and the field)."""
    for manifest in contents.manifests:
        try:
            ingest.check_documents(manifest.run)
        except DocumentError as exc:
            raise BundleError(
                f"{contents.path}: run {manifest.run_id} cannot be imported: {exc}"
            ) from None


# -- pushing a bundle to a server ----------------------------------------------------------------


class _Slice:
    """A read-only window onto part of a file."""

    def __init__(self, path: Path, offset: int, length: int) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._f.seek(offset)
        self._left = length

    def read(self, n: int = -1) -> bytes:
        want = self._left if n is None or n < 0 else min(n, self._left)
        data = self._f.read(want)
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> _Slice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BundleSource:
    """A verified bundle as a source for ``SyncClient`` (``localtrack sync --bundle``): its runs,
    then its artifact collections (``artifact_documents``), blobs read from the file."""

    def __init__(self, path: Path | str) -> None:
        self.contents = scan_bundle(path)
        self.label = str(path)
        self._by_id = {m.run_id: m for m in self.contents.manifests}

    @property
    def run_ids(self) -> list[str]:
        return [m.run_id for m in self.contents.manifests]

    def load_state(self, run_id: str) -> RunSyncState:
        return RunSyncState(None)

    def build(self, run_id: str, state: RunSyncState) -> LocalRun:
        manifest = self._by_id.get(run_id)
        if manifest is None:
            raise MissingBlobsError(f"run {run_id} is not in the bundle", [])
        by_name = {f.name: f for f in manifest.files}
        path = self.contents.path
        blobs = self.contents.blobs

        def opener(name: str) -> BinaryIO:
            offset, length = blobs[by_name[name].sha256]
            return _Slice(path, offset, length)  # type: ignore[return-value]

        with opener(RUN_JSON) as f:
            run_json = f.read()
        return LocalRun(manifest, {RUN_JSON: run_json}, "bundled", 0, opener)

    def artifact_documents(self) -> list[dict[str, Any]]:
        return [doc.to_json() for doc in self.contents.artifacts]

    def open_blob(self, sha256: str) -> BinaryIO:
        offset, length = self.contents.blobs[sha256]
        return _Slice(self.contents.path, offset, length)  # type: ignore[return-value]

    def close(self) -> None:
        pass
