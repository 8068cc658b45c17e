"""Media beside a run's metrics: content-addressed blobs and an append-only media log.

::

    runs/<id>/media/blobs/<sha256>.<ext>     PNG, Parquet, WAV, MP4, HTML, JSON… (once per content)
    runs/<id>/media/log-<segment>.jsonl      one JSON object per logged item, in logging order

A log line: ``{"key", "step", "wall_time", "type": "image"|"table"|"histogram"|"audio"|"video"|
"html"|"plotly"|"object3d", ...}`` (docs/format.md, "Media"); everything but histograms names its
blob (``"file": "media/blobs/<sha>.png"``), histograms carry their bins
inline (``"edges"``, ``"counts"``). Lines are fsynced as they are written; a torn last line (a
crash mid-write) is ignored by readers.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .atomic import write_bytes_atomic
from .ingest.manifest_types import MEDIA_BLOB_EXTENSIONS
from .layout import RunPaths
from .rangedfiles import is_file

MEDIA_DIR = "media"
BLOBS_DIR = "blobs"
_BLOB_RE = re.compile(r"[0-9a-f]{64}\.(" + "|".join(MEDIA_BLOB_EXTENSIONS) + ")")
_LOG_RE = re.compile(r"log-(\d{4})\.jsonl", re.ASCII)


def media_dir(paths: RunPaths) -> Path:
    return paths.dir / MEDIA_DIR


def blob_relpath(sha256: str, ext: str) -> str:
    return f"{MEDIA_DIR}/{BLOBS_DIR}/{sha256}.{ext}"


def write_blob(paths: RunPaths, sha256: str, ext: str, data: bytes) -> str:
    """Store a blob once (content-addressed); returns its path relative to the run directory."""
    rel = blob_relpath(sha256, ext)
    target = paths.dir / rel
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(target, data)
    return rel


def blob_path(paths: RunPaths, name: str) -> Path | None:
    """The file of a blob named ``<sha256>.<ext>``; None for any other name (no traversal).
    On a replica a large blob may be read by byte range (not on disk: open it with
    ``rangedfiles.open_source``)."""
    if not _BLOB_RE.fullmatch(name):
        return None
    path = media_dir(paths) / BLOBS_DIR / name
    return path if is_file(path) else None


class MediaLog:
    """Appends media records to one segment's log; used by the writer thread only.

    A failed append (disk full, I/O error) truncates the file back to where it was, as the tail
    log does, so a retry never leaves a torn line in the middle of the file.
    """

    def __init__(self, paths: RunPaths, segment: int) -> None:
        directory = media_dir(paths)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"log-{segment:04d}.jsonl"
        self._repair()

    def _repair(self) -> None:
        """Drop a torn last line left by a crash, so new lines start on a fresh line."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)

    def append(self, lines: list[bytes]) -> None:
        """Append whole lines (each from encode_record) and fsync; all or nothing."""
        data = b"".join(lines)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                raise
        finally:
            os.close(fd)


def encode_record(record: dict[str, Any]) -> bytes:
    """One media log line; ValueError or TypeError when the record is not plain JSON."""
    return json.dumps(record, allow_nan=False, separators=(",", ":")).encode() + b"\n"


class MediaWriter:
    """The writer thread's media stage: encode queued items, store blobs, append the log.

    `queue` holds ``(key, step, wall_time, item)``; an item has ``encode()`` returning
    ``(record, [(sha256, ext, bytes)])``. An item that cannot be encoded is dropped and reported
    through `drop`; a full disk keeps everything in memory for the next round.
    """

    def __init__(
        self,
        paths: RunPaths,
        segment: int,
        warn: Callable[[str, str], None],
        recovered: Callable[[str], None],
    ) -> None:
        self.paths = paths
        self.segment = segment
        self.queue: deque[tuple[str, int, float, Any]] = deque()
        self.pending: list[tuple[str, int, float, Any]] = []
        self._log: MediaLog | None = None
        self._warn = warn
        self._recovered = recovered

    def write(self) -> bool:
        """Write what is queued; True when something was written."""
        queue = self.queue
        self.pending.extend(queue.popleft() for _ in range(len(queue)))
        if not self.pending:
            return False
        try:
            if self._log is None:
                self._log = MediaLog(self.paths, self.segment)
            lines = [line for item in self.pending if (line := self._encode(*item))]
            self._log.append(lines)
        except OSError as exc:
            self._warn("media", f"cannot write media ({exc}); keeping it in memory")
            return False
        self.pending = []
        self._recovered("media")
        return True

    def _encode(self, key: str, step: int, wall: float, item: Any) -> bytes | None:
        try:
            record, blobs = item.encode()
            for sha, ext, data in blobs:
                record.setdefault("file", None)
                path = write_blob(self.paths, sha, ext, data)
                if sha == record.get("sha256"):
                    record["file"] = path
            return encode_record({"key": key, "step": step, "wall_time": wall, **record})
        except OSError:
            raise
        except Exception as exc:  # this item only: the others are written
            self._warn(f"media:{key}", f"could not encode {key!r} at step {step}: {exc}")
            return None

    @property
    def at_risk(self) -> int:
        """Items not yet on disk."""
        return len(self.queue) + len(self.pending)


def read_media(paths: RunPaths) -> list[dict[str, Any]]:
    """Every media record of a run, in logging order (segment by segment)."""
    directory = media_dir(paths)
    try:
        names = sorted(n for n in os.listdir(directory) if _LOG_RE.fullmatch(n))
    except FileNotFoundError:
        return []
    records: list[dict[str, Any]] = []
    for name in names:
        with open(directory / name, "rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    break  # torn by a crash
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
    return records
