"""What a run holds besides its metrics, as files an exporter hands to another tool.

``media_files``: each media item with its stored blob and a readable name
(``media/<key>/step-<step>[-<index>].<ext>``); ``run_files``: the run's ``files/`` folder
(console output, requirements, ``run.save()`` files); ``logged_artifacts``: the artifact
versions the run logged, and ``materialized`` puts one version's files in a temporary folder.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ..store.artifacts.manifest import Manifest
from ..store.artifacts.repository import ArtifactRepository
from ..store.layout import saved_file
from ..store.media_reader import MediaItem
from ..store.reader import StoreReader


@dataclass(frozen=True)
class MediaFile:
    """A media item, the file of its blob (None for a histogram, which has none), and the name
    it gets in an export."""

    item: MediaItem
    path: Path | None
    name: str


def media_name(item: MediaItem, ext: str) -> str:
    """``media/<key>/step-<step>[-<index>].<ext>``: one name per item, galleries numbered."""
    index = f"-{item.index}" if item.count > 1 else ""
    return f"media/{item.key}/step-{item.step}{index}.{ext}"


_PLACE = ("key", "step", "wall_time", "file")  # where an item is, not what it is


def media_record(item: MediaItem) -> dict[str, Any]:
    """The item's media-log record without its place (key, step, time, blob file): what it is."""
    record = {}
    for field in dataclasses.fields(item):
        value = getattr(item, field.name)
        if field.name in _PLACE or value is None or value == field.default:
            continue
        record[field.name] = list(value) if isinstance(value, tuple) else value
    return record


def media_files(reader: StoreReader, run_id: str) -> list[MediaFile]:
    """Every media item of the run with its blob, in (key, step) order."""
    out = []
    for item in reader.media(run_id):
        path = reader.media_file(run_id, item.file.rsplit("/", 1)[-1]) if item.file else None
        ext = path.suffix.lstrip(".") if path is not None else "json"
        out.append(MediaFile(item, path, media_name(item, ext)))
    return out


def table_rows(path: Path) -> tuple[list[str], list[list[Any]]]:
    """A stored table's columns and rows, cells as stored."""
    table = pq.read_table(path)
    rows = table.to_pylist()
    return table.column_names, [[r[c] for c in table.column_names] for r in rows]


def run_files(reader: StoreReader, run_id: str) -> list[tuple[str, Path]]:
    """(name below files/, path) of every file the run keeps, in name order."""
    top = reader.store.run(reader.resolve_run_id(run_id)).files
    found = []
    for folder, dirs, names in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            rel = (Path(folder) / name).relative_to(top).as_posix()
            path = saved_file(top, rel)
            if path is not None:
                found.append((rel, path))
    return found


def logged_artifacts(root: Path | str, run_id: str) -> list[Manifest]:
    """The live artifact versions `run_id` logged (not registry links), by name and version."""
    repo = ArtifactRepository(root)
    found = []
    for project, name in repo.collections():
        for manifest in repo.state(project, name).live.values():
            if manifest.run_id == run_id and not manifest.linked_from:
                found.append(manifest)
    return sorted(found, key=lambda m: (m.name, m.version))


@contextmanager
def materialized(root: Path | str, manifest: Manifest) -> Iterator[Path]:
    """A temporary folder holding every file of `manifest`, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="localtrack-export-") as tmp:
        yield ArtifactRepository(root).materialize(manifest, Path(tmp) / "files")
