"""Pure path rules for a store: where each file of a run lives, and how names are parsed.

::

    <root>/localtrack.json                 format marker: {"format": "localtrack", "format_version": 1}
    <root>/index.db                        SQLite index (a cache; rebuilt by `localtrack reindex`)
    <root>/runs/<run_id>/run.json          metadata, config, summary overrides, segments
    <root>/runs/<run_id>/heartbeat         touched by a live writer; its mtime is the heartbeat
    <root>/runs/<run_id>/tail-<seg>.log    CRC-framed batches not yet sealed into a shard
    <root>/runs/<run_id>/metrics/<seg>-<first>-<last>.parquet   sealed shard of batches first..last
    <root>/runs/<run_id>/quarantine/       damaged files moved aside by recovery
    <root>/runs/<run_id>/files/            user files, console output, media (later formats)
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

FORMAT_VERSION = 1
MARKER_NAME = "localtrack.json"
INDEX_NAME = "index.db"
RUNS_DIR = "runs"
RUN_JSON = "run.json"
HEARTBEAT = "heartbeat"
METRICS_DIR = "metrics"
QUARANTINE_DIR = "quarantine"
FILES_DIR = "files"

_RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_SHARD_RE = re.compile(r"(\d{4})-(\d{9})-(\d{9})\.parquet", re.ASCII)
_TAIL_RE = re.compile(r"tail-(\d{4})\.log", re.ASCII)


@dataclass(frozen=True, order=True)
class ShardName:
    """A shard's coverage, parsed from its file name: batches first..last of one segment."""

    segment: int
    first_batch: int
    last_batch: int

    @property
    def filename(self) -> str:
        return f"{self.segment:04d}-{self.first_batch:09d}-{self.last_batch:09d}.parquet"

    def covers(self, other: ShardName) -> bool:
        """True when this shard holds every batch `other` holds."""
        return (
            self.segment == other.segment
            and self.first_batch <= other.first_batch
            and other.last_batch <= self.last_batch
        )

    def covers_batch(self, segment: int, batch: int) -> bool:
        return self.segment == segment and self.first_batch <= batch <= self.last_batch


def is_valid_run_id(run_id: str) -> bool:
    """Run ids are path-safe: letters, digits, '_', '-', '.', not starting with a dot."""
    return bool(_RUN_ID_RE.fullmatch(run_id)) and ".." not in run_id


def parse_shard_name(name: str) -> ShardName | None:
    match = _SHARD_RE.fullmatch(name)
    if not match:
        return None
    seg, first, last = (int(g) for g in match.groups())
    return ShardName(seg, first, last)


def parse_tail_name(name: str) -> int | None:
    """The segment number of a tail log file name, or None if it is not one."""
    match = _TAIL_RE.fullmatch(name)
    return int(match.group(1)) if match else None


def is_partial_name(name: str) -> bool:
    """Partial files (being written) start with a dot and end with .tmp; readers ignore them."""
    return name.startswith(".") and name.endswith(".tmp")


MAX_SAVED_FILE_DEPTH = 8  # folders below files/ (run.save() keeps a file's folders)


def saved_file(files_dir: Path, name: str) -> Path | None:
    """The file `name` (``/`` between folders) of a run's ``files/`` folder, or None when there
    is none or the name could reach outside: every part must be non-empty, not start with a
    dot (no ``..``, no partial or hidden files) and hold no ``\\`` or NUL; no part on the way
    may be a link, and the resolved path must lie inside `files_dir`."""
    parts = name.split("/") if isinstance(name, str) else [""]
    if len(parts) > MAX_SAVED_FILE_DEPTH + 1 or any(
        not p or p.startswith(".") or "\\" in p or "\x00" in p for p in parts
    ):
        return None
    path = files_dir
    for part in parts:
        path = path / part
        if path.is_symlink():
            return None
    try:
        inside = path.resolve(strict=True).is_relative_to(files_dir.resolve(strict=True))
    except (OSError, RuntimeError):
        return None
    return path if inside and path.is_file() else None


@dataclass(frozen=True)
class RunPaths:
    """Every path of one run directory."""

    dir: Path

    @property
    def run_id(self) -> str:
        return self.dir.name

    @property
    def run_json(self) -> Path:
        return self.dir / RUN_JSON

    @property
    def heartbeat(self) -> Path:
        return self.dir / HEARTBEAT

    @property
    def metrics(self) -> Path:
        return self.dir / METRICS_DIR

    @property
    def quarantine(self) -> Path:
        return self.dir / QUARANTINE_DIR

    @property
    def files(self) -> Path:
        return self.dir / FILES_DIR

    def tail(self, segment: int) -> Path:
        return self.dir / f"tail-{segment:04d}.log"

    def shard(self, name: ShardName) -> Path:
        return self.metrics / name.filename


@dataclass(frozen=True)
class StorePaths:
    """Every path at the root of a store."""

    root: Path

    @property
    def marker(self) -> Path:
        return self.root / MARKER_NAME

    @property
    def index(self) -> Path:
        return self.root / INDEX_NAME

    @property
    def runs(self) -> Path:
        return self.root / RUNS_DIR

    def run(self, run_id: str) -> RunPaths:
        return RunPaths(self.runs / run_id)


def project_folder_name(project: str) -> str | None:
    """A project's name as one folder name of its own (percent-encoded, so "a/b" stays one
    folder), or None where no folder can stand for it: "" and names of only dots ("." and ".."
    would name the folder above, a traversal out of the store's per-project folders)."""
    if not project or project.strip(".") == "":
        return None
    return urllib.parse.quote(project, safe="")
