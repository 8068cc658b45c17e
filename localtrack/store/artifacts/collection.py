"""One collection (`<project>/<name>`): publishing versions, events, and the replayed state.

Version numbers are claimed by publishing ``v<N>.json`` exclusively (a hard link that fails if the
name exists), trying N+1 on a clash: two processes logging one name at once both land, numbered
without a gap or a collision. Events (alias moves, edits, deletions) are claimed the same way in
sequence, so every alias move is recorded with the state it moved from.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ...errors import CorruptDataError, UsageError
from ..atomic import publishing, write_json_atomic
from .layout import FORMAT_VERSION, LATEST, CollectionPaths, check_alias
from .manifest import Entry, Manifest, PreparedEntries, prepare_entries, read_manifest

_cache: dict[tuple[str, int, int, int], Manifest] = {}
_CACHE_MAX = 64


def who() -> str:
    """user@host of this process, recorded with every event."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def load_manifest(paths: CollectionPaths, version: int) -> Manifest:
    """Version `version`'s manifest (cached by file identity: manifests are immutable)."""
    path = paths.manifest(version)
    key = _cache_key(path)
    found = _cache.get(key)
    if found is None:
        found = read_manifest(path)
        _remember(key, found)
    return found


def _cache_key(path: Path) -> tuple[str, int, int, int]:
    st = path.stat()
    return (str(path), st.st_ino, st.st_mtime_ns, st.st_size)


def _remember(key: tuple[str, int, int, int], manifest: Manifest) -> None:
    if len(_cache) >= _CACHE_MAX:
        _cache.pop(next(iter(_cache)))
    _cache[key] = manifest


@dataclass(frozen=True)
class AliasMove:
    seq: int
    alias: str
    from_version: int | None
    to_version: int | None
    who: str
    at: float
    run_id: str | None


@dataclass(frozen=True)
class Use:
    run_id: str
    run_project: str | None
    version: int
    at: float


@dataclass
class CollectionState:
    """Everything known about a collection, replayed from its files."""

    project: str
    name: str
    versions: dict[int, Manifest] = field(default_factory=dict)  # live and tombstones
    aliases: dict[str, int] = field(default_factory=dict)  # user aliases (not 'latest')
    moves: list[AliasMove] = field(default_factory=list)
    uses: list[Use] = field(default_factory=list)
    last_seq: int = -1

    @property
    def live(self) -> dict[int, Manifest]:
        return {v: m for v, m in self.versions.items() if not m.deleted}

    @property
    def latest(self) -> int | None:
        live = self.live
        return max(live) if live else None

    def aliases_of(self, version: int) -> list[str]:
        names = sorted(a for a, v in self.aliases.items() if v == version)
        return ([LATEST] if version == self.latest else []) + names

    def all_aliases(self) -> dict[str, int]:
        out = dict(self.aliases)
        if self.latest is not None:
            out[LATEST] = self.latest
        return out

    def resolve(self, label: str) -> Manifest:
        """The live version named by 'v<N>', 'latest' or an alias; UsageError otherwise."""
        from .layout import parse_version

        version = parse_version(label)
        if version is None:
            version = self.latest if label == LATEST else self.aliases.get(label)
        manifest = self.live.get(version) if version is not None else None
        if manifest is None:
            have = ", ".join(f"v{v}" for v in sorted(self.live)) or "none"
            raise UsageError(
                f"artifact {self.project}/{self.name} has no version {label!r} "
                f"(versions: {have}; aliases: {', '.join(sorted(self.all_aliases())) or 'none'})"
            )
        return manifest


def _read_json(path: Any) -> Any:
    with open(path, "rb") as f:
        return json.load(f)


def load_state(paths: CollectionPaths, project: str, name: str) -> CollectionState:
    """Replay a collection from its files: manifests, then events in order, then uses."""
    versions: dict[int, Manifest] = {}
    for v in paths.versions_on_disk():
        try:
            versions[v] = load_manifest(paths, v)
        except FileNotFoundError:
            continue
    events: list[tuple[int, Any]] = []
    for seq in paths.event_seqs():
        try:
            events.append((seq, _read_json(paths.event(seq))))
        except (OSError, ValueError) as exc:
            raise CorruptDataError(f"artifact event {paths.event(seq)} is damaged: {exc}") from exc
    uses: list[Any] = []
    if paths.uses.is_dir():
        for p in sorted(paths.uses.iterdir()):
            if p.name.startswith(".") or not p.name.endswith(".json"):
                continue
            try:
                uses.append(_read_json(p))
            except (OSError, ValueError):
                continue
    return replay_state(project, name, versions, events, uses)


def replay_state(
    project: str,
    name: str,
    versions: Mapping[int, Manifest],
    events: Iterable[tuple[int, Any]],
    uses: Iterable[Any],
) -> CollectionState:
    """A collection's state from its documents, wherever they are kept (files, or PostgreSQL on
    a shared-nothing server): manifests, then events in `seq` order, then uses."""
    state = CollectionState(project, name)
    for v, m in sorted(versions.items()):
        # a manifest names its project alone: the namespace is the collection's
        state.versions[v] = m if m.project == project else replace(m, project=project)
    edits: dict[int, tuple[Any, Any]] = {}
    for seq, ev in sorted(events, key=lambda item: item[0]):
        state.last_seq = seq
        op = ev.get("op") if isinstance(ev, dict) else None
        if op == "alias":
            alias, to = ev.get("alias"), ev.get("to")
            state.aliases.pop(alias, None)
            if to is not None:
                state.aliases[alias] = int(to)
            state.moves.append(
                AliasMove(
                    seq,
                    alias,
                    ev.get("from"),
                    to,
                    ev.get("who", ""),
                    ev.get("at", 0.0),
                    ev.get("run_id"),
                )
            )
        elif op == "edit":
            edits[int(ev["version"])] = (ev.get("description"), ev.get("metadata") or {})
    for v, (description, metadata) in edits.items():
        if v in state.versions:
            state.versions[v] = replace(
                state.versions[v], description=description, metadata=metadata
            )
    live = state.live
    state.aliases = {a: v for a, v in state.aliases.items() if v in live}
    for u in uses:
        try:
            state.uses.append(Use(u["run_id"], u.get("project"), int(u["version"]), float(u["at"])))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return state


def _claim(path_for: Any, start: int, doc_for: Any) -> int:
    """Publish doc_for(n) at path_for(n) for the first n >= start not taken; returns n."""
    n = start
    while True:
        target = path_for(n)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with publishing(target, exclusive=True) as f:
                f.write(doc_for(n))
            return n
        except FileExistsError:
            n += 1


def _as_read_back(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` as reading it back from JSON gives it (tuples become lists, keys strings)."""
    return json.loads(json.dumps(doc, allow_nan=False))


def publish_version(
    paths: CollectionPaths,
    project: str,
    name: str,
    type_: str,
    entries: Mapping[str, Entry] | PreparedEntries,
    *,
    description: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    linked_from: Mapping[str, Any] | None = None,
) -> tuple[Manifest, bool]:
    """Publish a new version, or find the live one with the same digest (created=False)."""
    prepared = entries if isinstance(entries, PreparedEntries) else prepare_entries(entries)
    state = load_state(paths, project, name)
    for m in state.live.values():
        if m.digest == prepared.digest and (linked_from is None or m.linked_from == linked_from):
            return m, False
    base = Manifest(
        project=project,
        name=name,
        version=0,
        type=type_,
        digest=prepared.digest,
        entries=prepared.entries,
        created_at=time.time(),
        run_id=run_id,
        description=description,
        metadata=_as_read_back(dict(metadata or {})),
        linked_from=_as_read_back(dict(linked_from)) if linked_from else None,
    )
    start = max(paths.versions_on_disk(), default=-1) + 1
    version = _claim(paths.manifest, start, lambda n: replace(base, version=n).to_bytes(prepared))
    manifest = replace(base, version=version)
    # Manifests are immutable: the index update that follows need not parse this one back.
    _remember(_cache_key(paths.manifest(version)), manifest)
    return manifest, True


def _event(paths: CollectionPaths, make: Any) -> int:
    """Append an event: make(state) -> doc (or None to skip) is re-run if a clash forces retry."""
    while True:
        seqs = paths.event_seqs()
        seq = (seqs[-1] + 1) if seqs else 0
        doc = make()
        if doc is None:
            return -1
        doc = {"format_version": FORMAT_VERSION, "seq": seq, "at": time.time(), "who": who(), **doc}
        target = paths.event(seq)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with publishing(target, exclusive=True) as f:
                f.write(json.dumps(doc, sort_keys=True).encode() + b"\n")
            return seq
        except FileExistsError:
            continue


def move_aliases(
    paths: CollectionPaths,
    project: str,
    name: str,
    aliases: Iterable[str],
    version: int | None,
    run_id: str | None = None,
) -> None:
    """Point each alias at `version` (None removes it); every move is an event."""
    for alias in aliases:
        if alias == LATEST:
            continue  # derived: always the newest live version
        check_alias(alias)

        def make(alias: str = alias) -> dict[str, Any] | None:
            state = load_state(paths, project, name)
            if version is not None and version not in state.live:
                raise UsageError(
                    f"cannot set alias {alias!r}: {project}/{name} has no version v{version}"
                )
            current = state.aliases.get(alias)
            if current == version:
                return None
            return {"op": "alias", "alias": alias, "from": current, "to": version, "run_id": run_id}

        _event(paths, make)


def edit_version(
    paths: CollectionPaths, version: int, description: str | None, metadata: Mapping[str, Any]
) -> None:
    json.dumps(metadata, allow_nan=False)  # raises on what JSON cannot hold
    _event(
        paths,
        lambda: {
            "op": "edit",
            "version": version,
            "description": description,
            "metadata": dict(metadata),
        },
    )


def delete_version(
    paths: CollectionPaths, project: str, name: str, version: int, delete_aliases: bool
) -> None:
    """Replace v<N>.json by its tombstone (the number is never reused)."""
    state = load_state(paths, project, name)
    manifest = state.live.get(version)
    if manifest is None:
        raise UsageError(f"{project}/{name} has no version v{version} to delete")
    held = sorted(a for a, v in state.aliases.items() if v == version)
    if held and not delete_aliases:
        raise UsageError(
            f"{project}/{name}:v{version} has aliases {held}; remove them first or pass "
            "delete_aliases=True"
        )
    move_aliases(paths, project, name, held, None)
    tomb = replace(manifest, entries={}, deleted_at=time.time())
    write_json_atomic(paths.manifest(version), tomb.as_json())
    _event(paths, lambda: {"op": "delete", "version": version})


def record_use(paths: CollectionPaths, run_id: str, run_project: str | None, version: int) -> None:
    doc = {
        "format_version": FORMAT_VERSION,
        "run_id": run_id,
        "project": run_project,
        "version": version,
        "at": time.time(),
    }
    paths.uses.mkdir(parents=True, exist_ok=True)
    write_json_atomic(paths.use(run_id, version), doc)
