"""Artifacts through ``localtrack.Api(base_url=…)``: a server's artifact routes, read as the
local ``artifacts/query.py`` reads a store.

A version comes from ``GET /api/v1/projects/<project>/artifacts/<name>/<label>`` (aliases,
producer, consumers and every file's path, sha256 and size); its manifest is rebuilt from that
and checked like one read from disk (schema and digest), so a server cannot hand out entries
that do not add up. Files come from ``…/<version>/file?path=…`` and are checked against the
manifest's sha256 before they are kept; references (``add_reference``) are read from where they
point, as locally. Versions read this way are read-only: ``save()`` and ``delete()`` refuse.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote, urlencode

from ..artifacts.artifact import Artifact
from ..artifacts.query import names_namespace, namespace_of_spec
from ..artifacts.spec import parse_spec
from ..errors import DigestMismatchError, UsageError
from ..store.artifacts.collection import Use
from ..store.artifacts.fileio import hash_file
from ..store.artifacts.layout import (
    FORMAT_VERSION,
    MANIFEST_FORMAT,
    check_entry_path,
    split_namespace,
)
from ..store.artifacts.manifest import Entry, Manifest, parse_manifest
from ..store.artifacts.references import open_reference

if TYPE_CHECKING:
    from .remote import RemoteBackend

CHUNK = 1 << 20


def manifest_from_view(view: dict[str, Any]) -> Manifest:
    """The manifest of a version from the server's version view, checked as a manifest read
    from disk is (every field's type, each entry's path, the digest over the entries)."""
    version = str(view.get("version") or "")
    producer = view.get("producer")
    namespace = view.get("project")
    if not isinstance(namespace, str):
        raise UsageError(f"the server named no project for an artifact version ({namespace!r})")
    doc = {
        "format": MANIFEST_FORMAT,
        "format_version": FORMAT_VERSION,
        "project": split_namespace(namespace)[1],
        "name": view.get("name"),
        "version": int(version[1:]) if version[1:].isdigit() else version,
        "type": view.get("type"),
        "digest": view.get("digest"),
        "created_at": view.get("created_at"),
        "run_id": producer.get("id") if isinstance(producer, dict) else None,
        "description": view.get("description"),
        "metadata": view.get("metadata") or {},
        "linked_from": view.get("linked_from"),
        "entries": {
            f["path"]: {"sha256": f["sha256"], "size": f["size"], "ref": f.get("ref")}
            for f in view.get("files") or ()
        },
    }
    return replace(parse_manifest(doc), project=namespace)


@dataclass
class _RemoteState:
    """What ``Artifact`` reads of a collection: a version's aliases and its consumers."""

    aliases: dict[int, list[str]] = field(default_factory=dict)
    uses: list[Use] = field(default_factory=list)

    def aliases_of(self, version: int) -> list[str]:
        return list(self.aliases.get(version, []))


class RemoteArtifactRepository:
    """The part of ``ArtifactRepository`` a logged ``Artifact`` uses, over a server: one
    version's aliases and consumers, its files (checked by sha256), and an Api for its runs."""

    def __init__(self, source: RemoteArtifacts, manifest: Manifest, view: dict[str, Any]):
        self._source = source
        self._manifest = manifest
        consumers = [c.get("id") for c in view.get("consumers") or () if isinstance(c, dict)]
        self._state = _RemoteState(
            {manifest.version: [str(a) for a in view.get("aliases") or ()]},
            [Use(str(r), None, manifest.version, 0.0) for r in consumers if r],
        )

    def state(self, project: str, name: str) -> _RemoteState:
        return self._state

    def open_api(self) -> Any:
        return self._source.open_api()

    def blob_path(self, entry: Entry) -> Path:
        """A local copy of `entry`'s bytes (downloaded once per Api, sha256 checked)."""
        path = self._source.cache / entry.sha256
        if not path.is_file():
            self._fetch(entry, path)
        return path

    def open_blob(self, entry: Entry) -> BinaryIO:
        return open(self.blob_path(entry), "rb")

    def materialize(self, manifest: Manifest, root: Path) -> Path:
        """Every file of the version under `root`: files already there with the right content
        are kept, any other file there is an error (as locally)."""
        root = Path(root)
        existing = (
            {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}
            if root.is_dir()
            else {}
        )
        extra = sorted(set(existing) - set(manifest.entries))
        if extra:
            raise UsageError(
                f"cannot download {manifest.project}/{manifest.name}:v{manifest.version} into "
                f"{root}: it holds other files ({', '.join(extra[:5])}); use an empty folder"
            )
        for path, entry in manifest.entries.items():
            target = root.joinpath(*check_entry_path(path).split("/"))
            if path in existing:
                if hash_file(target)[0] == entry.sha256:
                    continue
                raise UsageError(f"cannot download into {root}: {path} is there with other content")
            target.parent.mkdir(parents=True, exist_ok=True)
            cached = self._source.cache / entry.sha256
            if cached.is_file():
                shutil.copyfile(cached, target)
            else:  # straight to its place (checked there): no second copy of a large file
                self._fetch(entry, target)
        return root

    def _fetch(self, entry: Entry, target: Path) -> None:
        partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            if entry.ref is not None:
                with open_reference(entry.ref) as src, open(partial, "wb") as out:
                    while chunk := src.read(CHUNK):
                        out.write(chunk)
            else:
                self._source.download_file(self._manifest, entry.path, partial)
            sha = hash_file(partial)[0]
            if sha != entry.sha256:
                raise DigestMismatchError(
                    f"{entry.path!r} of {self._manifest.project}/{self._manifest.name}:"
                    f"v{self._manifest.version} arrived with sha256 {sha}, not {entry.sha256}"
                )
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)

    def _read_only(self, *_: Any) -> None:
        raise UsageError(
            "artifacts read through Api(base_url=…) are read-only: change aliases, description "
            "or metadata where the artifact was logged, then sync"
        )

    set_aliases = reindex_collection = _read_only

    @property
    def paths(self) -> Any:
        self._read_only()


class RemoteArtifacts:
    """``ArtifactSource`` over a server's artifact routes."""

    def __init__(self, backend: RemoteBackend) -> None:
        self.backend = backend
        folder = tempfile.mkdtemp(prefix="localtrack-artifacts-")
        self.cache = Path(folder)
        self._cleanup = weakref.finalize(self, shutil.rmtree, folder, True)

    def open_api(self) -> Any:
        from . import Api

        return Api.over(self.backend)

    def _get(self, path: str) -> Any:
        return self.backend._send("GET", path).json()

    def _collection_path(self, project: str, name: str) -> str:
        return f"/projects/{quote(project, safe='/')}/artifacts/{quote(name, safe='')}"

    def download_file(self, manifest: Manifest, path: str, dest: Path) -> None:
        """Stream the file at `path` of a version into `dest` (not checked: the caller does)."""
        where = self._collection_path(manifest.project, manifest.name)
        query = urlencode({"path": path})
        self.backend._send("GET", f"{where}/v{manifest.version}/file?{query}", save_to=dest)

    def _version(self, project: str, name: str, label: str) -> Artifact:
        view = self._get(f"{self._collection_path(project, name)}/{quote(label, safe='')}")
        manifest = manifest_from_view(view)
        repo = RemoteArtifactRepository(self, manifest, view)
        return Artifact(manifest.name, manifest.type)._bind(repo, manifest)  # type: ignore[arg-type]

    def _projects(self) -> list[str]:
        """The server's projects ("project" or "entity/project": artifact collections live in
        the namespaces the server's project routes name)."""
        return sorted(str(p["name"]) for p in self._get("/projects").get("projects", []))

    def _collections(self, project: str) -> list[tuple[str, str]]:
        view = self._get(f"/projects/{quote(project, safe='/')}/artifacts")
        return [(c["name"], g["type"]) for g in view.get("types", []) for c in g["collections"]]

    def _holders(self, name: str) -> list[str]:
        return [p for p in self._projects() if name in dict(self._collections(p))]

    def artifact(self, spec: str, type: str | None) -> Artifact:
        parsed = parse_spec(spec)
        project = namespace_of_spec(parsed, spec, lambda: self._holders(parsed.name))
        art = self._version(project, parsed.name, parsed.label)
        if type is not None and art.type != type:
            raise UsageError(f"{art.qualified_name} has type {art.type!r}, not {type!r}")
        return art

    def artifacts(self, type: str | None, name: str | None, project: str | None) -> list[Any]:
        """As the local reader (artifacts/query.py): with `name`, every version of that
        collection, newest first; without, the latest version of each collection."""
        wanted = None if name is None else parse_spec(name.split(":")[0])
        out = []
        for proj in [project] if project else self._projects():
            if wanted is not None and not names_namespace(wanted, proj):
                continue
            for coll, kind in self._collections(proj):
                if (wanted is None or coll == wanted.name) and (type is None or kind == type):
                    if wanted is None:
                        out.append(self._version(proj, coll, "latest"))
                    else:
                        out += reversed(self.artifact_versions(f"{proj}/{coll}", type))
        return out

    def artifact_versions(self, name: str, type: str | None) -> list[Any]:
        parsed = parse_spec(name)
        if parsed.project is None:
            raise UsageError(f"name the collection as 'project/{parsed.name}'")
        project = namespace_of_spec(parsed, name, lambda: self._holders(parsed.name))
        view = self._get(self._collection_path(project, parsed.name))
        labels = sorted((v["version"] for v in view.get("versions", [])), key=lambda v: int(v[1:]))
        out = [self._version(project, parsed.name, v) for v in labels]
        return [a for a in out if type is None or a.type == type]

    def run_artifacts(self, run_id: str, used: bool) -> list[Any]:
        view = self._get(f"/runs/{quote(run_id, safe='')}/artifacts")
        found = view.get("inputs" if used else "outputs") or []
        return [self._version(v["project"], v["name"], v["version"]) for v in found]
