"""The mapped tail segments (store/segments.py, segwriter.py, segseal.py).

Framing and vectorised decoding, torn records cut by recovery, a full disk at segment allocation,
live reads of the mapped bytes, network filesystems keeping the classic tail log, and stores
written by the classic tail log still reading and recovering.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import localtrack
from localtrack.store import recovery, segments, segwriter, writer
from localtrack.store.reader import StoreReader
from localtrack.store.root import StoreRoot
from localtrack.store.runfiles import data_version, read_run_data
from localtrack.store.runmeta import load
from localtrack.store.segments import Keyset, chunk_path, list_chunks, read_chunk

from .store_fixtures import Child, column, raw_row_count, write_script

QUIET = localtrack.Settings(system_metrics=False, console=False)


def _segments(tmp_path: Path, chunk_bytes: int = 4096) -> segwriter.TailSegments:
    warnings: list[str] = []
    return segwriter.TailSegments(
        tmp_path, 0, 1, chunk_bytes, lambda kind, msg: warnings.append(msg), lambda kind: None
    )


def _steps(table: object, key: str) -> np.ndarray:
    t = table.filter(pc.equal(table.column("key"), key))  # type: ignore[attr-defined]
    return column(t, "step")


def test_crc32_rows_matches_zlib() -> None:
    rows = np.frombuffer(random.Random(1).randbytes(37 * 50), dtype=np.uint8).reshape(50, 37)
    expected = [zlib.crc32(bytes(r)) for r in rows]
    assert segments.crc32_rows(rows).tolist() == expected


def test_rows_of_interleaved_keysets_read_back_exactly_across_chunks(tmp_path: Path) -> None:
    segs = _segments(tmp_path)
    train = segs.appender(("loss", "acc"), ("float", "float"))
    for s in range(500):
        train(s, {"loss": 1.0 / (s + 1), "acc": s * 0.25})
        if s % 7 == 0:
            segs.write(s, 1.5e9, ("val/loss", "flag"), ("float", "bool"), (s * 2.0, s % 2))
    assert len(segs.chunks) > 3  # 4 KiB chunks: the rows spread over many
    tables = [read_chunk(chunk_path(tmp_path, 0, c.number)) for c in segs.chunks]
    assert all(t is not None and not t.torn for t in tables)
    dtypes = {k: v for t in tables if t for k, v in t.dtypes.items()}
    assert dtypes == {"loss": "float", "acc": "float", "val/loss": "float", "flag": "bool"}
    table = pa.concat_tables([t.table for t in tables if t])
    loss = table.filter(pc.equal(table.column("key"), "loss"))
    np.testing.assert_array_equal(column(loss, "step"), np.arange(500))
    np.testing.assert_array_equal(column(loss, "value"), 1.0 / (np.arange(500) + 1))
    np.testing.assert_array_equal(_steps(table, "val/loss"), np.arange(0, 500, 7))


def test_a_chunk_torn_at_every_byte_of_its_last_records_keeps_every_whole_one(
    tmp_path: Path,
) -> None:
    segs = _segments(tmp_path, chunk_bytes=1 << 20)
    append = segs.appender(("a", "b"), ("float", "int"))
    for s in range(40):
        append(s, {"a": s * 0.5, "b": s})
    chunk = segs.chunks[0]
    end, size = chunk.pos, 8 + 4 + 8 + 8 + 16
    data = bytes(chunk.buf[:end])
    path = chunk_path(tmp_path, 0, chunk.number)
    for cut in range(end - 2 * size, end + 1):
        torn = bytearray(len(chunk.buf))
        torn[:cut] = data[:cut]
        path.write_bytes(bytes(torn))  # a kill mid-record: the rest stays zero-filled
        read = read_chunk(path)
        assert read is not None
        whole = 40 - (end - cut + size - 1) // size
        np.testing.assert_array_equal(_steps(read.table, "a"), np.arange(whole))
        assert read.torn == ((end - cut) % size != 0), cut
    flipped = bytearray(data)
    flipped[end - 3] ^= 0x10  # a flipped bit in the last record's value: its CRC fails
    path.write_bytes(bytes(flipped))
    assert len(_steps(read_chunk(path).table, "a")) == 39  # type: ignore[union-attr]
    assert segments.cut_torn(path) > 0
    assert path.stat().st_size == end - size


TORN_VICTIM = """
    import sys
    import localtrack

    root = sys.argv[1]
    run = localtrack.init(project="seg", id="torn", dir=root,
                          settings=localtrack.Settings(system_metrics=False, console=False))
    for s in range(3000):
        run.log({"a": s * 0.5, "b": s})
    print("logged", run.step, flush=True)
    sys.stdin.readline()  # killed here, nothing flushed or sealed
"""


@pytest.mark.crash
def test_a_torn_record_of_a_killed_run_is_cut_by_recovery_and_whole_ones_sealed(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    child = Child(write_script(tmp_path, "victim.py", TORN_VICTIM), root)
    try:
        assert child.expect("logged") == "logged 3000"
        child.kill9()
    finally:
        child.stop()
    paths = StoreRoot(root).run("torn")
    [(seg, number)] = list_chunks(paths.dir)
    path = chunk_path(paths.dir, seg, number)
    read = read_chunk(path)
    assert read is not None and not read.torn
    with open(path, "r+b") as f:  # what a kill in the middle of the next record leaves
        f.seek(read.end)
        f.write(b"\x01\x02\x03\x04\x20\x00\x00\x00\x01")
    reader = StoreReader(root)
    history = reader.history("torn")
    np.testing.assert_array_equal(column(history, "step"), np.arange(3000))
    np.testing.assert_array_equal(column(history, "a"), np.arange(3000) * 0.5)
    report = recovery.repair_run(paths)
    assert report.problems == []
    assert any("cut a torn record (9 bytes)" in a for a in report.actions), report.actions
    assert list_chunks(paths.dir) == []  # sealed into a shard and deleted
    assert StoreReader(root).history("torn").equals(history)
    assert load(paths.run_json)["state"] == "crashed"


def test_enospc_at_segment_allocation_warns_once_and_logging_goes_on_in_memory(
    root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    full = True
    real = segwriter.allocate

    def allocate(fd: int, size: int) -> None:
        if full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd, size)

    monkeypatch.setattr(segwriter, "allocate", allocate)
    settings = localtrack.Settings(system_metrics=False, console=False, seal_scalars=2000)
    caplog.set_level(logging.WARNING)
    run = localtrack.init(project="p", dir=root, settings=settings)
    for s in range(3000):  # several chunks' worth, every one refused
        run.log({"a": float(s), "b": s})
    assert list_chunks(run.dir) == []
    refusals = [r for r in caplog.records if "cannot allocate tail segment" in r.getMessage()]
    assert len(refusals) == 1 and os.strerror(errno.ENOSPC) in refusals[0].getMessage()
    full = False
    for s in range(3000, 6000):
        run.log({"a": float(s), "b": s})
    run.finish()
    history = StoreReader(root).history(run.id)
    np.testing.assert_array_equal(column(history, "step"), np.arange(6000))
    np.testing.assert_array_equal(column(history, "a"), np.arange(6000.0))
    np.testing.assert_array_equal(column(history, "b"), np.arange(6000))
    assert raw_row_count(StoreRoot(root).run(run.id)) == 12000
    assert load(run.dir / "run.json")["state"] == "finished"


def test_a_live_run_reads_every_logged_row_from_the_mapped_segment(root: Path) -> None:
    settings = localtrack.Settings(system_metrics=False, console=False, flush_interval=3600)
    run = localtrack.init(project="p", dir=root, settings=settings)
    paths = StoreRoot(root).run(run.id)
    before = data_version(paths)
    for s in range(1000):
        run.log({"loss": 1.0 / (s + 1)})
    # no flush: what log() wrote is in the mapped file, and readers see it
    history = StoreReader(root).history(run.id)
    np.testing.assert_array_equal(column(history, "step"), np.arange(1000))
    assert read_run_data(paths).warnings == []
    assert run.flush(timeout=60)
    assert data_version(paths) != before  # the synced end in the chunk header moved (ETags)
    run.finish()


def test_a_network_filesystem_keeps_the_classic_tail_log(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "is_network_filesystem", lambda path: True)
    settings = localtrack.Settings(system_metrics=False, console=False, flush_interval=3600)
    run = localtrack.init(project="p", dir=root, settings=settings)
    assert run._writer.segments is None
    for s in range(100):
        run.log({"a": float(s)})
    assert run.flush(timeout=60)
    assert list_chunks(run.dir) == [] and (run.dir / "tail-0000.log").stat().st_size > 8
    run.finish()
    np.testing.assert_array_equal(column(StoreReader(root).history(run.id), "a"), np.arange(100.0))


def test_the_detection_is_the_index_one(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    from localtrack.store import fsdetect

    mounts = f"server:/export {root} nfs4 rw 0 0\n"
    assert fsdetect.is_network_filesystem(root / "runs" / "x", mounts)
    assert writer.is_network_filesystem is fsdetect.is_network_filesystem


CLASSIC_VICTIM = """
    import sys
    import localtrack
    from localtrack.store import writer
    writer.is_network_filesystem = lambda path: True  # as written before tail segments existed

    run = localtrack.init(project="old", id="old", dir=sys.argv[1],
                          settings=localtrack.Settings(system_metrics=False, console=False))
    for s in range(500):
        run.log({"a": s * 0.5})
    assert run.flush()
    print("flushed", flush=True)
    sys.stdin.readline()
"""


@pytest.mark.crash
def test_a_store_written_with_the_classic_tail_log_still_reads_and_recovers(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    child = Child(write_script(tmp_path, "old.py", CLASSIC_VICTIM), root)
    try:
        child.expect("flushed")
        child.kill9()
    finally:
        child.stop()
    paths = StoreRoot(root).run("old")
    assert (paths.dir / "tail-0000.log").exists() and list_chunks(paths.dir) == []
    history = StoreReader(root).history("old")
    np.testing.assert_array_equal(column(history, "a"), np.arange(500) * 0.5)
    assert recovery.repair_run(paths).problems == []
    assert not (paths.dir / "tail-0000.log").exists()
    assert StoreReader(root).history("old").equals(history)
    # and a resumed run writes mapped segments on top of it
    run = localtrack.init(project="old", id="old", dir=root, resume="allow", settings=QUIET)
    run.log({"a": 250.0})
    run.finish()
    np.testing.assert_array_equal(
        column(StoreReader(root).history("old"), "a"), np.arange(501) * 0.5
    )


def test_keyset_definitions_are_repeated_in_every_chunk(tmp_path: Path) -> None:
    segs = _segments(tmp_path, chunk_bytes=segwriter.MIN_CHUNK_BYTES)
    segs.intern(Keyset(("x",), ("float",)))
    append = segs.appender(("y",), ("int",))
    for s in range(10_000):
        append(s, {"y": s})
    last = read_chunk(chunk_path(tmp_path, 0, segs.chunks[-1].number))
    assert last is not None and last.table.num_rows and last.dtypes == {"y": "int"}
