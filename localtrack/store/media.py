"""Media beside a run's metrics: content-addressed blobs and an append-only media log.

::

    runs/<id>/media/blobs/<sha256>.<ext>     PNG images, Parquet tables (stored once per content)
    runs/<id>/media/log-<segment>.jsonl      one JSON object per logged item, in logging order

A log line: ``{"key", "step", "wall_time", "type": "image"|"table"|"histogram", ...}``; images
and tables name their blob (``"file": "media/blobs/<sha>.png"``), histograms carry their bins
inline (``"edges"``, ``"counts"``). Lines are fsynced as they are written; a torn last line (a
crash mid-write) is ignored by readers.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from .atomic import write_bytes_atomic
from .layout import RunPaths

MEDIA_DIR = "media"
BLOBS_DIR = "blobs"
_BLOB_RE = re.compile(r"[0-9a-f]{64}\.(png|parquet|jpg|gif)")
_LOG_RE = re.compile(r"^log-(\d{4})\.jsonl$")


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
    """The file of a blob named ``<sha256>.<ext>``; None for any other name (no traversal)."""
    if not _BLOB_RE.fullmatch(name):
        return None
    path = media_dir(paths) / BLOBS_DIR / name
    return path if path.is_file() else None


class MediaLog:
    """Appends media records to one segment's log; used by the writer thread only."""

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

    def append(self, records: list[dict[str, Any]]) -> None:
        lines = b"".join(
            json.dumps(r, allow_nan=False, separators=(",", ":")).encode() + b"\n" for r in records
        )
        with open(self.path, "ab") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())


def read_media(paths: RunPaths) -> list[dict[str, Any]]:
    """Every media record of a run, in logging order (segment by segment)."""
    directory = media_dir(paths)
    try:
        names = sorted(n for n in os.listdir(directory) if _LOG_RE.match(n))
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
