"""What a run consists of, by content: the value types of an import and the allowed file names.

A manifest lists a run's files by name, sha256 and size. Names are never taken from outside as
paths: ``check_file_name`` allows only ``run.json``, ``metrics/<segment>-<first>-<last>.parquet``,
``media/blobs/<sha256>.<ext>``, ``media/log-<segment>.jsonl``, ``alerts.jsonl`` and
``files/<name>``, where a
name may hold up to ``MAX_FILES_DEPTH`` folders (``files/code/src/train.py``), each part 1-128
characters of ``A-Z a-z 0-9 _ . -`` starting with a letter or digit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...errors import ManifestError
from ..alertlog import ALERTS_FILE
from ..layout import METRICS_DIR, RUN_JSON, ShardName, is_valid_run_id, parse_shard_name

MAX_FILES_PER_RUN = 100_000
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
# What a media blob may be: images, tables, audio, video, HTML, JSON (plotly, point clouds), meshes.
MEDIA_BLOB_EXTENSIONS = (
    "png", "parquet", "jpg", "gif", "wav", "mp3", "ogg", "flac", "mp4", "webm",
    "html", "json", "obj", "gltf", "glb", "stl",
)  # fmt: skip
_MEDIA_BLOB_RE = re.compile(
    r"media/blobs/([0-9a-f]{64})\.(?:" + "|".join(MEDIA_BLOB_EXTENSIONS) + ")"
)
_MEDIA_LOG_RE = re.compile(r"media/log-\d{4}\.jsonl", re.ASCII)
_FILE_PART = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"
MAX_FILES_DEPTH = 8  # folders below files/ (run.save() keeps a file's folders)
_FILES_RE = re.compile(rf"files/(?:{_FILE_PART}/){{0,{MAX_FILES_DEPTH}}}{_FILE_PART}")


@dataclass(frozen=True)
class FileRef:
    """One file of a run, by content: its name inside the run directory, sha256 and size."""

    name: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class RunManifest:
    """What a run consists of right now: run.json plus its live sealed shards."""

    run_id: str
    files: tuple[FileRef, ...]
    heartbeat_at: float | None = None

    def validate(self) -> None:
        """Raise ManifestError unless every name is allowed, unique, and run.json is there."""
        if not isinstance(self.run_id, str) or not is_valid_run_id(self.run_id):
            raise ManifestError(f"run id {self.run_id!r} is not a valid run id")
        if len(self.files) > MAX_FILES_PER_RUN:
            raise ManifestError(f"a manifest may list at most {MAX_FILES_PER_RUN} files")
        names = set()
        for ref in self.files:
            check_file_name(ref.name)
            if not is_sha256(ref.sha256):
                raise ManifestError(f"{ref.name}: {ref.sha256!r} is not a lowercase hex sha256")
            if not isinstance(ref.bytes, int) or isinstance(ref.bytes, bool) or ref.bytes < 0:
                raise ManifestError(f"{ref.name}: bytes must be a non-negative integer")
            if ref.name in names:
                raise ManifestError(f"{ref.name} is listed twice")
            promised = media_blob_sha(ref.name)
            if promised is not None and promised != ref.sha256:
                raise ManifestError(f"{ref.name} is named for another sha256 than its content's")
            names.add(ref.name)
        if RUN_JSON not in names:
            raise ManifestError("a manifest must list run.json")

    @property
    def run_json(self) -> FileRef:
        return next(f for f in self.files if f.name == RUN_JSON)


@dataclass(frozen=True)
class RunStatus:
    """What a store holds of a manifest: up to date, or which blobs it still lacks."""

    run_id: str
    current: bool
    missing: tuple[str, ...]


@dataclass(frozen=True)
class RunIdentity:
    """Who a run belongs to: from the incoming run.json, and from the run already here."""

    run_id: str
    project: str
    entity: str | None
    existing_project: str | None
    existing_entity: str | None


@dataclass(frozen=True)
class CommitResult:
    run_id: str
    changed: bool
    placed: int
    removed: int
    project: str
    entity: str | None


def is_sha256(value: object) -> bool:
    return isinstance(value, str) and bool(_SHA256_RE.fullmatch(value))


def check_file_name(name: object) -> ShardName | None:
    """Allow only the names a run directory holds (an allowlist, so no name is a path outside
    it): ``run.json``, ``metrics/<shard>``, ``media/blobs/<sha256>.<ext>``,
    ``media/log-<segment>.jsonl``, ``alerts.jsonl`` and ``files/<name>``. Returns the shard
    name, if one."""
    if name in (RUN_JSON, ALERTS_FILE):
        return None
    if isinstance(name, str):
        if name.startswith(METRICS_DIR + "/"):
            shard = parse_shard_name(name[len(METRICS_DIR) + 1 :])
            if shard is not None:
                return shard
        elif (
            _MEDIA_BLOB_RE.fullmatch(name)
            or _MEDIA_LOG_RE.fullmatch(name)
            or (_FILES_RE.fullmatch(name) and ".." not in name and not name.endswith(".tmp"))
        ):
            return None
    raise ManifestError(
        f"{name!r} is not a file a run may hold (run.json, metrics/<shard>.parquet, "
        "media/blobs/<sha256>.<ext>, media/log-<segment>.jsonl, alerts.jsonl or files/<name>)"
    )


def shard_of(name: str) -> ShardName | None:
    """The shard `name` stands for, or None for any other file (or a name not allowed)."""
    try:
        return check_file_name(name)
    except ManifestError:
        return None


def media_blob_sha(name: str) -> str | None:
    """The sha256 a media blob's name promises, or None for other files."""
    match = _MEDIA_BLOB_RE.fullmatch(name)
    return match.group(1) if match else None
