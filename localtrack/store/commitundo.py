"""What a commit is about to change, kept aside until it is done, so a failed commit is undone.

::

    <root>/ingest/undo/<run>/files/<n>      a file of the run that the commit replaces or removes
    <root>/ingest/undo/<run>/state.json     written last: which names existed, the old commit
                                            record and heartbeat, which folders were there

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
from pathlib import Path
from typing import Any

from .atomic import fsync_dir, read_json, write_json_atomic
from .layout import METRICS_DIR, RunPaths
from .runmanifest import check_file_name

log = logging.getLogger(__name__)

_STATE = "state.json"
_FOLDERS = ("media/blobs", "media", "files", METRICS_DIR, "")  # deepest first; "" is the run


class CommitUndo:
    """The backups of one run's commit in progress."""

    def __init__(self, undo_root: Path, run: RunPaths, record: Path) -> None:
        self.dir = undo_root / run.run_id
        self.run = run
        self.record = record

    def ready(self) -> bool:
        """Whether every backup is in place (``state.json`` exists)."""
        return (self.dir / _STATE).is_file()

    def save(self, plan: dict[str, Any]) -> None:
        """Keep aside everything `plan` will change, then write ``state.json``."""
        self.discard()
        files = self.dir / "files"
        files.mkdir(parents=True)
        names = sorted({item["name"] for item in plan["place"]} | set(plan["remove"]))
        existed: dict[str, str] = {}
        for i, name in enumerate(names):
            check_file_name(name)
            source = self.run.dir / name
            if source.is_file() and not source.is_symlink():
                _keep(source, files / str(i))
                existed[name] = str(i)
        fsync_dir(files)
        state = {
            "names": names,
            "existed": existed,
            "folders": [f for f in _FOLDERS if (self.run.dir / f).is_dir()],
            "heartbeat": _mtime(self.run.heartbeat),
            "record": _read_or_none(self.record),
        }
        write_json_atomic(self.dir / _STATE, state)

    def restore(self) -> bool:
        """Put the run directory back as it was before the commit; False if nothing changed."""
        try:
            state = read_json(self.dir / _STATE)
        except FileNotFoundError:
            self.discard()
            return False
        existed: dict[str, str] = state["existed"]
        for name in state["names"]:
            check_file_name(name)
            target = self.run.dir / name
            if name in existed:
                os.replace(self.dir / "files" / existed[name], target)
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
        shutil.rmtree(self.dir, ignore_errors=True)

    def _restore_heartbeat(self, mtime: float | None) -> None:
        if mtime is None:
            self.run.heartbeat.unlink(missing_ok=True)
        elif self.run.heartbeat.is_file():
            os.utime(self.run.heartbeat, (mtime, mtime))


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
