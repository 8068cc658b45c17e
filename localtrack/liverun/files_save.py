"""``run.save()`` and ``run.log_code()``: copy the user's files into the run's ``files/``.

Names under ``files/`` are what sync's manifest allows (store/ingest/manifest_types.py): up to
``MAX_DEPTH`` folders deep, each part 1-128 of ``A-Z a-z 0-9 _ . -`` not starting with ``.`` or
``-``. Other characters become ``_`` (``my model.pt`` is saved as ``my_model.pt``), and a part
starting with a dot gets a ``_`` in front. Every copy is atomic (partial name, then rename).

``policy="live"`` watches the glob's folder with watchdog (imported only then) and copies a file
again when it changes, after it has been quiet for ``SETTLE_S``; at finish() every live and
``policy="end"`` file is copied one last time.
"""

from __future__ import annotations

import glob as globlib
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..store.atomic import publishing

log = logging.getLogger(__name__)
POLICIES = ("live", "now", "end")
MAX_DEPTH = 8  # folders under files/ (manifest_types.py allows as many)
SETTLE_S = 0.2
_PART_BAD = re.compile(r"[^A-Za-z0-9_.-]")
_SKIP_DIRS = {".git", "__pycache__", "node_modules", "site-packages", "localtrack-runs", "wandb"}


def file_name(relative: str) -> str:
    """`relative` (a/b/c.txt) as a name files/ and the sync manifest accept."""
    parts = [p for p in relative.replace(os.sep, "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise UsageError(f"{relative!r} is not a file name below the save folder")
    if len(parts) > MAX_DEPTH + 1:
        raise UsageError(f"{relative!r} is nested deeper than {MAX_DEPTH} folders")
    clean = []
    for part in parts:
        part = _PART_BAD.sub("_", part)[:128]
        if not part[0].isalnum():
            part = ("_" + part)[:128]
        clean.append(part)
    name = "/".join(clean)
    return name + "_" if name.endswith(".tmp") else name


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as src, publishing(target) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


def _expand(glob_str: str | os.PathLike[str], base_path: Any) -> tuple[str, Path]:
    """The absolute glob and the folder names are relative to (W&B's rule for base_path)."""
    pattern = os.path.abspath(os.path.expanduser(os.fspath(glob_str)))
    if base_path is not None:
        base = Path(os.path.abspath(os.fspath(base_path)))
    elif os.path.isabs(os.fspath(glob_str)):
        base = Path(os.path.dirname(pattern))
    else:
        base = Path.cwd()
    try:
        _static_folder(pattern).relative_to(base)
    except ValueError:
        raise UsageError(
            f"save({os.fspath(glob_str)!r}): it is not inside base_path {base}"
        ) from None
    return pattern, base


def _static_folder(pattern: str) -> Path:
    """The deepest folder of an absolute `pattern` that has no glob characters."""
    magic = re.search(r"[*?[]", pattern)
    return Path(os.path.dirname(pattern if magic is None else pattern[: magic.start()]))


class FileSaver:
    """The files one run saves; a background worker of the run (stopped by finish())."""

    def __init__(self, files_dir: Path) -> None:
        self.files_dir = files_dir
        self._live: list[tuple[str, Path]] = []
        self._end: list[tuple[str, Path]] = []
        self._seen: dict[Path, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._observer: Any = None
        self._thread: threading.Thread | None = None

    def save(self, glob_str: Any, base_path: Any, policy: str) -> list[str]:
        if policy not in POLICIES:
            raise UsageError(f"save(policy=...) must be one of {POLICIES}, not {policy!r}")
        pattern, base = _expand(glob_str, base_path)
        if policy == "end":
            self._end.append((pattern, base))
            return []
        saved = self._copy_matches(pattern, base)
        if policy == "live":
            self._live.append((pattern, base))
            self._watch(pattern)
        return saved

    def _copy_matches(self, pattern: str, base: Path, only_changed: bool = False) -> list[str]:
        saved = []
        for match in sorted(globlib.glob(pattern, recursive=True)):
            source = Path(match)
            if not source.is_file() or source.is_relative_to(self.files_dir.absolute()):
                continue  # a folder, or a file already in files/
            st = source.stat()
            stamp = (st.st_mtime_ns, st.st_size)
            if only_changed and self._seen.get(source) == stamp:
                continue
            name = file_name(os.path.relpath(source, base))
            try:
                _copy(source, self.files_dir / name)
            except OSError as exc:  # a file that vanished or cannot be read: the run goes on
                log.warning("save(): could not copy %s (%s)", source, exc)
                continue
            self._seen[source] = stamp
            saved.append(name)
        return saved

    def _watch(self, pattern: str) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        folder = _static_folder(pattern)
        while not folder.is_dir():  # not made yet: watch the nearest folder that exists
            folder = folder.parent
        recursive = "**" in pattern or os.sep in pattern[len(str(folder)) + 1 :]
        saver = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                if not event.is_directory:
                    saver._dirty.set()

        with self._lock:
            if self._observer is None:
                self._observer = Observer()
                self._observer.daemon = True
                self._observer.start()
                self._thread = threading.Thread(
                    target=self._loop, name="localtrack-save", daemon=True
                )
                self._thread.start()
            self._observer.schedule(Handler(), str(folder), recursive=recursive)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._dirty.wait()
            if self._stopping.is_set():
                return
            while self._dirty.is_set():  # let a file being written settle first
                self._dirty.clear()
                if self._stopping.wait(SETTLE_S):
                    return
            self._copy_live()

    def _copy_live(self) -> None:
        with self._lock:
            for pattern, base in list(self._live):
                try:
                    self._copy_matches(pattern, base, only_changed=True)
                except UsageError as exc:
                    log.warning("save(): %s", exc)

    def stop(self) -> None:
        """Stop watching, then copy every live and end-policy file once more."""
        self._stopping.set()
        self._dirty.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._copy_live()
        for pattern, base in self._end:
            self._copy_matches(pattern, base)


def _default_include(path: str, root: str) -> bool:
    return path.endswith(".py")


def _default_exclude(path: str, root: str) -> bool:
    parts = set(Path(os.path.relpath(path, root)).parts)
    return bool(parts & _SKIP_DIRS) or any(p.startswith(".") for p in parts)


def log_code(
    files_dir: Path,
    root: Any,
    include_fn: Callable[..., bool] | None,
    exclude_fn: Callable[..., bool] | None,
) -> list[str]:
    """Copy source files under `root` into ``files/code/`` (W&B's include_fn/exclude_fn)."""
    top = os.path.abspath(os.fspath(root if root is not None else "."))
    include = include_fn or _default_include
    exclude = exclude_fn or _default_exclude
    saved = []
    for path in _walk(top):
        if not _call(include, path, top) or _call(exclude, path, top):
            continue
        name = "code/" + file_name(os.path.relpath(path, top))
        try:
            _copy(Path(path), files_dir / name)
        except OSError as exc:
            log.warning("log_code(): could not copy %s (%s)", path, exc)
            continue
        saved.append(name)
    return saved


def _walk(top: str) -> Iterable[str]:
    for folder, dirs, names in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(names):
            yield os.path.join(folder, name)


def _call(fn: Callable[..., bool], path: str, root: str) -> bool:
    """W&B calls include_fn(path, root); older ones take only the path."""
    try:
        return bool(fn(path, root))
    except TypeError:
        return bool(fn(path))
