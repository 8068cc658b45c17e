"""Artifact orphans and damage for `localtrack doctor`: partial files and packs, packs the pack
index does not know (or knows but are gone), damaged manifests, blobs a live version needs but
the store lacks."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from ...errors import CorruptDataError
from ..layout import is_partial_name
from ..root import StoreRoot
from .blobs import GC_GRACE_S, BlobStore
from .collection import load_state
from .layout import ArtifactPaths
from .namespace import Namespaces
from .packs import read_members, sealed_packs

REPORT_ID = "artifacts"


def _writer_active(paths: ArtifactPaths) -> bool:
    """Whether some writer holds gc.lock (shared) right now."""
    if not paths.gc_lock.exists():
        return False
    with open(paths.gc_lock, "a+b") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return False


def check_artifacts(root: Path, repair: bool) -> tuple[list[str], list[str]]:
    """(problems, actions) for the artifact area of the store at `root`."""
    paths = ArtifactPaths.of_root(root)
    problems: list[str] = []
    actions: list[str] = []
    if not paths.dir.is_dir():
        return problems, actions
    now = time.time()
    busy = _writer_active(paths)
    orphans: list[Path] = []
    for p in BlobStore(paths).incoming_files():
        with contextlib.suppress(FileNotFoundError):
            if not busy or now - p.stat().st_mtime > GC_GRACE_S:
                orphans.append(p)
    for dirpath, _dirs, files in os.walk(paths.collections):
        orphans += [Path(dirpath) / f for f in files if is_partial_name(f)]
    for p in orphans:
        problems.append(f"orphan partial file {p.relative_to(root)} (an interrupted log)")
        if repair:
            p.unlink(missing_ok=True)
            actions.append(f"removed {p.relative_to(root)}")
    blobs = BlobStore(paths)
    if not busy:  # a writer between sealing a pack and indexing it is not a problem
        _check_packs(blobs, repair, problems, actions)
    namespaces = Namespaces(StoreRoot(root), paths)
    for project, name in namespaces.names():
        try:
            state = load_state(namespaces.collection(project, name), project, name)
        except (OSError, ValueError, CorruptDataError) as exc:
            problems.append(f"artifact {project}/{name}: {exc}")
            continue
        for v, m in sorted(state.live.items()):
            missing = [p for p, e in m.entries.items() if e.ref is None and not blobs.has(e.sha256)]
            if missing:
                problems.append(
                    f"{project}/{name}:v{v} lacks the blobs of {len(missing)} files "
                    f"({', '.join(missing[:3])}); re-log it or delete the version"
                )
    blobs.index.close()
    return problems, actions


def _check_packs(blobs: BlobStore, repair: bool, problems: list[str], actions: list[str]) -> None:
    """Sealed packs the index lacks (a crash between sealing and indexing), index rows of packs
    that are gone."""
    on_disk = set(sealed_packs(blobs.paths.packs))
    known = blobs.index.packs()
    for name in sorted(on_disk - known):
        members = read_members(blobs.paths.packs / name)
        if all(blobs.index.find(sha) is not None for sha, _o, _s in members):
            continue  # a duplicate: gc removes it
        problems.append(
            f"pack {name} is not in the pack index (a log interrupted after sealing it)"
        )
        if repair:
            blobs.index.add(name, members)
            actions.append(f"indexed pack {name} ({len(members)} blobs)")
    for name in sorted(known - on_disk):
        problems.append(f"the pack index names pack {name}, which is gone")
        if repair:
            blobs.index.drop(name)
            actions.append(f"dropped pack {name} from the pack index")
