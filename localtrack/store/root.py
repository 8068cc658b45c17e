"""Opening a store's root directory: the format marker, and whether the shared index is usable."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import FormatVersionError, IndexUnavailableError, StoreError, UsageError
from ..settings import resolve
from .atomic import read_json, write_json_atomic
from .fsdetect import filesystem_type, is_network_filesystem
from .index import Index, index_file_problem
from .indexbackend import IndexBackend, is_postgres_url, redacted
from .layout import FORMAT_VERSION, RunPaths, StorePaths

if TYPE_CHECKING:
    from .remoteruns import RemoteRuns

log = logging.getLogger(__name__)
_warned_network_fs: set[str] = set()

INDEX_MODES = ("auto", "on", "off")


def check_format(paths: StorePaths) -> None:
    """Refuse a store written in a newer format than this localtrack reads."""
    try:
        marker = read_json(paths.marker)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        raise StoreError(
            f"{paths.marker} is unreadable ({exc}); it should hold the format version"
        ) from exc
    version = marker.get("format_version") if isinstance(marker, dict) else None
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise FormatVersionError(
            f"{paths.root} is in localtrack format version {version}, but this localtrack reads "
            f"up to version {FORMAT_VERSION}. Upgrade localtrack (pip install -U localtrack)."
        )


def check_index_url(url: str | None) -> str | None:
    """`url` when it names an index backend this localtrack has (``postgresql://…``), None for
    none (the SQLite index.db in the store); UsageError naming what is allowed otherwise."""
    if not url:
        return None
    if not is_postgres_url(url):
        raise UsageError(
            f"index URL {url.split('@')[-1]!r} is not a postgresql://USER@HOST/DATABASE URL; "
            "leave --index out to keep the index in the store directory (index.db)"
        )
    return url


class StoreRoot:
    """A store root directory, opened for reading or writing.

    Its index is ``<root>/index.db`` (SQLite), or the PostgreSQL database `index_url` names
    (default: ``LOCALTRACK_INDEX_URL``; "" means index.db, whatever that variable says; a
    central server's replicas share one, docs/deploy.md)."""

    def __init__(
        self,
        root: Path | str,
        create: bool = False,
        index_mode: str = "auto",
        index_url: str | None = None,
    ) -> None:
        self.paths = StorePaths(Path(root).expanduser().absolute())
        if index_mode not in INDEX_MODES:
            raise StoreError(f"index mode must be one of {INDEX_MODES}, not {index_mode!r}")
        self.index_mode = index_mode
        self.index_url = check_index_url(resolve("index_url") if index_url is None else index_url)
        self.remote: RemoteRuns | None = None  # set by a shared-nothing server (runs in S3)
        if create:
            self.paths.runs.mkdir(parents=True, exist_ok=True)
            if not self.paths.marker.exists():
                # several processes may create a new store at once: each publishes a whole
                # marker atomically under its own partial name; the last rename wins, same content
                write_json_atomic(
                    self.paths.marker,
                    {"format": "localtrack", "format_version": FORMAT_VERSION},
                    unique=True,
                )
        check_format(self.paths)

    @property
    def root(self) -> Path:
        return self.paths.root

    def run(self, run_id: str) -> RunPaths:
        """The directory to read `run_id` from: its committed version in the read cache on a
        shared-nothing server (``remote``, store/remoteruns.py), else ``<root>/runs/<run_id>``."""
        if self.remote is not None:
            cached = self.remote.run_paths(run_id)
            if cached is not None:
                return cached
        return self.paths.run(run_id)

    def index_usable(self) -> bool:
        """False on a network filesystem (unless forced on) or when the index is turned off;
        a PostgreSQL index is usable wherever the store is."""
        if self.index_mode == "off":
            return False
        if self.index_mode == "on" or self.index_url:
            return True
        if is_network_filesystem(self.paths.root):
            key = str(self.paths.root)
            if key not in _warned_network_fs:
                _warned_network_fs.add(key)
                log.warning(
                    "%s is on a network filesystem (%s): the shared SQLite index is not used "
                    "there; runs are logged to per-run files only and readers scan them.",
                    key,
                    filesystem_type(self.paths.root),
                )
            return False
        return True

    def open_index(self, readonly: bool = False) -> IndexBackend | None:
        """The index, or None where it is not usable (or, read-only, does not exist yet)."""
        if not self.index_usable():
            return None
        if self.index_url:
            return self._open_pg_index(readonly)
        if readonly and not self.paths.index.exists():
            return None
        if not readonly and not os.access(self.paths.root, os.W_OK):
            return None
        try:
            return Index(self.paths.index, readonly=readonly)
        except IndexUnavailableError as exc:
            log.warning("%s", exc)
            return None

    def _open_pg_index(self, readonly: bool) -> IndexBackend | None:
        from .pgindex import PgIndex  # psycopg loads only for a PostgreSQL index

        assert self.index_url is not None
        try:
            return PgIndex(self.index_url, readonly=readonly)
        except IndexUnavailableError as exc:
            log.warning("%s", exc)
            return None

    def why_no_index(self) -> str:
        """In plain words, why ``open_index()`` gives no index here."""
        if self.index_mode == "off":
            return "the index is turned off here (LOCALTRACK_INDEX=off)"
        if self.index_url:
            return f"the PostgreSQL index {redacted(self.index_url)} could not be opened (see the warning logged above)"
        if self.index_mode == "auto" and is_network_filesystem(self.paths.root):
            kind = filesystem_type(self.paths.root)
            return (
                f"{self.paths.root} is on a network filesystem ({kind}), where the SQLite index "
                "is not used (LOCALTRACK_INDEX=on forces it)"
            )
        if not os.access(self.paths.root, os.W_OK):
            return f"{self.paths.root} is not writable, so its index cannot be written"
        problem = index_file_problem(self.paths.index)
        if problem:
            return f"{self.paths.index} is damaged: {problem}; `localtrack reindex` rebuilds it"
        return f"{self.paths.index} could not be opened (see the warning logged above)"

    def index_damage(self) -> str | None:
        """Why index.db is damaged, or None when it is whole, absent or not used here."""
        if not self.index_usable() or self.index_url:
            return None
        return index_file_problem(self.paths.index)

    def set_aside_index(self) -> Path:
        """Move index.db (with its -wal and -shm files) aside as ``index.db.corrupt-<time>``,
        so that the next ``open_index()`` starts a new one; returns where it went."""
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = self.paths.index.with_name(f"{self.paths.index.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.paths.index.with_name(f"{self.paths.index.name}.corrupt-{stamp}-{n}")
        for suffix in ("-wal", "-shm"):
            side = self.paths.index.with_name(self.paths.index.name + suffix)
            if side.exists():
                os.replace(side, target.with_name(target.name + suffix))
        os.replace(self.paths.index, target)
        log.warning("moved the damaged index %s aside to %s", self.paths.index, target.name)
        return target

    def run_ids(self) -> list[str]:
        """Every run directory's id (sorted), straight from the file system (and, on a
        shared-nothing server, every run PostgreSQL lists committed files of)."""
        remote = [] if self.remote is None else self.remote.run_ids()
        try:
            entries = os.scandir(self.paths.runs)
        except FileNotFoundError:
            return sorted(remote)
        with entries:
            local = {
                e.name
                for e in entries
                if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")
            }
        return sorted(local.union(remote))
