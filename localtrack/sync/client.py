"""``localtrack sync``: push runs from a local store to a server, resumably and idempotently.

For a set of runs: build each manifest (``manifest.py``) → ask the server, in batches, what it
lacks (negotiate) → upload the missing blobs in parallel, each file read once → commit each run's
manifest → record the acknowledgement in the run's sync state (``state.py``). A second sync finds
every run current and sends nothing; an interrupted one resumes, since the server keeps verified
blobs until their commit. One damaged run fails alone: the report names it, the others go on.
A shard that compaction replaces mid-sync sends the run round again with a fresh manifest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

from ..errors import AuthError, LocaltrackError, ProtocolError, RemoteError, SyncError
from ..humanize import plural
from ..store.root import StoreRoot
from . import artifact_manifests, protocol
from .artifact_manifests import ArtifactResult
from .manifest_builder import LocalRun, ManifestBuilder
from .remote import LocalFileChangedError, Remote, ServerUnreachableError
from .state import RunSyncState

log = logging.getLogger(__name__)
MAX_ROUNDS = 3
DEFAULT_WORKERS = 4

SENT, CURRENT, FAILED, WOULD_SEND = "sent", "current", "failed", "would-send"
_IMMUTABLE = ("metrics/", "media/blobs/")


@dataclass
class RunResult:
    """How one run's sync ended: sent, current (nothing to send), failed, or would-send."""

    run_id: str
    outcome: str = CURRENT
    blobs: int = 0
    bytes: int = 0
    message: str = ""
    live: bool = False
    unsealed_bytes: int = 0

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class SyncReport:
    target: str
    runs: list[RunResult] = field(default_factory=list)
    seconds: float = 0.0
    artifacts: list[ArtifactResult] = field(default_factory=list)
    sweeps: list[str] = field(default_factory=list)
    views: list[str] = field(default_factory=list)  # saved workspace views sent, "project/name"
    reports: list[str] = field(default_factory=list)  # reports sent, "project/name"

    @property
    def failed(self) -> list[RunResult]:
        return [r for r in self.runs if r.outcome == FAILED]

    @property
    def blobs_sent(self) -> int:
        done: list[RunResult | ArtifactResult] = [*self.runs, *self.artifacts]
        return sum(r.blobs for r in done if r.outcome == SENT)

    @property
    def bytes_sent(self) -> int:
        done: list[RunResult | ArtifactResult] = [*self.runs, *self.artifacts]
        return sum(r.bytes for r in done if r.outcome == SENT)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for r in self.runs:
            counts[r.outcome] = counts.get(r.outcome, 0) + 1
        parts = [f"{n} {k}" for k, n in sorted(counts.items())]
        sent = sum(1 for a in self.artifacts if a.outcome == SENT)
        if sent:
            parts.append(f"{plural(sent, 'artifact collection')} sent")
        return (
            f"{plural(len(self.runs), 'run')} → {self.target}: {', '.join(parts) or 'nothing to do'}; "
            f"{plural(self.blobs_sent, 'blob')}, {plural(self.bytes_sent, 'byte')} sent "
            f"in {self.seconds:.1f} s"
        )


Progress = Callable[[str, int], None]  # (what, amount): ("total", n), ("bytes", n), ("run", 1)


@dataclass
class _Job:
    state: RunSyncState
    result: RunResult
    local: LocalRun | None = None
    missing: tuple[str, ...] = ()
    retry: bool = False
    fresh_hashes: bool = False
    rehashed: bool = False


class RunSource(Protocol):
    """Where runs come from: a store (``ManifestBuilder``) or a bundle (``BundleSource``)."""

    label: str

    def load_state(self, run_id: str) -> RunSyncState: ...

    def build(self, run_id: str, state: RunSyncState) -> LocalRun: ...

    def close(self) -> None: ...


@runtime_checkable
class ArtifactSource(Protocol):
    """A source that also holds artifact collections of its own (a bundle)."""

    def artifact_documents(self) -> list[dict[str, Any]]: ...

    def open_blob(self, sha256: str) -> BinaryIO: ...


class SyncClient:
    """Pushes runs from one source (a store, or a bundle) to one server."""

    def __init__(
        self,
        source: RunSource,
        remote: Remote,
        workers: int = DEFAULT_WORKERS,
        progress: Progress | None = None,
    ) -> None:
        self.source = source
        self.remote = remote
        self.workers = max(1, workers)
        self.progress = progress or (lambda what, n: None)
        self._lock = threading.Lock()

    @classmethod
    def for_store(cls, root: Path | str, remote: Remote, **kwargs: Any) -> SyncClient:
        return cls(ManifestBuilder(StoreRoot(root)), remote, **kwargs)

    def sync(self, run_ids: Sequence[str], dry_run: bool = False) -> SyncReport:
        """Sync `run_ids`; AuthError, ProtocolError and ServerUnreachableError abort, anything
        else fails only its run."""
        started = time.monotonic()
        report = SyncReport(self.remote.url)
        jobs = {
            run_id: _Job(self.source.load_state(run_id), RunResult(run_id)) for run_id in run_ids
        }
        builder = self.source
        try:
            todo = list(jobs.values())
            for round_no in range(MAX_ROUNDS):
                self._build(builder, todo)
                self._negotiate([j for j in todo if j.result.outcome != FAILED], dry_run)
                if dry_run:
                    break
                self.progress("total", sum(j.result.bytes for j in todo if j.missing))
                self._upload([j for j in todo if j.missing and j.result.outcome != FAILED])
                self._commit([j for j in todo if j.result.outcome == SENT and not j.retry])
                todo = [j for j in todo if j.retry]
                if not todo:
                    break
                for job in todo:
                    job.retry = False
                    if round_no == MAX_ROUNDS - 1:
                        job.result.outcome = FAILED
                        job.result.message = job.result.message or "its files kept changing"
        finally:
            for job in jobs.values():
                try:
                    job.state.save()
                except OSError as exc:
                    log.warning("cannot save the sync state of %s: %s", job.result.run_id, exc)
        report.runs = [jobs[r].result for r in run_ids]
        report.artifacts = self._sync_artifacts(run_ids, dry_run)
        if isinstance(self.source, ManifestBuilder) and not dry_run:
            from ..sweeps.wire import push_states  # the sweeps the trials belong to

            report.sweeps = push_states(self.source.store.root, self.remote, run_ids)
        if not dry_run:  # the saved workspace views of the synced runs' projects
            from .views import push_documents, source_documents

            projects = {j.local.manifest.project for j in jobs.values() if j.local is not None}
            report.views = push_documents(self.remote, source_documents(self.source, projects))
            from . import reports as travelling

            docs = travelling.source_documents(self.source, projects)
            report.reports = travelling.push_documents(self.remote, docs)
        report.seconds = time.monotonic() - started
        return report

    # -- phases ---------------------------------------------------------------------------------

    def _sync_artifacts(self, run_ids: Sequence[str], dry_run: bool) -> list[ArtifactResult]:
        """The collections the runs produced or used, after the runs (a bundle: all it holds)."""
        if isinstance(self.source, ArtifactSource):
            docs = self.source.artifact_documents()
            return artifact_manifests.push_documents(
                self.remote, docs, self.source.open_blob, None, dry_run, self.workers
            )
        if not isinstance(self.source, ManifestBuilder) or not run_ids:
            return []
        root = self.source.store.root
        docs = artifact_manifests.local_documents(root, run_ids=run_ids)
        return artifact_manifests.sync_artifacts(root, self.remote, docs, dry_run, self.workers)

    def close(self) -> None:
        """Close the source and the transport's connections."""
        self.source.close()
        self.remote.transport.close()

    def _build(self, builder: RunSource, jobs: list[_Job]) -> None:
        for job in jobs:
            if job.fresh_hashes:
                job.state.forget_hashes()
                job.fresh_hashes = False
            try:
                job.local = builder.build(job.result.run_id, job.state)
            except (LocaltrackError, OSError) as exc:
                _fail(job, f"cannot read the run: {exc}")
                continue
            job.result.outcome = CURRENT
            job.result.message = ""
            job.result.live = job.local.state == "running"
            job.result.unsealed_bytes = job.local.tail_bytes

    def _negotiate(self, jobs: list[_Job], dry_run: bool) -> None:
        for start in range(0, len(jobs), protocol.NEGOTIATE_BATCH):
            batch = jobs[start : start + protocol.NEGOTIATE_BATCH]
            manifests = [j.local.manifest for j in batch if j.local is not None]
            try:
                verdicts = self.remote.negotiate(manifests)
            except (AuthError, ProtocolError, ServerUnreachableError):
                raise  # every run would fail alike: one error says it once
            except SyncError as exc:
                for job in batch:
                    _fail(job, f"negotiate failed: {exc}")
                continue
            for job, verdict in zip(batch, verdicts, strict=True):
                self._apply_verdict(job, verdict, dry_run)

    def _apply_verdict(self, job: _Job, verdict: protocol.RunVerdict, dry_run: bool) -> None:
        local = job.local
        assert local is not None
        if verdict.status == protocol.STATUS_ERROR:
            _fail(job, f"{verdict.message} ({verdict.code})")
            return
        if verdict.status == protocol.STATUS_CURRENT:
            job.result.outcome = CURRENT
            self._acknowledge(job)
            self.progress("run", 1)
            return
        wanted = set(verdict.missing)
        job.missing = tuple(wanted)
        sizes = {f.sha256: f.bytes for f in local.manifest.files}
        job.result.blobs = len(wanted)
        job.result.bytes = sum(sizes.get(s, 0) for s in wanted)
        job.result.outcome = WOULD_SEND if dry_run else SENT

    def _upload(self, jobs: list[_Job]) -> None:
        tasks: list[tuple[_Job, str]] = []
        seen: set[str] = set()
        for job in jobs:
            for sha in job.missing:
                if sha not in seen:
                    seen.add(sha)
                    tasks.append((job, sha))
        if not tasks:
            return
        with ThreadPoolExecutor(self.workers, thread_name_prefix="localtrack-sync") as pool:
            for future in [pool.submit(self._upload_one, job, sha) for job, sha in tasks]:
                future.result()

    def _upload_one(self, job: _Job, sha: str) -> None:
        if job.result.outcome == FAILED or job.retry:
            return
        self._send_blob(job, sha)

    def _send_blob(self, job: _Job, sha: str) -> bool:
        local = job.local
        assert local is not None
        ref = next((f for f in local.manifest.files if f.sha256 == sha), None)
        if ref is None:
            _fail(job, f"the server asked for {sha[:12]}…, which this run does not have")
            return False
        try:
            self.remote.put_blob(sha, ref.bytes, lambda: local.open_file(ref.name))
        except FileNotFoundError:
            job.retry = True  # compacted away under us: build the manifest again
            return False
        except LocalFileChangedError as exc:
            if ref.name.startswith(_IMMUTABLE) or job.rehashed:
                _fail(
                    job,
                    f"{ref.name} is damaged (its bytes no longer match the sha256 taken when it "
                    f"was written: {exc}); `localtrack doctor` checks the run",
                )
            else:
                job.rehashed = job.fresh_hashes = job.retry = True  # an append-only file grew
            return False
        except (AuthError, ProtocolError) as exc:
            _fail(job, str(exc))
            return False
        except (SyncError, OSError) as exc:
            _fail(job, f"upload of {ref.name} failed: {exc}")
            return False
        self.progress("bytes", ref.bytes)
        return True

    def _commit(self, jobs: list[_Job]) -> None:
        if not jobs:
            return
        with ThreadPoolExecutor(self.workers, thread_name_prefix="localtrack-commit") as pool:
            for future in [pool.submit(self._commit_one, job) for job in jobs]:
                future.result()

    def _commit_one(self, job: _Job) -> None:
        local = job.local
        assert local is not None
        for _attempt in range(2):
            try:
                self.remote.commit(local.manifest)
            except RemoteError as exc:
                missing = exc.details.get("missing")
                if exc.code == "missing_blobs" and isinstance(missing, list) and _attempt == 0:
                    if all(self._send_blob(job, str(s)) for s in missing):
                        continue  # the server lost some blobs (restart, GC): sent again
                    return
                _fail(job, f"commit refused: {exc}")
                return
            except (SyncError, OSError) as exc:
                _fail(job, f"commit failed: {exc}")
                return
            self._acknowledge(job)
            self.progress("run", 1)
            return

    def _acknowledge(self, job: _Job) -> None:
        local = job.local
        assert local is not None
        manifest = local.manifest
        job.state.acknowledge(
            self.remote.url,
            manifest.digest(),
            manifest.content_digest(),
            {f.name: f.sha256 for f in manifest.files},
        )


def _fail(job: _Job, message: str) -> None:
    job.result.outcome = FAILED
    job.result.message = message
    # info, not warning: the report carries the message and the CLI prints it once per run
    log.info("run %s: %s", job.result.run_id, message)


@dataclass(frozen=True)
class RunSyncStatus:
    """What `sync --status` says about one run, without asking the server."""

    run_id: str
    project: str | None
    run_state: str | None
    status: str  # "synced", "partial", "never" or "unreadable"
    pending_files: int = 0
    pending_bytes: int = 0
    unsealed_bytes: int = 0
    synced_at: float | None = None
    message: str = ""

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def sync_status(root: Path | str, url: str | None, run_ids: Sequence[str]) -> list[RunSyncStatus]:
    """Per run: synced, partial (with how much is pending) or never synced to `url`; with no
    `url`, to the server the run was last synced to (read from local state, no network)."""
    builder = ManifestBuilder(StoreRoot(root))
    out = []
    try:
        for run_id in run_ids:
            state = builder.load_state(run_id)
            try:
                local = builder.build(run_id, state)
            except (LocaltrackError, OSError) as exc:
                out.append(RunSyncStatus(run_id, None, None, "unreadable", message=str(exc)))
                continue
            finally:
                state.save()
            ack = state.acknowledged(url) if url else _latest_ack(state)
            out.append(_status_of(local, ack))
    finally:
        builder.close()
    return out


def _latest_ack(state: RunSyncState) -> dict[str, object] | None:
    """The acknowledgement of the server this run was synced to last, if any."""
    acks = [a for a in state.targets.values() if isinstance(a, dict)]
    return max(acks, key=lambda a: float(a.get("synced_at") or 0), default=None)


def _status_of(local: LocalRun, ack: dict[str, object] | None) -> RunSyncStatus:
    manifest = local.manifest
    files = manifest.files
    if ack is None:
        return RunSyncStatus(
            local.run_id,
            manifest.project,
            local.state,
            "never",
            len(files),
            sum(f.bytes for f in files),
            local.tail_bytes,
        )
    acked = ack.get("files")
    sent = set(acked.values()) if isinstance(acked, dict) else set()
    pending = [f for f in files if f.sha256 not in sent]
    synced_at = ack.get("synced_at")
    done = (
        not pending
        and ack.get("content_digest") == manifest.content_digest()
        and local.tail_bytes == 0
    )
    return RunSyncStatus(
        local.run_id,
        manifest.project,
        local.state,
        "synced" if done else "partial",
        len(pending),
        sum(f.bytes for f in pending),
        local.tail_bytes,
        float(synced_at) if isinstance(synced_at, int | float) else None,
    )
