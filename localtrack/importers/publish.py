"""Turning a ``SourceRun`` into a localtrack run: only what is new, published in one step.

Each run is built as files (new shards, the media log, run.json, blobs) in a temporary folder,
handed to the store's ingest area through the same door as a bundle import or a sync
(``Ingest.receive`` verifies every blob by its sha256), and applied by ``Ingest.commit``: one
journaled step under the run's lock. A reader sees the run before or after an import, never
half of it; a crash mid-import rolls forward or leaves the run as it was.

The run id is derived from the source's identity (``run_id_for``), and run.json records it
(``imported_from``), so importing the same source again finds the same run: points it already
holds are left out (``newpoints``), and with nothing new nothing is written at all.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RunConflictError
from ..store.atomic import read_json
from ..store.ingest.importer import Ingest
from ..store.ingest.manifest_types import FileRef, RunManifest
from ..store.ingest.staging import DEFAULT_MAX_BLOB_BYTES
from ..store.layout import METRICS_DIR, RUN_JSON, ShardName, parse_shard_name
from ..store.media import encode_record
from ..store.metrics import pieces_to_table
from ..store.runfiles import read_run_data
from ..store.runschema import check_run_json
from ..store.shards import write_shard
from .model import KeyPoints, MediaPoint, RunOutcome, SourceRun
from .newpoints import held_points, new_points

SEGMENT = 0  # an imported run is one segment; each import that adds points adds a batch
MEDIA_LOG = "media/log-0000.jsonl"
SHARD_ROWS = 4_000_000  # rows per shard, well inside what a server accepts (max_shard_rows)
DEFAULT_PROJECT = "imported"
_CHUNK = 1 << 20


def run_id_for(source: str, source_id: str) -> str:
    """The localtrack run id of a source run: the tool's name and a digest of its identity."""
    digest = hashlib.sha256(f"{source}\0{source_id}".encode()).hexdigest()[:16]
    return f"{source}-{digest}"


def publish(
    ingest: Ingest, run: SourceRun, project: str | None = None, dry_run: bool = False
) -> RunOutcome:
    """Add what `run` holds and the store's run of that source lacks; say what changed."""
    _keep_earlier_identity(ingest, run)
    run_id = run_id_for(run.source, run.source_id)
    paths = ingest.paths.run(run_id)
    existing = _existing_meta(paths.run_json, run)
    held = held_points(read_run_data(paths).tables) if existing is not None else {}
    fresh = [k for k in (new_points(s, held.get(s.key)) for s in run.metrics) if len(k)]
    old_media = _read_media_log(paths.dir / MEDIA_LOG) if existing is not None else b""
    new_media = _new_media(run.media, old_media)
    media_lines = [line for line, _ in new_media]
    project = project or (existing or {}).get("project") or run.project or DEFAULT_PROJECT
    outcome = RunOutcome(
        run_id=run_id,
        source_id=run.source_id,
        name=run.name,
        project=project,
        status="new" if existing is None else "updated",
        points=run.points,
        new_points=sum(len(k) for k in fresh),
        new_media=len(media_lines),
    )
    shard_names = _next_shards(existing, fresh)
    meta = _run_json(run_id, run, project, existing, fresh, shard_names)
    files = _changed_files(paths.dir, run.files)
    unchanged = not fresh and not media_lines and not files and meta == existing
    if dry_run:
        return _with_status(outcome, "unchanged") if existing is not None and unchanged else outcome
    if existing is None or not unchanged:
        _commit(ingest, run_id, fresh, shard_names, meta, old_media, new_media, files)
    new_artifacts = _log_artifacts(ingest, run, run_id, project)
    if existing is not None and unchanged:
        outcome = _with_status(outcome, "unchanged" if not new_artifacts else "updated")
    return RunOutcome(**{**outcome.__dict__, "new_artifacts": new_artifacts})


def _commit(
    ingest: Ingest,
    run_id: str,
    fresh: list[KeyPoints],
    shard_names: list[ShardName],
    meta: dict[str, Any],
    old_media: bytes,
    new_media: list[tuple[bytes, MediaPoint]],
    files: dict[str, bytes],
) -> None:
    """Stage the run's new files, hand them to the ingest area, commit them in one step."""
    media_lines = [line for line, _ in new_media]
    with tempfile.TemporaryDirectory(prefix="localtrack-import-") as tmp:
        staged = _stage(Path(tmp), fresh, shard_names, meta, old_media, media_lines, files)
        refs = [_receive(ingest, name, path) for name, path in staged.items()]
        refs += _receive_media_blobs(ingest, [b for _, point in new_media for b in point.blobs])
    ingest.commit(RunManifest(run_id, tuple(refs), None))


def _log_artifacts(ingest: Ingest, run: SourceRun, run_id: str, project: str) -> int:
    """Log the run's artifact folders as artifact versions of it; returns how many are new
    (a folder whose content a version already holds makes none)."""
    if not run.artifacts:
        return 0
    from ..artifacts.artifact import Artifact
    from ..store.artifacts.repository import ArtifactRepository

    repo = ArtifactRepository(ingest.paths.root, create=True)
    new = 0
    for folder in run.artifacts:
        art = Artifact(folder.name, folder.type)
        art.add_dir(str(folder.path))
        _, created, _ = repo.log(
            project,
            folder.name,
            folder.type,
            list(art._sources.values()),
            metadata=folder.metadata,
            run_id=run_id,
        )
        new += int(created)
    return new


def _keep_earlier_identity(ingest: Ingest, run: SourceRun) -> None:
    """Where the store holds this run under an identity an older localtrack gave it (imported
    from the same location), go on with that identity rather than import the run twice."""
    for earlier in run.earlier_ids:
        path = ingest.paths.run(run_id_for(run.source, earlier)).run_json
        try:
            origin = read_json(path).get("imported_from") or {}
        except (FileNotFoundError, AttributeError):
            continue
        if (origin.get("source"), origin.get("id"), origin.get("location")) == (
            run.source,
            earlier,
            run.location,
        ):
            run.source_id = earlier
            return


def _with_status(outcome: RunOutcome, status: str) -> RunOutcome:
    return RunOutcome(**{**outcome.__dict__, "status": status})


def _existing_meta(path: Path, run: SourceRun) -> dict[str, Any] | None:
    """run.json of the run this source became before, or None; RunConflictError when a run
    with that id is something else."""
    try:
        meta = read_json(path)
    except FileNotFoundError:
        return None
    origin = meta.get("imported_from") if isinstance(meta, dict) else None
    if not isinstance(origin, dict) or (origin.get("source"), origin.get("id")) != (
        run.source,
        run.source_id,
    ):
        raise RunConflictError(
            f"run {path.parent.name} exists but was not imported from {run.source} run "
            f"{run.source_id!r}; move that run aside before importing"
        )
    return meta


def _next_shards(existing: dict[str, Any] | None, fresh: list[KeyPoints]) -> list[ShardName]:
    """Names for the new points' shards: the batches after the ones the run holds."""
    if not fresh:
        return []
    known = [parse_shard_name(n) for n in (existing or {}).get("shards") or {}]
    last = max((s.last_batch for s in known if s is not None and s.segment == SEGMENT), default=0)
    count = -(-sum(len(k) for k in fresh) // SHARD_ROWS)
    return [ShardName(SEGMENT, last + i, last + i) for i in range(1, count + 1)]


def _run_json(
    run_id: str,
    run: SourceRun,
    project: str,
    existing: dict[str, Any] | None,
    fresh: list[KeyPoints],
    shard_names: list[ShardName],
) -> dict[str, Any]:
    """The run's run.json after this import (shard hashes filled in when they are written)."""
    shards = dict((existing or {}).get("shards") or {})
    for name in shard_names:
        shards[name.filename] = "0" * 64  # replaced by the written shard's sha256
    created = run.created_at if run.created_at is not None else _first_time(run)
    if existing is not None:  # where and when the run began stay as first imported (its origin)
        created = existing.get("created_at")
    ended = run.ended_at if run.state != "running" else None
    meta: dict[str, Any] = {
        "id": run_id,
        "project": project,
        "entity": None,
        "name": run.name,
        "notes": run.notes,
        "tags": list(run.tags or []),
        "group": run.group,
        "job_type": run.job_type,
        "state": run.state,
        "created_at": created,
        "updated_at": ended if ended is not None else created,
        "ended_at": ended,
        "exit_code": run.exit_code,
        "config": dict(run.config or {}),
        "summary_overrides": dict(run.summary or {}),
        "metric_definitions": [],
        "shards": shards,
        "segments": [
            {
                "segment": SEGMENT,
                "host": _first_segment(existing).get("host", run.host),
                "pid": None,
                "boot_id": None,
                "started_at": created,
                "ended_at": ended,
                "exit_code": run.exit_code,
                "first_step": None,
            }
        ],
        "system": {**({"host": run.host} if run.host else {}), **(run.system or {})} or None,
        "format_version": 1,
        "imported_from": {"source": run.source, "id": run.source_id, "location": run.location},
    }
    check_run_json(meta)
    return json.loads(json.dumps(meta))  # as read back, so comparing with run.json is fair


def _first_segment(existing: dict[str, Any] | None) -> dict[str, Any]:
    segments = (existing or {}).get("segments") or [{}]
    return segments[0] if isinstance(segments[0], dict) else {}


def _first_time(run: SourceRun) -> float | None:
    firsts = [int(k.wall_us.min()) for k in run.metrics if len(k)]
    firsts += [int(m.wall_time * 1e6) for m in run.media]
    return min(firsts) / 1e6 if firsts else None


def _read_media_log(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return b""
    return data[: data.rfind(b"\n") + 1]


def _media_line(point: MediaPoint) -> bytes:
    record = {"key": point.key, "step": point.step, "wall_time": point.wall_time, **point.record}
    sha = record.get("sha256")
    if sha is not None and record.get("file") is None:  # the blob an encoder named by its hash
        ext = next((e for s, e, _ in point.blobs if s == sha), None)
        record["file"] = None if ext is None else f"media/blobs/{sha}.{ext}"
    return encode_record(record)


def _new_media(media: list[MediaPoint], old: bytes) -> list[tuple[bytes, MediaPoint]]:
    """The media log lines the run lacks (by their exact bytes), in source order."""
    have = set(old.splitlines(keepends=True))
    new = []
    for point in media:
        line = _media_line(point)
        if line not in have:
            have.add(line)
            new.append((line, point))
    return new


def _changed_files(run_dir: Path, files: dict[str, bytes]) -> dict[str, bytes]:
    """The run files (console output, notes) whose content is new or differs."""
    changed = {}
    for name, data in files.items():
        try:
            same = (run_dir / "files" / name).read_bytes() == data
        except OSError:
            same = False
        if not same:
            changed[f"files/{name}"] = data
    return changed


def _stage(
    tmp: Path,
    fresh: list[KeyPoints],
    shard_names: list[ShardName],
    meta: dict[str, Any],
    old_media: bytes,
    media_lines: list[bytes],
    files: dict[str, bytes],
) -> dict[str, Path]:
    """Write the run's new files under `tmp`; returns {name in the run: staged path}."""
    staged: dict[str, Path] = {}
    if fresh:
        pieces: dict[str, list[tuple[np.ndarray, ...]]] = {
            k.key: [(k.steps, k.values, k.wall_us, np.arange(len(k), dtype=np.int64))]
            for k in fresh
        }
        table = pieces_to_table(pieces)
        dtypes = {k.key: k.dtype for k in fresh}
        for i, name in enumerate(shard_names):
            part = table.slice(i * SHARD_ROWS, SHARD_ROWS)
            path = tmp / name.filename
            kinds = {k: dtypes[k] for k in part.column("key").unique().to_pylist()}
            info = write_shard(path, name, part, kinds)
            meta["shards"][name.filename] = info.sha256
            staged[f"{METRICS_DIR}/{name.filename}"] = path
    if media_lines:
        path = tmp / "media.jsonl"
        path.write_bytes(old_media + b"".join(media_lines))
        staged[MEDIA_LOG] = path
    for i, (file_name, data) in enumerate(files.items()):
        path = tmp / f"file-{i}"
        path.write_bytes(data)
        staged[file_name] = path
    check_run_json(meta)
    path = tmp / RUN_JSON
    path.write_text(json.dumps(meta, indent=1, sort_keys=True))
    staged[RUN_JSON] = path
    return staged


def _receive(ingest: Ingest, name: str, path: Path) -> FileRef:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    sha, size = digest.hexdigest(), path.stat().st_size
    if not ingest.has_blob(sha):
        with open(path, "rb") as f:
            ingest.receive(sha, iter(lambda: f.read(_CHUNK), b""), DEFAULT_MAX_BLOB_BYTES)
    return FileRef(name, sha, size)


def _receive_media_blobs(ingest: Ingest, blobs: list[tuple[str, str, bytes]]) -> list[FileRef]:
    """The blobs the new media lines name, each once."""
    refs: dict[str, FileRef] = {}
    for sha, ext, data in blobs:
        name = f"media/blobs/{sha}.{ext}"
        if name in refs:
            continue
        if not ingest.has_blob(sha):
            ingest.receive(sha, [data], DEFAULT_MAX_BLOB_BYTES)
        refs[name] = FileRef(name, sha, len(data))
    return list(refs.values())
