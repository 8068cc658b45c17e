"""One committed version of a run as the read cache (``store/runcache.py``) holds it: its name
(``version_digest``), its record (``RunView``) and that record's file, ``view.json``."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import read_json
from .layout import RunPaths

VIEW_FILE = "view.json"


@dataclass
class RunView:
    """One committed version of a run, made in the cache."""

    digest: str
    run_id: str
    bytes: int
    missing: dict[str, str] = field(default_factory=dict)  # file name -> what is wrong
    made_at: float = 0.0
    files: dict[str, str] = field(default_factory=dict)  # file name -> sha256, held whole
    used_at: float = 0.0
    ranged: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {sha256, bytes}

    def paths(self, views: Path) -> RunPaths:
        return RunPaths(views / self.digest / self.run_id)


def version_digest(run_id: str, record: Mapping[str, Any]) -> str:
    """The name of `run_id`'s committed version `record` ({"files": …, "heartbeat_at": …})."""
    body = {"run": run_id, "files": record.get("files") or {}, "hb": record.get("heartbeat_at")}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]


def view_json(view: RunView) -> dict[str, Any]:
    """What ``view.json`` holds for `view`."""
    return {
        "run_id": view.run_id,
        "bytes": view.bytes,
        "missing": view.missing,
        "made_at": view.made_at,
        "files": view.files,
        "ranged": view.ranged,
    }


def read_view(where: Path) -> RunView | None:
    """The view made at `where` (its ``view.json``); None when it is not whole or not readable."""
    try:
        body = read_json(where / VIEW_FILE)
        return RunView(
            where.name,
            str(body["run_id"]),
            int(body["bytes"]),
            dict(body.get("missing") or {}),
            float(body.get("made_at") or 0.0),
            files=dict(body.get("files") or {}),
            ranged=dict(body.get("ranged") or {}),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def set_heartbeat(paths: RunPaths, heartbeat_at: Any) -> None:
    """Give the view's heartbeat file the committed heartbeat time (what readers judge a run's
    liveness by)."""
    if not isinstance(heartbeat_at, (int, float)):
        return
    with open(paths.heartbeat, "a"):
        pass
    os.utime(paths.heartbeat, (heartbeat_at, heartbeat_at))
