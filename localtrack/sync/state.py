"""What this store has sent where: one small JSON file per run, ``<root>/sync/runs/<run>.json``.

::

    {"hashes":  {"metrics/0000-000000001-000000004.parquet": [bytes, mtime_ns, "sha256"]},
     "targets": {"http://server:8080": {"digest": "…", "content_digest": "…",
                                        "files": {"run.json": "sha256", ...},
                                        "synced_at": 1.7e9}}}

``hashes`` is a cache, so a sealed shard is hashed once however often it is synced; ``targets``
records what each server acknowledged, so ``sync --status`` answers without the network. Losing
the file costs a re-hash and one negotiate round, never data.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..store.atomic import read_json, write_json_atomic

log = logging.getLogger(__name__)
SYNC_DIR = "sync"


def target_key(url: str) -> str:
    return url.rstrip("/")


@dataclass
class RunSyncState:
    """The sync state of one run: its hash cache and the acknowledgements of each target."""

    path: Path | None
    hashes: dict[str, list[Any]] = field(default_factory=dict)
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    dirty: bool = False

    @classmethod
    def load(cls, root: Path, run_id: str) -> RunSyncState:
        path = root / SYNC_DIR / "runs" / f"{run_id}.json"
        try:
            data = read_json(path)
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable sync state %s: %s", path, exc)
            return cls(path)
        if not isinstance(data, dict):
            return cls(path)
        return cls(path, dict(data.get("hashes") or {}), dict(data.get("targets") or {}))

    def cached_hash(self, name: str, size: int, mtime_ns: int) -> str | None:
        entry = self.hashes.get(name)
        if (
            isinstance(entry, list)
            and len(entry) == 3
            and entry[0] == size
            and entry[1] == mtime_ns
        ):
            return str(entry[2])
        return None

    def remember_hash(self, name: str, size: int, mtime_ns: int, sha256: str) -> None:
        if self.hashes.get(name) != [size, mtime_ns, sha256]:
            self.hashes[name] = [size, mtime_ns, sha256]
            self.dirty = True

    def forget_hashes(self) -> None:
        if self.hashes:
            self.hashes = {}
            self.dirty = True

    def keep_only(self, names: set[str]) -> None:
        """Drop cached hashes of files that are gone (compacted away)."""
        stale = [n for n in self.hashes if n not in names]
        for name in stale:
            del self.hashes[name]
        self.dirty = self.dirty or bool(stale)

    def acknowledged(self, url: str) -> dict[str, Any] | None:
        return self.targets.get(target_key(url))

    def acknowledge(
        self, url: str, digest: str, content_digest: str, files: dict[str, str]
    ) -> None:
        known = self.targets.get(target_key(url)) or {}
        if known.get("digest") == digest and known.get("files") == files:
            return  # already recorded: no rewrite (and no fsync) for a run that did not change
        self.targets[target_key(url)] = {
            "digest": digest,
            "content_digest": content_digest,
            "files": files,
            "synced_at": time.time(),
        }
        self.dirty = True

    def save(self) -> None:
        if not self.dirty or self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, {"hashes": self.hashes, "targets": self.targets})
        self.dirty = False
