"""Reading artifacts for the UI: collections by type, versions, files, previews and lineage.

Everything is read through ``ArtifactRepository`` (the files under ``<root>/artifacts/`` are the
truth), and returned as plain JSON-ready dicts the web views pass on unchanged. The lineage graph
joins every collection's producers (a manifest's ``run_id``), consumers (its ``uses``) and
registry links (``linked_from``) into one DAG of run and artifact-version nodes, then keeps what
is reachable from the focus within `depth` steps upstream and downstream.

Each collection's part of that graph is cached per process, keyed by the store and collection and
checked against a fingerprint of its three folders (the collection's, ``events/``, ``uses/``:
every publish renames a file into one of them, which changes that folder's mtime). A request
reads again only the collections that changed; a collection changed within ``RACY_S`` seconds of
being read is not cached (a second change in the same mtime tick would not show).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol

from ..errors import UsageError
from .artifacts.collection import CollectionState
from .artifacts.layout import CollectionPaths, check_entry_path, check_name, check_namespace
from .artifacts.manifest import Entry, Manifest
from .artifacts.repository import ArtifactRepository

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
TEXT_SUFFIXES = {".txt", ".md", ".csv", ".tsv", ".json", ".jsonl", ".yaml", ".yml", ".log",
                 ".py", ".toml", ".ini", ".cfg", ".sh", ".xml", ".html", ".rst"}  # fmt: skip
TEXT_PREVIEW_BYTES = 64 << 10
TABLE_PREVIEW_ROWS = 100
MAX_LINEAGE_NODES = 500
RACY_S = 2.0


def file_kind(path: str) -> str:
    """ "image", "text", "table" (Parquet) or "binary", by the entry's suffix."""
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in IMAGE_TYPES:
        return "image"
    if suffix == ".parquet":
        return "table"
    return "text" if suffix in TEXT_SUFFIXES else "binary"


def version_id(project: str, name: str, version: int) -> str:
    return f"artifact:{project}/{name}:v{version}"


def run_node_id(run_id: str) -> str:
    return f"run:{run_id}"


@dataclass(frozen=True)
class _Part:
    """One collection's nodes and edges in the lineage graph."""

    nodes: tuple[dict[str, Any], ...]
    edges: tuple[tuple[str, str, str], ...]


def _part_of(state: CollectionState) -> _Part:
    nodes: list[dict[str, Any]] = []
    edges: list[tuple[str, str, str]] = []
    for m in state.live.values():
        node = version_id(m.project, m.name, m.version)
        nodes.append(
            {
                "id": node,
                "kind": "artifact",
                "project": m.project,
                "name": m.name,
                "version": f"v{m.version}",
                "type": m.type,
                "aliases": state.aliases_of(m.version),
            }
        )
        src = m.linked_from or {}
        if isinstance(src.get("version"), int):
            origin = version_id(str(src.get("project")), str(src.get("name")), src["version"])
            edges.append((origin, node, "link"))
        elif m.run_id:
            edges.append((run_node_id(m.run_id), node, "output"))
    for use in state.uses:
        node = version_id(state.project, state.name, use.version)
        edges.append((node, run_node_id(use.run_id), "input"))
    return _Part(tuple(nodes), tuple(edges))


def _fingerprint(paths: CollectionPaths) -> tuple[tuple[int, int, int], ...]:
    out = []
    for folder in (paths.dir, paths.events, paths.uses):
        try:
            st = os.stat(folder)
        except FileNotFoundError:
            out.append((0, 0, 0))
            continue
        out.append((st.st_mtime_ns, st.st_ino, st.st_size))
    return tuple(out)


_PartKey = tuple[str, str, str]  # (store root, project, name)
_parts: dict[_PartKey, tuple[tuple[tuple[int, int, int], ...], _Part]] = {}
_parts_lock = threading.Lock()


@dataclass
class _Graph:
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    down: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # node → (child, kind)
    up: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    def edge(self, a: str, b: str, kind: str) -> None:
        self.down.setdefault(a, set()).add((b, kind))
        self.up.setdefault(b, set()).add((a, kind))


class ArtifactSource(Protocol):
    """What the reader asks of a store's artifacts: ``ArtifactRepository`` (the files), or on a
    shared-nothing server ``artifacts/pgcatalog.SharedArtifacts`` (PostgreSQL and the bucket)."""

    def collections(self, project: str | None = None) -> list[tuple[str, str]]: ...

    def state(self, project: str, name: str) -> CollectionState: ...

    def resolve(self, project: str, name: str, label: str) -> tuple[Manifest, CollectionState]: ...

    def open_blob(self, entry: Entry) -> BinaryIO: ...


class ArtifactReader:
    """The artifact area of the store at `root`, as the UI reads it (from `source` instead of
    the files under ``<root>/artifacts/`` when one is given)."""

    def __init__(self, root: Path | str, source: ArtifactSource | None = None) -> None:
        self._files: ArtifactRepository | None = None
        self.repo: ArtifactSource
        if source is None:
            self._files = self.repo = ArtifactRepository(root)
        else:
            self.repo = source

    def _states(self, project: str | None = None) -> Iterator[CollectionState]:
        for p, n in self.repo.collections(project):
            yield self.repo.state(p, n)

    # -- lists -----------------------------------------------------------------------------------

    def project_view(self, project: str) -> dict[str, Any]:
        """Collections of `project` grouped by type (types and names sorted)."""
        check_namespace(project)
        types: dict[str, list[dict[str, Any]]] = {}
        for state in self._states(project):
            live = state.live
            if not live:
                continue
            latest = live[max(live)]
            types.setdefault(latest.type, []).append(
                {
                    "name": state.name,
                    "type": latest.type,
                    "versions": len(live),
                    "latest": f"v{latest.version}",
                    "aliases": {a: f"v{v}" for a, v in sorted(state.all_aliases().items())},
                    "size": latest.size,
                    "file_count": latest.file_count,
                    "updated_at": latest.created_at,
                }
            )
        return {
            "project": project,
            "types": [{"type": t, "collections": types[t]} for t in sorted(types)],
        }

    def collection_view(self, project: str, name: str) -> dict[str, Any]:
        state = self._state(project, name)
        live = state.live
        versions = [self._summary(state, live[v]) for v in sorted(live, reverse=True)]
        kind = live[max(live)].type if live else None
        return {"project": project, "name": name, "type": kind, "versions": versions}

    def version_view(self, project: str, name: str, label: str) -> dict[str, Any]:
        manifest, state = self.repo.resolve(project, name, label)
        out = self._summary(state, manifest)
        out["files"] = [
            {
                "path": e.path,
                "size": e.size,
                "sha256": e.sha256,
                "ref": e.ref,
                "kind": "reference" if e.ref else file_kind(e.path),
            }
            for e in sorted(manifest.entries.values(), key=lambda e: e.path)
        ]
        out["moves"] = [
            {
                "alias": m.alias,
                "from": None if m.from_version is None else f"v{m.from_version}",
                "to": None if m.to_version is None else f"v{m.to_version}",
                "who": m.who,
                "at": m.at,
            }
            for m in state.moves
            if manifest.version in (m.from_version, m.to_version)
        ]
        return out

    def _state(self, project: str, name: str) -> CollectionState:
        check_namespace(project)
        check_name(name)
        state = self.repo.state(project, name)
        if not state.versions:
            raise UsageError(f"no artifact {project}/{name} in this store")
        return state

    def _summary(self, state: CollectionState, m: Manifest) -> dict[str, Any]:
        return {
            "project": m.project,
            "name": m.name,
            "version": f"v{m.version}",
            "type": m.type,
            "aliases": state.aliases_of(m.version),
            "digest": m.digest,
            "size": m.size,
            "file_count": m.file_count,
            "created_at": m.created_at,
            "description": m.description,
            "metadata": dict(m.metadata),
            "producer": None if m.linked_from else m.run_id,
            "consumers": sorted(
                {u.run_id for u in state.uses if u.version == m.version},
            ),
            "linked_from": dict(m.linked_from) if m.linked_from else None,
        }

    # -- files -----------------------------------------------------------------------------------

    def entry(self, project: str, name: str, label: str, path: str) -> tuple[Entry, bool]:
        """The entry at `path` of a version and whether its bytes are stored (not a reference);
        `open_blob` reads them."""
        manifest, _ = self.repo.resolve(project, name, label)
        try:
            key = check_entry_path(path)
        except UsageError:
            raise UsageError(f"{path!r} is not a file of {project}/{name}:{label}") from None
        entry = manifest.entries.get(key)
        if entry is None:
            raise UsageError(f"{project}/{name}:{label} has no file {path!r}")
        return entry, entry.ref is None

    def open_blob(self, entry: Entry) -> BinaryIO:
        """The stored bytes of `entry`; FileNotFoundError if the store lacks them."""
        return self.repo.open_blob(entry)

    def preview(self, project: str, name: str, label: str, path: str) -> dict[str, Any]:
        """What the file browser shows: text (first 64 KiB), a table page, or an image."""
        entry, stored = self.entry(project, name, label, path)
        kind = "reference" if not stored else file_kind(entry.path)
        out: dict[str, Any] = {"path": entry.path, "kind": kind, "size": entry.size}
        if not stored:
            out["ref"] = entry.ref
        elif kind == "text":
            with self.open_blob(entry) as f:
                data = f.read(TEXT_PREVIEW_BYTES + 1)
            out["text"] = data[:TEXT_PREVIEW_BYTES].decode("utf-8", "replace")
            out["truncated"] = len(data) > TEXT_PREVIEW_BYTES
        elif kind == "table":
            with self.open_blob(entry) as f:
                out.update(table_page(f, TABLE_PREVIEW_ROWS))
        return out

    # -- lineage ---------------------------------------------------------------------------------

    def _part(self, project: str, name: str) -> _Part:
        """The lineage part of one collection: cached while its folders are unchanged."""
        if self._files is None:  # not files: no folder to fingerprint
            return _part_of(self.repo.state(project, name))
        paths = self._files.collection(project, name)
        key = (str(self._files.store.root), project, name)
        fingerprint = _fingerprint(paths)
        with _parts_lock:
            cached = _parts.get(key)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        part = _part_of(self.repo.state(project, name))
        newest = max(f[0] for f in fingerprint) / 1e9
        if time.time() - newest > RACY_S:
            with _parts_lock:
                _parts[key] = (fingerprint, part)
        return part

    def _graph(self) -> _Graph:
        g = _Graph()
        names = self.repo.collections()
        if self._files is not None:
            root = str(self._files.store.root)
            with _parts_lock:  # forget collections that are gone
                here = set(names)
                for key in [k for k in _parts if k[0] == root and (k[1], k[2]) not in here]:
                    del _parts[key]
        for project, name in names:
            part = self._part(project, name)
            for doc in part.nodes:
                g.nodes[doc["id"]] = doc
            for a, b, kind in part.edges:
                g.edge(a, b, kind)
        for node in {*g.down, *g.up}:
            if node.startswith("run:"):
                g.nodes[node] = {"id": node, "kind": "run", "run_id": node[4:]}
        return g

    def lineage(self, focus_project: str, name: str, label: str, depth: int = 3) -> dict[str, Any]:
        """Nodes and edges within `depth` steps upstream and downstream of a version."""
        manifest, _ = self.repo.resolve(focus_project, name, label)
        return self._lineage(version_id(manifest.project, manifest.name, manifest.version), depth)

    def run_lineage(self, run_id: str, depth: int = 3) -> dict[str, Any]:
        return self._lineage(run_node_id(run_id), depth)

    def _lineage(self, focus: str, depth: int) -> dict[str, Any]:
        g = self._graph()
        keep = {focus}
        for links in (g.up, g.down):
            seen = {focus: 0}
            todo = deque([focus])
            while todo and len(keep) < MAX_LINEAGE_NODES:
                node = todo.popleft()
                if seen[node] >= depth:
                    continue
                for nxt, _ in sorted(links.get(node, ())):
                    if nxt not in seen:
                        seen[nxt] = seen[node] + 1
                        keep.add(nxt)
                        todo.append(nxt)
        edges = [
            {"from": a, "to": b, "kind": kind}
            for a in sorted(keep)
            for b, kind in sorted(g.down.get(a, ()))
            if b in keep
        ]
        nodes = [_copy(g.nodes.get(n)) or _gone(n) for n in sorted(keep)]
        return {"focus": focus, "depth": depth, "nodes": nodes, "edges": edges}

    def run_artifacts(self, run_id: str) -> dict[str, Any]:
        """The versions `run_id` used (inputs) and logged (outputs)."""
        inputs, outputs = [], []
        for state in self._states():
            live = state.live
            for m in live.values():
                if m.run_id == run_id and not m.linked_from:
                    outputs.append(self._summary(state, m))
            for v in sorted({u.version for u in state.uses if u.run_id == run_id}):
                if v in live:
                    inputs.append(self._summary(state, live[v]))
        return {"run_id": run_id, "inputs": inputs, "outputs": outputs}


def _copy(node: dict[str, Any] | None) -> dict[str, Any] | None:
    """A node the caller may change (the cached one stays as it is)."""
    if node is None:
        return None
    out = dict(node)
    if "aliases" in out:
        out["aliases"] = list(out["aliases"])
    return out


def _gone(node: str) -> dict[str, Any]:
    """A node only edges name (a registry link's origin that was deleted since)."""
    if node.startswith("run:"):
        return {"id": node, "kind": "run", "run_id": node[4:]}
    project_name, _, version = node[len("artifact:") :].rpartition(":")
    project, _, name = project_name.rpartition("/")
    return {"id": node, "kind": "artifact", "project": project, "name": name,
            "version": version, "type": "deleted", "aliases": []}  # fmt: skip


def table_page(path: Path | BinaryIO, limit: int) -> dict[str, Any]:
    """The first `limit` rows of a Parquet file as JSON-ready columns and rows."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:
        return {"kind": "binary", "error": f"not a readable Parquet file: {exc}"}
    batches = pf.iter_batches(batch_size=limit)
    batch = next(batches, None)
    columns = [f.name for f in pf.schema_arrow]
    rows: list[list[Any]] = []
    if batch is not None:
        table = batch.to_pylist()
        rows = [[_cell(r.get(c)) for c in columns] for r in table[:limit]]
    return {"columns": columns, "rows": rows, "num_rows": pf.metadata.num_rows}


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    return str(value)
