"""Artifact: a draft you add files to, which becomes a logged, immutable version.

A draft records where each entry's bytes come from (nothing is copied until it is logged); a
logged artifact reads its manifest and aliases from the store. Logging itself is synchronous,
so ``wait()`` returns at once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from ..errors import DigestMismatchError, UsageError
from ..store.artifacts.layout import check_entry_path, check_name, split_namespace
from ..store.artifacts.manifest import Entry, Manifest
from ..store.artifacts.references import hash_reference, list_reference
from ..store.artifacts.repository import (
    ArtifactRepository,
    Source,
    verify_folder,
    verify_references,
)


def _walk_files(top: str, prefix: str) -> Iterator[tuple[str, str]]:
    """(entry path, local path) of every file under `top`, as ``os.walk`` lists them (links to
    files count, links to folders are not followed) but from each entry's type alone: no
    ``lstat`` per folder."""
    todo = [(top, prefix)]
    while todo:
        folder, base = todo.pop()
        with os.scandir(folder) as entries:
            found = sorted(entries, key=lambda e: e.name)
        subdirs = []
        for entry in found:
            if entry.is_dir():
                if not entry.is_symlink():
                    subdirs.append((entry.path, f"{base}{entry.name}/"))
            else:
                yield base + entry.name, entry.path
        todo.extend(reversed(subdirs))


class Artifact:
    """``localtrack.Artifact(name, type, description=None, metadata=None)``, as in W&B."""

    def __init__(
        self,
        name: str,
        type: str,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self._base_name = check_name(name)
        if not isinstance(type, str) or not type:
            raise UsageError(f"artifact type must be a non-empty string, not {type!r}")
        self.type = type
        self.description = description
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._sources: dict[str, Source] = {}
        self._staging: Path | None = None
        self._repo: ArtifactRepository | None = None
        self._manifest: Manifest | None = None
        self.aliases: list[str] = []
        self._saved_aliases: list[str] = []

    # -- identity ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """'name' for a draft, 'name:v<N>' once logged (as W&B)."""
        m = self._manifest
        return self._base_name if m is None else f"{self._base_name}:v{m.version}"

    @property
    def namespace(self) -> str | None:
        """ "entity/project" (the project alone without an entity) of a logged version."""
        return None if self._manifest is None else self._manifest.project

    @property
    def project(self) -> str | None:
        """The project of a logged version (without its entity, as W&B)."""
        return None if self._manifest is None else split_namespace(self._manifest.project)[1]

    @property
    def entity(self) -> str | None:
        return None if self._manifest is None else split_namespace(self._manifest.project)[0]

    @property
    def version(self) -> str | None:
        return None if self._manifest is None else f"v{self._manifest.version}"

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}/{self.name}" if self._manifest else self.name

    @property
    def digest(self) -> str | None:
        return None if self._manifest is None else self._manifest.digest

    @property
    def size(self) -> int:
        return self._logged().size if self._manifest else 0

    @property
    def file_count(self) -> int:
        return self._manifest.file_count if self._manifest else len(self._sources)

    @property
    def created_at(self) -> float | None:
        return None if self._manifest is None else self._manifest.created_at

    @property
    def linked_from(self) -> Mapping[str, Any] | None:
        return None if self._manifest is None else self._manifest.linked_from

    def __repr__(self) -> str:
        return f"<localtrack.Artifact {self.qualified_name} type={self.type!r}>"

    def _logged(self) -> Manifest:
        if self._manifest is None:
            raise UsageError(
                f"artifact {self._base_name!r} is a draft: log it first (run.log_artifact)"
            )
        return self._manifest

    def _draft(self) -> None:
        if self._manifest is not None:
            raise UsageError(
                f"{self.qualified_name} is logged and immutable; use artifact.new_draft() to "
                "make the next version"
            )

    def _bind(self, repo: ArtifactRepository, manifest: Manifest) -> Artifact:
        state = repo.state(manifest.project, manifest.name)
        self._repo, self._manifest = repo, manifest
        self.type = manifest.type
        self.description = manifest.description
        self.metadata = dict(manifest.metadata)
        self.aliases = state.aliases_of(manifest.version)
        self._saved_aliases = list(self.aliases)
        self._sources = {}
        return self

    # -- adding (drafts) ---------------------------------------------------------------------

    def _put(self, path: str, source: Source) -> None:
        self._sources[check_entry_path(path)] = source

    def add_file(self, local_path: str | os.PathLike[str], name: str | None = None) -> str:
        """Add one file (stored at log time); returns its path in the artifact."""
        self._draft()
        src = Path(local_path)
        if not src.is_file():
            what = "is not a file" if src.exists() else "does not exist"
            raise UsageError(f"cannot add {src}: it {what}")
        if not os.access(src, os.R_OK):
            raise UsageError(f"cannot add {src}: it is not readable")
        path = check_entry_path(name or src.name)
        self._put(path, Source(path, local=src.absolute()))
        return path

    def add_dir(self, local_path: str | os.PathLike[str], name: str | None = None) -> None:
        """Add every file under a folder (under `name`/ in the artifact, if given)."""
        self._draft()
        root = Path(local_path)
        if not root.is_dir():
            raise UsageError(f"cannot add {root}: it is not a folder")
        prefix = check_entry_path(name) + "/" if name else ""
        top = os.path.abspath(root)
        # Strings, not Path objects, and no per-file access check: a folder can hold 100,000
        # files. An unreadable one is reported, by name, when the artifact is logged.
        sources = self._sources
        for rel, local in _walk_files(top, prefix):
            sources[rel] = Source(rel, local=local)

    def add_reference(
        self, uri: str, name: str | None = None, checksum: bool = True, max_objects: int = 10**7
    ) -> None:
        """Name files by URI (file://, s3://, …): their size and sha256 are recorded, not bytes.

        `checksum` is accepted for W&B compatibility; localtrack always hashes (verify needs it).
        """
        self._draft()
        files = list_reference(uri)
        if len(files) > max_objects:
            raise UsageError(
                f"reference {uri} names {len(files)} files (max_objects={max_objects})"
            )
        single = len(files) == 1 and not uri.rstrip("/").endswith("/")
        for rel, file_uri in files:
            path = check_entry_path((name or rel) if single else (f"{name}/{rel}" if name else rel))
            sha, size = hash_reference(file_uri)
            self._put(path, Source(path, entry=Entry(path, sha, size, file_uri)))

    def _stage_dir(self) -> Path:
        if self._staging is None:
            self._staging = Path(tempfile.mkdtemp(prefix="localtrack-artifact-"))
            weakref.finalize(self, shutil.rmtree, self._staging, True)
        return self._staging

    @contextmanager
    def new_file(
        self, name: str, mode: str = "w", encoding: str | None = None
    ) -> Iterator[IO[Any]]:
        """Write a new file into the artifact: ``with art.new_file("a.txt") as f: f.write(…)``."""
        self._draft()
        path = check_entry_path(name)
        target = self._stage_dir() / path
        target.parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {} if "b" in mode else {"encoding": encoding or "utf-8"}
        with open(target, mode, **kwargs) as f:
            yield f
        self.add_file(target, path)

    def add(self, obj: Any, name: str) -> str:
        """Add a localtrack.Table (as <name>.parquet) or Image (as <name>.png)."""
        self._draft()
        if getattr(obj, "error", None):
            raise UsageError(f"cannot add {name!r}: {obj.error}")
        if not hasattr(obj, "encode"):
            raise UsageError(f"add() takes a localtrack.Table or Image, not {type(obj).__name__}")
        _record, blobs = obj.encode()
        main = None
        for i, (sha, ext, data) in enumerate(blobs):
            path = check_entry_path(f"{name}.{ext}" if i == 0 else f"media/{sha}.{ext}")
            with self.new_file(path, "wb") as f:
                f.write(data)
            main = main or path
        return main or name

    def remove(self, name: str) -> None:
        """Remove an entry (or every entry under a folder name)."""
        self._draft()
        path = check_entry_path(name)
        gone = [p for p in self._sources if p == path or p.startswith(path + "/")]
        if not gone:
            raise UsageError(f"artifact {self._base_name!r} has no entry {name!r}")
        for p in gone:
            del self._sources[p]

    # -- entries -----------------------------------------------------------------------------

    def entries(self) -> dict[str, Entry]:
        """Every entry of a logged version: path → Entry(path, sha256, size, ref)."""
        return dict(self._logged().entries)

    def get_entry(self, name: str) -> Entry:
        path = check_entry_path(name)
        if self._manifest is None:
            src = self._sources.get(path)
            if src is None:
                raise UsageError(f"artifact {self._base_name!r} has no entry {name!r}")
            return src.entry or Entry(path, "", os.stat(src.local or "").st_size)
        entry = self._manifest.entries.get(path)
        if entry is None:
            raise UsageError(f"{self.qualified_name} has no entry {name!r}")
        return entry

    def get(self, name: str) -> Any:
        """The Table (from <name>.parquet) or Image (from <name>.png) added under `name`."""
        entries = self._logged().entries
        for path in (name, f"{name}.parquet", f"{name}.png"):
            if path in entries:
                assert self._repo is not None
                with self._repo.open_blob(entries[path]) as f:
                    blob = f.read()
                if path.endswith(".parquet"):
                    import pyarrow as pa
                    import pyarrow.parquet as pq

                    from ..media.types import Table

                    t = pq.read_table(pa.BufferReader(blob))
                    return Table(
                        columns=t.column_names, data=[list(r.values()) for r in t.to_pylist()]
                    )
                if path.endswith(".png"):
                    from ..media.types import Image

                    return Image(blob)
                return blob
        raise UsageError(f"{self.qualified_name} has no entry {name!r}")

    # -- files -------------------------------------------------------------------------------

    def _default_root(self) -> Path:
        return Path("artifacts") / self.name

    def download(self, root: str | os.PathLike[str] | None = None, **_: Any) -> str:
        """Materialise every file under `root` (default ./artifacts/<name>:v<N>), each hash
        verified; hard links from the store where possible. Returns the folder."""
        m = self._logged()
        assert self._repo is not None
        target = Path(root) if root is not None else self._default_root()
        return str(self._repo.materialize(m, target))

    def file(self, root: str | os.PathLike[str] | None = None) -> str:
        """Download a one-file artifact and return that file's path."""
        m = self._logged()
        if m.file_count != 1:
            raise UsageError(f"{self.qualified_name} has {m.file_count} files; use download()")
        folder = self.download(root)
        return str(Path(folder) / next(iter(m.entries)))

    def verify(self, root: str | os.PathLike[str] | None = None) -> None:
        """Check a downloaded folder against the manifest, and every reference against the
        object it names (re-read and hashed); DigestMismatchError names every changed, missing
        or extra file."""
        m = self._logged()
        problems = verify_folder(m, Path(root) if root is not None else self._default_root())
        problems += verify_references(m)
        if problems:
            err = DigestMismatchError(
                f"{self.qualified_name} does not match: " + "; ".join(problems)
            )
            err.problems = problems  # type: ignore[attr-defined]
            raise err

    def wait(self, timeout: float | None = None) -> Artifact:
        """Logging is synchronous: returns at once."""
        self._logged()
        return self

    def is_draft(self) -> bool:
        return self._manifest is None

    # -- lineage, editing, deleting ----------------------------------------------------------

    def _api(self) -> Any:
        """An Api over where this version was read from: its store, or (``open_api``) the
        server an ``Api(base_url=…)`` read it from."""
        from ..api import Api

        assert self._repo is not None
        open_api = getattr(self._repo, "open_api", None)
        return open_api() if open_api is not None else Api(self._repo.store.root)

    def logged_by(self) -> Any:
        """The ApiRun that logged this version, or None."""
        m = self._logged()
        if m.run_id is None:
            return None
        return self._api().run(m.run_id)

    def used_by(self) -> list[Any]:
        """ApiRuns that used this version."""
        m = self._logged()
        assert self._repo is not None
        api = self._api()
        uses = self._repo.state(m.project, m.name).uses
        return [api.run(u.run_id) for u in uses if u.version == m.version]

    def save(self) -> None:
        """Persist edited aliases, description and metadata of a logged version."""
        from ..store.artifacts.collection import edit_version

        m = self._logged()
        assert self._repo is not None
        repo = self._repo
        if (self.description, self.metadata) != (m.description, dict(m.metadata)):
            paths = repo.namespaces.for_writing(m.project, m.name)
            edit_version(paths, m.version, self.description, self.metadata)
        if sorted(self.aliases) != sorted(self._saved_aliases):
            repo.set_aliases(m.project, m.name, m.version, self.aliases)
        else:
            repo.reindex_collection(m.project, m.name)
        self._bind(repo, repo.state(m.project, m.name).versions[m.version])

    def delete(self, delete_aliases: bool = False) -> None:
        """Delete this version (its number is never reused; blobs go at the next gc)."""
        from ..store.artifacts.collection import delete_version

        m = self._logged()
        assert self._repo is not None
        delete_version(
            self._repo.namespaces.for_writing(m.project, m.name),
            m.project,
            m.name,
            m.version,
            delete_aliases,
        )
        self._repo.reindex_collection(m.project, m.name)

    def new_draft(self) -> Artifact:
        """A draft holding this version's entries (add or remove a few, then log it)."""
        m = self._logged()
        draft = Artifact(self._base_name, m.type, m.description, m.metadata)
        for path, e in m.entries.items():
            draft._sources[path] = Source(path, entry=e)
        return draft
