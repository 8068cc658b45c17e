"""Downloading a version: every file of a manifest put under a folder, every hash checked.

A single blob is hard-linked from the blob area, a packed one from the extraction cache
(extracted.py: the first download of a packed blob writes its file from the pack and links that
file into the cache), so a version downloaded before costs one hash check and one link per file.
Where the file system refuses links the bytes are copied. A reference is read from where it
points. Entries are placed a chunk at a time by a few threads: linking and creating many small
files is kernel work they share out, and hashing releases the GIL.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ...errors import CorruptDataError, DigestMismatchError, UsageError
from .blobs import BlobStore
from .extracted import LINK_REFUSED, ExtractCache
from .fileio import CHUNK, hash_file
from .layout import check_entry_path
from .manifest import Entry, Manifest
from .packs import PACKED_MAX, write_all
from .references import open_reference

WRITERS = 4  # threads placing files
CHUNK_ENTRIES = 256  # entries one thread places at a time (one pack index query for them)
IN_FLIGHT = 2 * WRITERS  # chunks submitted but not done (memory: a chunk reads ≤ 64 KiB at once)
Item = tuple[Entry, str]  # (entry, target path)


class PackReader:
    """The packs one download reads from, each opened once (shared by its threads)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()

    def read(self, pack: str, offset: int, size: int, sha256: str) -> bytes:
        fd = self._fds.get(pack)
        if fd is None:
            with self._lock:
                fd = self._fds.get(pack)
                if fd is None:
                    fd = os.open(self.folder / pack, os.O_RDONLY | os.O_CLOEXEC)
                    self._fds[pack] = fd
        data = os.pread(fd, size, offset)
        if len(data) != size:
            raise CorruptDataError(f"pack {pack} is shorter than its index says (blob {sha256})")
        return data

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()


class Materializer:
    """One download of one version into one folder."""

    def __init__(self, blobs: BlobStore, cache: ExtractCache) -> None:
        self.blobs = blobs
        self.cache = cache
        self.packs = PackReader(blobs.paths.packs)
        self.cache_links = True  # False once the file system refuses a link into the cache

    def run(self, manifest: Manifest, root: Path) -> Path:
        """Write every file of `manifest` under `root`; see docs/artifacts.md on non-empty
        folders (files that already match are kept; anything else there is an error)."""
        existing = files_under(root)
        extra = sorted(set(existing) - set(manifest.entries))
        if extra:
            raise UsageError(
                f"cannot download {manifest.project}/{manifest.name}:v{manifest.version} into "
                f"{root}: it holds other files ({', '.join(extra[:5])}"
                f"{', …' if len(extra) > 5 else ''}); use an empty folder"
            )
        pool = ThreadPoolExecutor(WRITERS, thread_name_prefix="localtrack-download")
        try:
            self._dispatch(manifest, root, existing, pool)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self.packs.close()
        return root

    def _dispatch(
        self, manifest: Manifest, root: Path, existing: dict[str, Path], pool: ThreadPoolExecutor
    ) -> None:
        base = str(root)
        made: set[str] = set()  # folders known to exist (one makedirs each)
        running: deque[Future[None]] = deque()
        chunk: list[Item] = []
        for path, entry in manifest.entries.items():
            target = f"{base}/{check_entry_path(path)}"
            if path in existing:
                if file_matches(Path(target), entry):
                    continue
                raise UsageError(
                    f"cannot download into {root}: {path} is there with other content; "
                    "use an empty folder"
                )
            parent = target.rpartition("/")[0]
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            chunk.append((entry, target))
            if len(chunk) >= CHUNK_ENTRIES:
                running.append(pool.submit(self._place, chunk))
                chunk = []
                if len(running) >= IN_FLIGHT:
                    running.popleft().result()
        if chunk:
            running.append(pool.submit(self._place, chunk))
        for done in running:
            done.result()

    def _place(self, items: Sequence[Item]) -> None:
        """Put each entry's file at its target: cached or single blobs by link, packed ones
        extracted (and cached), references copied."""
        unpacked: list[Item] = []
        for entry, target in items:
            if entry.ref is not None or entry.size > PACKED_MAX:
                self._fetch(entry, target)  # only a small blob can be packed
            elif not self._from_cache(entry, target):
                unpacked.append((entry, target))
        if not unpacked:
            return
        where = self.blobs.index.locate_many([e.sha256 for e, _t in unpacked])
        for entry, target in unpacked:
            found = where.get(entry.sha256)
            if found is None:
                self._fetch(entry, target)  # a small single blob (stores from before packs)
            else:
                self._extract(entry, target, *found)

    def _from_cache(self, entry: Entry, target: str) -> bool:
        """Whether the entry's file was placed from the extraction cache (hash checked)."""
        data = self.cache.verified(entry.sha256, entry.size)
        if data is None:
            return False
        try:
            os.link(self.cache.path(entry.sha256), target)
        except FileNotFoundError:
            return False  # gc dropped it just now: extract it again
        except OSError as exc:
            if exc.errno not in LINK_REFUSED:
                raise
            _write_new(target, data, 0o644)  # a copy, free to edit
        return True

    def _extract(self, entry: Entry, target: str, pack: str, offset: int, size: int) -> None:
        """Write a packed blob's file (hash checked) and link it into the extraction cache."""
        data = self.packs.read(pack, offset, size, entry.sha256)
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            raise DigestMismatchError(
                f"packed blob {entry.sha256} of entry {entry.path!r} is damaged; "
                "`localtrack doctor` reports such blobs"
            )
        linking = self.cache_links
        _write_new(target, data, 0o444 if linking else 0o644)  # read-only: it becomes the cache
        if linking and not self.cache.keep(entry.sha256, target):
            self.cache_links = False  # another file system: downloads here are copies
            os.chmod(target, 0o644)

    def _fetch(self, entry: Entry, target: str) -> None:
        """Put a reference's or single blob's bytes at target (hash checked): a hard link of
        a single blob if possible, else a copy."""
        if entry.ref is not None:
            _copy_reference(entry, Path(target))
            return
        blob = self.blobs.paths.blob(entry.sha256)
        try:
            sha, _ = hash_file(blob)
        except FileNotFoundError:
            raise CorruptDataError(
                f"blob {entry.sha256} of entry {entry.path!r} is missing from "
                f"{self.blobs.paths.blobs}"
            ) from None
        if sha != entry.sha256:
            raise DigestMismatchError(
                f"blob {blob} of entry {entry.path!r} is damaged (sha256 {sha}); "
                "`localtrack doctor` reports such blobs"
            )
        try:
            os.link(blob, target)  # atomic: the name appears with the whole content
            return
        except OSError as exc:
            if exc.errno not in LINK_REFUSED:
                raise
        tmp = _partial(Path(target))
        shutil.copyfile(blob, tmp)
        os.replace(tmp, target)


def _copy_reference(entry: Entry, target: Path) -> None:
    assert entry.ref is not None
    tmp = _partial(target)
    h = hashlib.sha256()
    with open_reference(entry.ref) as src, open(tmp, "wb") as out:
        while chunk := src.read(CHUNK):
            h.update(chunk)
            out.write(chunk)
    if h.hexdigest() != entry.sha256:
        tmp.unlink(missing_ok=True)
        raise DigestMismatchError(
            f"reference {entry.ref} (entry {entry.path!r}) changed since it was logged: "
            f"sha256 {h.hexdigest()}, expected {entry.sha256}"
        )
    os.replace(tmp, target)


def _write_new(target: str, data: bytes, mode: int) -> None:
    """Write `data` to the new file `target`; a failure removes it (a kill leaves it short,
    and the next download into that folder says so)."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        write_all(fd, data)
    except BaseException:
        os.unlink(target)
        raise
    finally:
        os.close(fd)


def _partial(target: Path) -> Path:
    """Where a copy is written before it is renamed to `target`."""
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def files_under(root: Path) -> dict[str, Path]:
    """Every file under `root` by its relative POSIX path (empty if `root` does not exist)."""
    out: dict[str, Path] = {}
    if not root.exists():
        return out
    if not root.is_dir():
        raise UsageError(f"{root} is not a folder")
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            out[p.relative_to(root).as_posix()] = p
    return out


def file_matches(path: Path, entry: Entry) -> bool:
    try:
        if path.stat().st_size != entry.size:
            return False
        return hash_file(path)[0] == entry.sha256
    except OSError:
        return False
