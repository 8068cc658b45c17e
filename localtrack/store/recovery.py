"""Repair, adopt, quarantine and reindex: making the store whole again after a crash.

``scan_run`` rebuilds everything the index knows about a run from its files alone.
``repair_run`` fixes what a crash can leave behind, for runs no live process is writing:

- stray partial files (``.<name>.tmp``) are deleted;
- a tail log's torn or corrupt end is truncated after its last whole record;
- a shard covered by a bigger one (an interrupted compaction) is deleted;
- a shard that fails to parse or verify is moved to ``quarantine/`` and reported;
- batches left in the tail log of a dead segment are sealed into a shard (adopted);
- a run whose writer is gone but still says "running" is marked "crashed".

``reindex`` rebuilds index.db from the run directories; query results are identical.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from ..errors import CorruptDataError
from . import segments, taillog
from .indexbackend import IndexBackend
from .layout import RunPaths, ShardName, is_partial_name, parse_shard_name
from .metrics import KeyStats, sort_rows
from .rangedfiles import open_source
from .root import StoreRoot
from .runfiles import drop_covered, list_tail_segments, read_run_data
from .runmeta import effective_state, heartbeat_time, index_row, load, save
from .runstats import scan_stats
from .shards import ShardInfo, check_sha256, sha256_file, shard_info_from_file, write_shard

log = logging.getLogger(__name__)


@dataclass
class RunScan:
    """Everything the index holds about one run, rebuilt from its directory."""

    meta: dict
    stats: dict[str, KeyStats]
    shards: list[ShardInfo]
    warnings: list[str]
    heartbeat_at: float | None


@dataclass
class RepairReport:
    """What repair found and did in one run (or, summed, in a store)."""

    run_id: str
    actions: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def scan_run(paths: RunPaths, verify: bool = False) -> RunScan:
    """Rebuild a run's statistics and shard list from its files (no index involved)."""
    meta = load(paths.run_json)
    data = scan_stats(paths)  # in bounded batches: a shard may declare more than fits in memory
    stats = data.stats
    shards = []
    for name in data.shards:
        if verify:
            try:
                shards.append(shard_info_from_file(paths.shard(name), name))
            except CorruptDataError as exc:
                data.damaged.append((name.filename, str(exc)))
        else:
            shards.append(_quick_shard_info(paths, name))
    return RunScan(meta, stats, shards, data.warnings, heartbeat_time(paths.heartbeat))


def _quick_shard_info(paths: RunPaths, name: ShardName) -> ShardInfo:
    """Describe a shard from its Parquet footer (row counts, step statistics) and its sha256
    (a shard read by byte range on a replica, rangedfiles.py: its blob's, named by it)."""
    path = paths.shard(name)
    source = open_source(path)
    md = pq.ParquetFile(source).metadata
    lows, highs = [], []
    for i in range(md.num_row_groups):
        stats = md.row_group(i).column(0).statistics
        if stats is not None and stats.has_min_max:
            lows.append(stats.min)
            highs.append(stats.max)
    if isinstance(source, Path):
        size, sha = path.stat().st_size, sha256_file(path)
    else:
        size, sha = source.size(), source.blob.sha256
    return ShardInfo(
        name,
        md.num_rows,
        size,
        sha,
        min(lows) if lows else None,
        max(highs) if highs else None,
    )


def index_run(index: IndexBackend, scan: RunScan) -> None:
    """Replace a run's rows in the index with what a scan found (one transaction)."""
    with index.transaction():
        write_run_rows(index, scan)


def write_run_rows(index: IndexBackend, scan: RunScan) -> None:
    """``index_run`` inside a transaction the caller holds (a shared-nothing commit's)."""
    run_id = scan.meta["id"]
    index.delete_run(run_id)
    index.upsert_run(index_row(scan.meta, scan.stats, scan.heartbeat_at, scan.warnings))
    index.upsert_key_stats(run_id, scan.stats)
    index.replace_shards(run_id, scan.shards, [])
    index.bump_changes()


def partial_files(paths: RunPaths) -> list[Path]:
    """Partial files (``.<name>...tmp``) anywhere in a run directory except quarantine/."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(paths.dir):
        dirs[:] = [d for d in dirs if Path(folder, d) != paths.quarantine]
        found.extend(Path(folder, f) for f in files if is_partial_name(f))
    return sorted(found)


def _remove_partials(paths: RunPaths, report: RepairReport) -> None:
    for path in partial_files(paths):
        path.unlink(missing_ok=True)
        report.actions.append(f"removed partial file {path.relative_to(paths.dir)}")


def _quarantine(paths: RunPaths, name: str, reason: str, report: RepairReport) -> None:
    paths.quarantine.mkdir(exist_ok=True)
    target = paths.quarantine / f"{name}.{int(time.time())}"
    os.replace(paths.metrics / name, target)
    report.problems.append(f"{name}: {reason}")
    report.actions.append(f"quarantined {name} → quarantine/{target.name}")


def _fix_shards(paths: RunPaths, hashes: dict[str, str], report: RepairReport) -> None:
    """Remove merge debris; quarantine shards that fail their sha256 or do not parse."""
    try:
        names = [n for e in os.scandir(paths.metrics) if (n := parse_shard_name(e.name))]
    except FileNotFoundError:
        return
    live = set(drop_covered(names))
    for name in names:
        if name not in live:
            paths.shard(name).unlink()
            hashes.pop(name.filename, None)
            report.actions.append(f"removed {name.filename} (its rows are in a merged shard)")
    for name in sorted(live):
        problem = shard_problem(paths, name, hashes.get(name.filename))
        if problem:
            _quarantine(paths, name.filename, problem, report)
            hashes.pop(name.filename, None)


def shard_problem(paths: RunPaths, name: ShardName, expected: str | None) -> str | None:
    """Why a shard cannot be trusted (sha256 mismatch, unparsable), or None."""
    try:
        check_sha256(paths.shard(name), expected)
        shard_info_from_file(paths.shard(name), name)
    except CorruptDataError as exc:
        return str(exc)
    return None


def _adopt_tails(paths: RunPaths, hashes: dict[str, str], report: RepairReport) -> None:
    for segment in list_tail_segments(paths):
        cut = taillog.repair(paths.tail(segment))
        if cut:
            report.actions.append(f"truncated {cut} damaged bytes from tail-{segment:04d}.log")
    for segment, number in segments.list_chunks(paths.dir):
        path = segments.chunk_path(paths.dir, segment, number)
        cut = segments.cut_torn(path)
        if cut:
            report.actions.append(f"cut a torn record ({cut} bytes) from {path.name}")
    data = read_run_data(paths)
    by_segment: dict[int, list] = {}
    for batch in data.tail_batches:
        by_segment.setdefault(batch.segment, []).append(batch)
    for segment, batches in by_segment.items():
        name = ShardName(segment, batches[0].batch_seq, batches[-1].batch_seq)
        dtypes: dict[str, str] = {}
        for b in batches:
            dtypes.update(b.dtypes)
        info = write_shard(paths.shard(name), name, sort_rows([b.table for b in batches]), dtypes)
        hashes[name.filename] = info.sha256
        report.actions.append(f"sealed {len(batches)} tail batches into {name.filename}")
    for segment in list_tail_segments(paths):
        paths.tail(segment).unlink(missing_ok=True)
    for segment, number in segments.list_chunks(paths.dir):
        segments.chunk_path(paths.dir, segment, number).unlink(missing_ok=True)


def repair_run(paths: RunPaths) -> RepairReport:
    """Fix what a crash left in one run directory; a run still being written is left alone."""
    report = RepairReport(paths.run_id)
    try:
        meta = load(paths.run_json)
    except (OSError, CorruptDataError) as exc:
        report.problems.append(f"run.json unreadable: {exc}")
        return report
    state = effective_state(meta, heartbeat_time(paths.heartbeat))
    if state == "running":
        return report
    paths.metrics.mkdir(exist_ok=True)
    hashes = dict(meta.get("shards") or {})
    _remove_partials(paths, report)
    _fix_shards(paths, hashes, report)
    _adopt_tails(paths, hashes, report)
    changed = hashes != (meta.get("shards") or {})
    meta["shards"] = hashes
    if meta.get("state") == "running":
        meta["state"] = "crashed"
        if meta.get("ended_at") is None:
            meta["ended_at"] = heartbeat_time(paths.heartbeat) or time.time()
        report.actions.append("marked crashed (its writer stopped without finishing)")
        changed = True
    if changed:
        save(paths.run_json, meta)
    return report


def check_run(paths: RunPaths) -> RepairReport:
    """Report problems without changing anything (doctor without --repair)."""
    report = RepairReport(paths.run_id)
    try:
        meta = load(paths.run_json)
    except (OSError, CorruptDataError) as exc:
        report.problems.append(f"run.json unreadable: {exc}")
        return report
    scan = scan_run(paths, verify=True)
    report.problems.extend(scan.warnings)
    if meta.get("state") == "running" and effective_state(meta, scan.heartbeat_at) == "crashed":
        report.problems.append("says running, but its writer is gone (will be marked crashed)")
    if effective_state(meta, scan.heartbeat_at) != "running":
        report.problems.extend(
            f"stray partial file {p.relative_to(paths.dir)}" for p in partial_files(paths)
        )
    return report


def reindex(root: StoreRoot) -> tuple[int, list[str]]:
    """Rebuild index.db from the run directories; returns (runs indexed, problems)."""
    index = root.open_index()
    if index is None:
        return 0, [root.why_no_index()]
    problems: list[str] = []
    count = 0
    try:
        with index.transaction():
            index.delete_everything()
            index.bump_changes()
        for run_id in root.run_ids():
            try:
                scan = scan_run(root.run(run_id))
            except (OSError, CorruptDataError) as exc:
                problems.append(f"{run_id}: {exc}")
                continue
            index_run(index, scan)
            count += 1
        from .artifacts.catalog import reindex_artifacts
        from .artifacts.layout import ArtifactPaths
        from .artifacts.namespace import Namespaces

        namespaces = Namespaces(root, ArtifactPaths.of_root(root.root))
        problems += reindex_artifacts(index, namespaces)[1]
    finally:
        index.close()
    return count, problems
