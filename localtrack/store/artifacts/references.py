"""References: files an artifact names by URI (file://, s3://) and hashes but does not copy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from ...errors import UsageError
from .fileio import hash_stream


def _local_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "":
        return Path(uri)
    return None


@contextmanager
def open_reference(uri: str) -> Iterator[BinaryIO]:
    """A binary stream of the referenced bytes (local files directly, others via pyarrow.fs)."""
    local = _local_path(uri)
    try:
        if local is not None:
            with open(local, "rb") as f:
                yield f
            return
        from pyarrow import fs

        filesystem, path = fs.FileSystem.from_uri(uri)
        with filesystem.open_input_stream(path) as stream:
            yield stream  # type: ignore[misc]
    except FileNotFoundError as exc:
        raise UsageError(f"reference {uri} does not exist (any more)") from exc
    except PermissionError as exc:
        raise UsageError(f"reference {uri} cannot be read: {exc}") from exc


def list_reference(uri: str) -> list[tuple[str, str]]:
    """(relative path, uri) of every file a reference names: one file, or a folder's files."""
    local = _local_path(uri)
    if local is not None:
        if local.is_dir():
            return [
                (p.relative_to(local).as_posix(), p.absolute().as_uri())
                for p in sorted(local.rglob("*"))
                if p.is_file()
            ]
        if not local.exists():
            raise UsageError(f"reference {uri} does not exist")
        return [(local.name, local.absolute().as_uri())]
    from pyarrow import fs

    filesystem, path = fs.FileSystem.from_uri(uri)
    info = filesystem.get_file_info(path)
    if info.type == fs.FileType.NotFound:
        raise UsageError(f"reference {uri} does not exist")
    scheme = urlparse(uri).scheme
    if info.type == fs.FileType.Directory:
        infos = filesystem.get_file_info(fs.FileSelector(path, recursive=True))
        return [
            (i.path[len(path) :].lstrip("/"), f"{scheme}://{i.path}")
            for i in sorted(infos, key=lambda i: i.path)
            if i.type == fs.FileType.File
        ]
    return [(path.rsplit("/", 1)[-1], uri)]


def hash_reference(uri: str) -> tuple[str, int]:
    """(sha256, size) of a referenced file, read once in bounded chunks."""
    with open_reference(uri) as f:
        return hash_stream(f)
