"""Garbage collection of the blob area: single blobs, packs, partial files (under gc.lock).

A single blob no live version names is removed once older than the grace period. A pack is
judged by its seal time (its mtime): when some of its blobs are unreferenced, a pack with no
referenced blob left is removed, and one with some is repacked: its referenced blobs are copied
into a new pack, which is made durable and indexed in the same transaction that forgets the old
pack, and only then is the old pack removed (a crash in between leaves a duplicate pack that
the next gc removes). A sealed pack the index does not know (a crash between sealing and
indexing, or a lost index) is indexed first, so that gc never removes a blob it cannot see.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import CorruptDataError
from .blobs import BlobStore
from .extracted import CacheReport
from .fileio import syncfs
from .packs import Member, PackWriter, read_members, sealed_packs, write_all


@dataclass
class GcReport:
    """What gc removed (or, dry run, would remove)."""

    removed: list[str] = field(default_factory=list)
    removed_bytes: int = 0
    kept_young: int = 0
    kept_referenced: int = 0
    partials: list[str] = field(default_factory=list)
    repacked: list[str] = field(default_factory=list)  # packs rewritten without their dead blobs
    extracted: CacheReport = field(default_factory=CacheReport)  # cache files no version needs


def collect(
    blobs: BlobStore, referenced: Iterable[str], grace_s: float, dry_run: bool, now: float
) -> GcReport:
    """Remove blobs not in `referenced` and older than `grace_s` (call under ``collecting``)."""
    keep = set(referenced)
    report = GcReport()
    _collect_singles(blobs, keep, grace_s, dry_run, now, report)
    index_unknown_packs(blobs)
    _collect_packs(blobs, keep, grace_s, dry_run, now, report)
    for path in blobs.incoming_files():
        try:
            old = now - path.stat().st_mtime >= grace_s
        except FileNotFoundError:
            continue
        if old:
            report.partials.append(path.name)
            if not dry_run:
                path.unlink(missing_ok=True)
    return report


def _collect_singles(
    blobs: BlobStore, keep: set[str], grace_s: float, dry_run: bool, now: float, report: GcReport
) -> None:
    for path in blobs.single_blobs():
        if path.name in keep:
            report.kept_referenced += 1
            continue
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        if now - st.st_mtime < grace_s:
            report.kept_young += 1
            continue
        report.removed.append(path.name)
        report.removed_bytes += st.st_size
        if not dry_run:
            path.unlink(missing_ok=True)


def index_unknown_packs(blobs: BlobStore) -> list[str]:
    """Index every sealed pack the index has no row of; the names of those that held blobs the
    index lacked (a pack whose blobs are all indexed elsewhere is a duplicate: left to gc)."""
    known = blobs.index.packs()
    added: list[str] = []
    for name in sealed_packs(blobs.paths.packs):
        if name in known:
            continue
        members = read_members(blobs.paths.packs / name)
        if any(blobs.index.find(sha) is None for sha, _o, _s in members):
            blobs.index.add(name, members)
            added.append(name)
    return added


def _collect_packs(
    blobs: BlobStore, keep: set[str], grace_s: float, dry_run: bool, now: float, report: GcReport
) -> None:
    folder = blobs.paths.packs
    indexed: dict[str, tuple[int, list[Member]]] = {}  # pack -> (live blobs, dead blobs)
    for pack, members in blobs.index.by_pack():
        dead = [m for m in members if m[0] not in keep]
        indexed[pack] = (len(members) - len(dead), dead)
    for name in sealed_packs(folder):
        live, dead = indexed.get(name, (0, []))
        try:
            young = now - (folder / name).stat().st_mtime < grace_s
        except FileNotFoundError:
            continue
        report.kept_referenced += live
        if young:
            report.kept_young += len(dead)
            continue
        if not dead and live:
            continue
        report.removed += [sha for sha, _o, _s in dead]
        report.removed_bytes += sum(size for _sha, _o, size in dead)
        if live:
            report.repacked.append(name)
        if dry_run:
            continue
        if live:
            _repack(blobs, name, keep)
        else:  # nothing referenced (or a duplicate pack the index never names)
            blobs.index.drop(name)
            (folder / name).unlink(missing_ok=True)


def _repack(blobs: BlobStore, name: str, keep: set[str]) -> None:
    """Copy the referenced blobs of pack `name` into a new pack, then drop `name`."""
    old_path = blobs.paths.packs / name
    new = PackWriter(blobs.paths.packs)
    try:
        fd = os.open(old_path, os.O_RDONLY)
        try:
            for sha, offset, size in blobs.index.members_of(name):
                if sha not in keep:
                    continue
                data = os.pread(fd, size, offset)
                if hashlib.sha256(data).hexdigest() != sha:
                    raise CorruptDataError(
                        f"blob {sha} in pack {old_path} is damaged; gc left the pack as it was "
                        "(`localtrack doctor` reports it)"
                    )
                piece = new.member(sha, data)
                write_all(new.fd, piece)
                new.appended(sha, size, len(piece))
        finally:
            os.close(fd)
        new.seal()
        syncfs(blobs.paths.dir)
    except BaseException:
        new.abort()
        raise
    blobs.index.replace(new.name, new.members, drop_pack=name)
    Path(old_path).unlink(missing_ok=True)
