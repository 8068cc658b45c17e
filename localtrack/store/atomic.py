"""Crash-safe file publication: write a partial file, fsync it, rename it, fsync the directory.

A reader never sees a half-written file under its final name; after a crash only a partial
(`.<name>.tmp`) can be left behind, and recovery deletes those.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any


def partial_path(path: Path, unique: bool = False) -> Path:
    """The temporary name a file is written under before it is renamed into place.

    ``.<name>.tmp``: a partial left by a crash is simply overwritten by the next write. With
    `unique` (for files several processes may publish at once, like a new store's marker) the
    name gets the process id and a random part, ``.<name>.<pid>-<random>.tmp``.
    """
    if unique:
        return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    return path.with_name(f".{path.name}.tmp")


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path, data: bytes, unique: bool = False) -> None:
    """Publish `data` at `path` atomically and durably (`unique`: see partial_path)."""
    tmp = partial_path(path, unique)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_json_atomic(path: Path, value: Any, unique: bool = False) -> None:
    """Publish `value` as pretty JSON at `path` atomically and durably (`unique`: see
    partial_path)."""
    text = json.dumps(value, indent=1, sort_keys=True, allow_nan=True, default=str)
    write_bytes_atomic(path, text.encode("utf-8") + b"\n", unique)


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
