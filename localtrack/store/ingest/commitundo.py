"""What a commit is about to change, kept aside until it is done, so a failed commit is undone.

::

    <root>/ingest/undo/<run>+<n>            a file of the run that the commit replaces or removes
    <root>/ingest/undo/<run>+state.json     written last: which names existed, the old commit
                                            record and heartbeat, which folders were there

("+" is no run-id character, so one run's files never match another's prefix; no folder is made
per commit, so the UI's file watcher does not churn through watches.)

Before a commit places anything, ``save`` hard-links (or copies) every file of the run it will
replace or remove, and only then writes ``state.json``; so whenever ``state.json`` exists the
original run directory can be put back, and whenever it does not, nothing was changed yet.
``restore`` puts it back: placed files go, replaced and removed ones return, and folders the
commit created are removed again when empty. ``discard`` drops the backups once the commit is done.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..atomic import fsync_dir, read_json, write_json_atomic
from ..layout import METRICS_DIR, RunPaths
from .manifest_types import check_file_name

log = logging.getLogger(__name__)

_STATE = "state.json"
_SEPARATOR = "+"  # not a run-id character
_FOLDERS = ("media/blobs", "media", "files", METRICS_DIR, "")  # deepest first; "" is the run


class CommitUndo:
    """The backups of one run's commit in progress."""

    def __init__(self, undo_root: Path, run: RunPaths, record: Path) -> None:
        self.dir = undo_root
        self.prefix = run.run_id + _SEPARATOR
        self.state = undo_root / (self.prefix + _STATE)
        self.run = run
        self.record = record

    def ready(self) -> bool:
        """Whether every backup is in place (``state.json`` exists)."""
        return self.state.is_file()

    def _backup(self, key: str) -> Path:
        return self.dir / (self.prefix + key)

    def save(self, plan: dict[str, Any]) -> None:
        """Keep aside everything `plan` will change, then write ``state.json``."""
        self.discard()
        self.dir.mkdir(parents=True, exist_ok=True)
        names = sorted({item["name"] for item in plan["place"]} | set(plan["remove"]))
        existed: dict[str, str] = {}
        for i, name in enumerate(names):
            check_file_name(name)
            source = self.run.dir / name
            if source.is_file() and not source.is_symlink():
                _keep(source, self._backup(str(i)))
                existed[name] = str(i)
        fsync_dir(self.dir)
        state = {
            "names": names,
            "existed": existed,
            "folders": [f for f in _FOLDERS if (self.run.dir / f).is_dir()],
            "heartbeat": _mtime(self.run.heartbeat),
            "record": _read_or_none(self.record),
        }
        write_json_atomic(self.state, state)

    def restore(self) -> bool:
        """Put the run directory back as it was before the commit; False if nothing changed."""
        try:
            state = read_json(self.state)
        except FileNotFoundError:
            self.discard()
            return False
        existed: dict[str, str] = state["existed"]
        for name in state["names"]:
            check_file_name(name)
            target = self.run.dir / name
            if name in existed:
                os.replace(self._backup(existed[name]), target)
            else:
                target.unlink(missing_ok=True)
        self._restore_heartbeat(state["heartbeat"])
        if state["record"] is None:
            self.record.unlink(missing_ok=True)
        else:
            write_json_atomic(self.record, state["record"])
        for folder in _FOLDERS:
            if folder not in state["folders"]:
                with contextlib.suppress(OSError):  # not empty: something else lives there
                    (self.run.dir / folder).rmdir()
        self.discard()
        return True

    def discard(self) -> None:
        """Drop this run's backups and ``state.json``."""
        discard_where(self.dir, lambda run_id: run_id == self.run.run_id)

    def _restore_heartbeat(self, mtime: float | None) -> None:
        if mtime is None:
            self.run.heartbeat.unlink(missing_ok=True)
        elif self.run.heartbeat.is_file():
            os.utime(self.run.heartbeat, (mtime, mtime))


def discard_where(undo_root: Path, drop: Callable[[str], bool]) -> None:
    """Remove the backups of every run for which `drop(run_id)` is true."""
    try:
        names = os.listdir(undo_root)
    except FileNotFoundError:
        return
    for name in names:
        run_id, sep, _ = name.partition(_SEPARATOR)
        if sep and drop(run_id):
            (undo_root / name).unlink(missing_ok=True)


def _keep(source: Path, backup: Path) -> None:
    try:
        os.link(source, backup)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copy2(source, backup)


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


def _read_or_none(path: Path) -> Any:
    try:
        return read_json(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("the commit record %s is unreadable (%s); not kept for undo", path, exc)
        return None
