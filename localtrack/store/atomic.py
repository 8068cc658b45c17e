"""Crash-safe file publication: write a partial file, fsync it, rename it, fsync the directory.

A reader never sees a half-written file under its final name; after a crash only a partial
(`.<name>.tmp`) can be left behind, and recovery deletes those. ``publishing`` is the one
implementation; ``write_bytes_atomic`` and ``write_json_atomic`` are its whole-payload forms.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO


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


@contextmanager
def publishing(
    path: Path,
    *,
    unique: bool = False,
    mode: int | None = None,
    exclusive: bool = False,
    partial: Path | None = None,
) -> Iterator[BinaryIO]:
    """Yield a binary file (named by its partial path) whose content is published at `path`
    when the block ends.

    The file is written under its partial name, flushed and fsynced, renamed into place and the
    directory fsynced; an exception leaves nothing behind (the old file, if any, is kept).
    `unique`: see partial_path. `mode` (e.g. 0o600 for secrets) is the file's permission bits,
    set before any byte is written. `exclusive` publishes only if `path` does not exist yet
    (raising FileExistsError otherwise), for a file that must never be replaced once made.
    `partial` overrides the partial name (it must be on the same file system as `path`).
    """
    tmp = partial or partial_path(path, unique or exclusive)
    try:
        bits = 0o666 if mode is None else mode
        with open(tmp, "wb", opener=lambda name, flags: os.open(name, flags, bits)) as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)  # a stale partial may have had other bits
            yield f
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            os.link(tmp, path)  # fails if `path` exists, unlike rename
            tmp.unlink()
        else:
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent.absolute())


def write_bytes_atomic(
    path: Path, data: bytes, unique: bool = False, mode: int | None = None
) -> None:
    """Publish `data` at `path` atomically and durably (`unique`, `mode`: see publishing)."""
    with publishing(path, unique=unique, mode=mode) as f:
        f.write(data)


def write_json_atomic(
    path: Path, value: Any, unique: bool = False, mode: int | None = None
) -> None:
    """Publish `value` as pretty JSON at `path` atomically and durably (`unique`, `mode`: see
    publishing)."""
    write_bytes_atomic(path, json_bytes(value), unique, mode)


def json_bytes(value: Any) -> bytes:
    """`value` as the pretty JSON ``write_json_atomic`` publishes."""
    text = json.dumps(value, indent=1, sort_keys=True, allow_nan=True, default=str)
    return text.encode("utf-8") + b"\n"


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
