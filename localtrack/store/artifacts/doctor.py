"""Artifact orphans and damage for `localtrack doctor`: partial files, abandoned incoming
blobs, damaged manifests, blobs a live version needs but the store lacks."""

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
    namespaces = Namespaces(StoreRoot(root), paths)
    for project, name in namespaces.names():
        try:
            state = load_state(namespaces.collection(project, name), project, name)
        except (OSError, ValueError, CorruptDataError) as exc:
            problems.append(f"artifact {project}/{name}: {exc}")
            continue
        for v, m in sorted(state.live.items()):
            missing = [
                p
                for p, e in m.entries.items()
                if e.ref is None and not paths.blob(e.sha256).exists()
            ]
            if missing:
                problems.append(
                    f"{project}/{name}:v{v} lacks the blobs of {len(missing)} files "
                    f"({', '.join(missing[:3])}); re-log it or delete the version"
                )
    return problems, actions
