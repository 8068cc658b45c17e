"""Pure path and name rules of the artifact area (docs/format.md, "Artifacts")."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ...errors import UsageError

FORMAT_VERSION = 1
MANIFEST_FORMAT = "localtrack.artifact"
ARTIFACTS_DIR = "artifacts"
LATEST = "latest"

_NAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}", re.ASCII)
_VERSION_RE = re.compile(r"v(\d{1,9})", re.ASCII)
_MANIFEST_RE = re.compile(r"v(\d{1,9})\.json", re.ASCII)
_EVENT_RE = re.compile(r"(\d{9})\.json", re.ASCII)
_SHA_RE = re.compile(r"[0-9a-f]{64}", re.ASCII)


def check_name(value: str, what: str = "artifact name") -> str:
    """`value` if it is a valid project, artifact or collection name; UsageError otherwise."""
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value) or ".." in value:
        raise UsageError(
            f"{what} {value!r} is not allowed: use 1-128 characters from A-Z a-z 0-9 _ - . "
            "(no '/', no '..', not starting with '.')"
        )
    return value


def is_name(value: str) -> bool:
    return bool(_NAME_RE.fullmatch(value)) and ".." not in value


def split_namespace(namespace: str) -> tuple[str | None, str]:
    """(entity or None, project) of "entity/project" or "project"; UsageError otherwise."""
    if not isinstance(namespace, str) or namespace.count("/") > 1:
        raise UsageError(f"project {namespace!r} is not allowed: use 'project' or 'entity/project'")
    entity, _, project = namespace.rpartition("/")
    check_name(project, "project name")
    return (check_name(entity, "entity name") if entity else None), project


def join_namespace(entity: str | None, project: str) -> str:
    """ "entity/project", or just the project when there is no entity."""
    return f"{entity}/{project}" if entity else project


def check_namespace(namespace: str) -> str:
    """`namespace` if it is "project" or "entity/project" of valid names; UsageError otherwise."""
    split_namespace(namespace)
    return namespace


def folder_of(namespace: str) -> str:
    """The folder of a namespace under ``collections/`` ("team/p" -> "team%2Fp", "p" -> "p")."""
    return urllib.parse.quote(check_namespace(namespace), safe="")


def namespace_of_folder(folder: str) -> str | None:
    """The namespace a folder under ``collections/`` names, or None (not one of ours)."""
    namespace = urllib.parse.unquote(folder)
    if urllib.parse.quote(namespace, safe="") != folder:
        return None
    try:
        return check_namespace(namespace)
    except UsageError:
        return None


def check_alias(alias: str) -> str:
    """`alias` if a user may set it (not 'latest', not 'v<N>'); UsageError otherwise."""
    check_name(alias, "alias")
    if alias == LATEST or _VERSION_RE.fullmatch(alias):
        raise UsageError(
            f"alias {alias!r} is reserved: 'latest' always names the newest version and "
            "'v<N>' names version N"
        )
    return alias


def parse_version(label: str) -> int | None:
    """N for 'v<N>', else None."""
    match = _VERSION_RE.fullmatch(label)
    return int(match.group(1)) if match else None


def is_sha256(value: object) -> bool:
    return isinstance(value, str) and bool(_SHA_RE.fullmatch(value))


def _is_normal_entry_path(path: object) -> bool:
    """Whether `path` is already a normalised relative POSIX path (no '', '.' or '..' parts)."""
    if not isinstance(path, str) or not path or "\\" in path or "\x00" in path:
        return False
    return all(part and part != "." and part != ".." for part in path.split("/"))


def check_entry_path(path: str) -> str:
    """A normalised relative POSIX path for an entry; UsageError for '..', absolute or empty."""
    if _is_normal_entry_path(path):
        return path  # the common case, checked without building a PurePosixPath
    if not isinstance(path, str) or not path or "\\" in path or "\x00" in path:
        raise UsageError(f"entry path {path!r} is not a relative POSIX path")
    pure = PurePosixPath(path)
    parts = [p for p in pure.parts if p not in ("", ".")]
    if pure.is_absolute() or not parts or any(p == ".." for p in parts):
        raise UsageError(
            f"entry path {path!r} must be relative and stay inside the artifact (no '..')"
        )
    return "/".join(parts)


@dataclass(frozen=True)
class CollectionPaths:
    """Every path of one collection (`<project>/<name>`)."""

    dir: Path

    def manifest(self, version: int) -> Path:
        return self.dir / f"v{version}.json"

    @property
    def events(self) -> Path:
        return self.dir / "events"

    def event(self, seq: int) -> Path:
        return self.events / f"{seq:09d}.json"

    @property
    def uses(self) -> Path:
        return self.dir / "uses"

    def use(self, run_id: str, version: int) -> Path:
        return self.uses / f"{run_id}.v{version}.json"

    def versions_on_disk(self) -> list[int]:
        """Every published version number (tombstones included), ascending."""
        try:
            names = [p.name for p in self.dir.iterdir()]
        except FileNotFoundError:
            return []
        found = (_MANIFEST_RE.fullmatch(n) for n in names)
        return sorted(int(m.group(1)) for m in found if m)

    def event_seqs(self) -> list[int]:
        try:
            names = [p.name for p in self.events.iterdir()]
        except FileNotFoundError:
            return []
        found = (_EVENT_RE.fullmatch(n) for n in names)
        return sorted(int(m.group(1)) for m in found if m)


@dataclass(frozen=True)
class ArtifactPaths:
    """Every path of a store's artifact area."""

    dir: Path

    @classmethod
    def of_root(cls, root: Path) -> ArtifactPaths:
        return cls(Path(root) / ARTIFACTS_DIR)

    @property
    def gc_lock(self) -> Path:
        return self.dir / "gc.lock"

    @property
    def blobs(self) -> Path:
        return self.dir / "blobs"

    def blob(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise UsageError(f"{sha256!r} is not a sha256 hex digest")
        return self.blobs / sha256[:2] / sha256

    @property
    def packs(self) -> Path:
        return self.dir / "packs"

    @property
    def pack_index(self) -> Path:
        return self.packs / "index.sqlite"

    @property
    def extracted(self) -> Path:
        """The extraction cache: packed blobs as plain files, for hard-linked downloads."""
        return self.dir / "extracted"

    @property
    def incoming(self) -> Path:
        return self.dir / "incoming"

    @property
    def collections(self) -> Path:
        return self.dir / "collections"

    def collection(self, namespace: str, name: str) -> CollectionPaths:
        """The folder of `namespace`/`name` in the current layout (a store's older folders
        are found through ``namespace.Namespaces``)."""
        check_name(name)
        return CollectionPaths(self.collections / folder_of(namespace) / name)
