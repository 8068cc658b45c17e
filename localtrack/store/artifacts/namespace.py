"""Which ``entity/project`` namespace each collection folder belongs to (docs/format.md,
"Artifacts", "Namespace").

A collection's key is its namespace, ``entity/project`` or just ``project`` (as runs are named in
the UI and on a server), plus its name. Its folder is ``collections/<namespace, percent-encoded>/
<name>/``, so ``team/proj`` is the folder ``team%2Fproj`` and a project without an entity keeps
the plain folder it always had. Every folder written now holds ``namespace.json``.

Stores written before entities were part of the layout kept every collection under the plain
project folder; such a folder without ``namespace.json`` belongs to the entity of the first run
here that logged one of its versions (none when no run did). It is read, and written to, where it
is, under that namespace; the first write records ``namespace.json`` so the answer never changes.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from ...errors import CorruptDataError, UsageError
from ..atomic import publishing
from ..layout import is_valid_run_id
from ..root import StoreRoot
from ..runmeta import load as load_run_json
from .layout import (
    FORMAT_VERSION,
    ArtifactPaths,
    CollectionPaths,
    check_name,
    folder_of,
    is_name,
    join_namespace,
    namespace_of_folder,
    split_namespace,
)
from .manifest import read_manifest

NAMESPACE_FILE = "namespace.json"

_derived: dict[str, str | None] = {}  # old-layout folder -> entity (runs' entities never change)
_derived_lock = threading.Lock()


def recorded_entity(paths: CollectionPaths) -> tuple[bool, str | None]:
    """(whether the folder records its namespace, that entity)."""
    try:
        with open(paths.dir / NAMESPACE_FILE, "rb") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return False, None
    entity = data.get("entity") if isinstance(data, dict) else None
    return True, entity if isinstance(entity, str) and entity else None


def record_namespace(paths: CollectionPaths, entity: str | None) -> None:
    """Write ``namespace.json`` unless the folder has one (the first writer's stays)."""
    if (paths.dir / NAMESPACE_FILE).is_file():
        return
    paths.dir.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"format_version": FORMAT_VERSION, "entity": entity}).encode() + b"\n"
    try:
        with publishing(paths.dir / NAMESPACE_FILE, exclusive=True) as f:
            f.write(body)
    except FileExistsError:
        pass


def _run_entity(store: StoreRoot, run_id: str) -> tuple[bool, str | None]:
    """(whether the run is here, its entity)."""
    try:
        meta = load_run_json(store.run(run_id).run_json)
    except (OSError, CorruptDataError, UsageError):
        return False, None
    entity = meta.get("entity")
    return True, entity if isinstance(entity, str) and entity else None


def derived_entity(store: StoreRoot, paths: CollectionPaths) -> str | None:
    """The entity of an old-layout folder: that of the first run here that logged one of its
    versions, else None."""
    key = str(paths.dir)
    with _derived_lock:
        if key in _derived:
            return _derived[key]
    entity, settled = None, False
    for version in paths.versions_on_disk():
        try:
            run_id = read_manifest(paths.manifest(version)).run_id
        except (OSError, CorruptDataError):
            continue
        if run_id and is_valid_run_id(run_id):
            found, entity = _run_entity(store, run_id)
            if found:
                settled = True
                break
    if settled:
        with _derived_lock:
            _derived[key] = entity
    return entity


def folder_entity(store: StoreRoot, paths: CollectionPaths) -> str | None:
    """The entity a plain project folder's collection belongs to (recorded, else derived)."""
    recorded, entity = recorded_entity(paths)
    return entity if recorded else derived_entity(store, paths)


class Namespaces:
    """Collection folders of one store, by (namespace, name)."""

    def __init__(self, store: StoreRoot, paths: ArtifactPaths) -> None:
        self.store = store
        self.paths = paths

    def _plain(self, project: str, name: str) -> CollectionPaths:
        return CollectionPaths(self.paths.collections / project / check_name(name))

    def collection(self, namespace: str, name: str) -> CollectionPaths:
        """The folder of `namespace`/`name`: its own, or an old-layout folder of the plain
        project that belongs to the same entity."""
        entity, project = split_namespace(namespace)
        own = CollectionPaths(self.paths.collections / folder_of(namespace) / check_name(name))
        if entity is None or own.dir.is_dir():
            return own
        old = self._plain(project, name)
        if old.dir.is_dir() and folder_entity(self.store, old) == entity:
            return old
        return own

    def clash(self, namespace: str, name: str) -> str | None:
        """The namespace holding the folder `namespace`/`name` would be written to, when it is
        another one (an old-layout folder of an entity, asked for without one); else None."""
        entity, project = split_namespace(namespace)
        paths = self.collection(namespace, name)
        if entity is None and paths.dir.is_dir():
            held = folder_entity(self.store, paths)
            if held is not None:
                return join_namespace(held, project)
        return None

    def for_writing(self, namespace: str, name: str) -> CollectionPaths:
        """The folder to write `namespace`/`name` into, its namespace recorded first;
        UsageError when an old-layout folder of another entity holds that plain name."""
        held = self.clash(namespace, name)
        if held is not None:
            raise UsageError(
                f"artifact {namespace}/{name} here belongs to {held} (a store written before "
                f"entities were recorded); log it as {held}/{name} or under another name"
            )
        paths = self.collection(namespace, name)
        record_namespace(paths, split_namespace(namespace)[0])
        return paths

    def names(self) -> list[tuple[str, str]]:
        """Every (namespace, name) with a folder on disk, sorted."""
        out: set[tuple[str, str]] = set()
        try:
            folders = sorted(os.scandir(self.paths.collections), key=lambda e: e.name)
        except FileNotFoundError:
            return []
        for folder in folders:
            namespace = namespace_of_folder(folder.name) if folder.is_dir() else None
            if namespace is None:
                continue
            for coll in sorted(Path(folder.path).iterdir()):
                if not coll.is_dir() or not is_name(coll.name):
                    continue
                if "/" not in namespace:
                    entity = folder_entity(self.store, CollectionPaths(coll))
                    out.add((join_namespace(entity, namespace), coll.name))
                else:
                    out.add((namespace, coll.name))
        return sorted(out)
