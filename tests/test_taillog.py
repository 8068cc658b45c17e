"""The tail log under damage: torn at every byte, garbage appended, bits flipped.

Policy (taillog.py, FIELD-NOTES.md): a reader keeps every whole record and stops at the first
torn or corrupt one; ``repair`` truncates the file right after the last whole record; a
``TailWriter`` then appends cleanly. Nothing here may raise on damaged content. The last test
does the same to the tail of a real run whose writer was killed with SIGKILL.
"""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from localtrack.store import recovery, taillog
from localtrack.store.metrics import decode_batch
from localtrack.store.reader import StoreReader
from localtrack.store.root import StoreRoot
from localtrack.store.runmeta import load
from localtrack.store.taillog import MAGIC, RECORD_METRICS, TailWriter

from .store_fixtures import Child, column, write_script

HEADER = struct.Struct("<IIB")
RECORDS = [
    (RECORD_METRICS, b"first"),
    (RECORD_METRICS, bytes(range(256))),
    (7, b""),
    (RECORD_METRICS, b"\x00" * 120),
    (RECORD_METRICS, b"the last record"),
]
NEW_RECORD = (RECORD_METRICS, b"appended after repair")


def _write_log(path: Path, records: list[tuple[int, bytes]]) -> bytes:
    writer = TailWriter(path)
    for record_type, payload in records:
        writer.append(record_type, payload)
    writer.sync()
    writer.close()
    return path.read_bytes()


def _ends(records: list[tuple[int, bytes]]) -> list[int]:
    """Byte offset at which each record ends."""
    ends, pos = [], len(MAGIC)
    for _, payload in records:
        pos += HEADER.size + len(payload)
        ends.append(pos)
    return ends


def _found(path: Path) -> list[tuple[int, bytes]]:
    return [(r.type, r.payload) for r in taillog.scan(path).records]


def _append_new(path: Path) -> None:
    writer = TailWriter(path)
    writer.append(*NEW_RECORD)
    writer.close()


def _bad_crc_record() -> bytes:
    good = taillog.frame(RECORD_METRICS, b"looks fine")
    crc = HEADER.unpack_from(good)[0] ^ 0x1
    return HEADER.pack(crc, len(b"looks fine"), RECORD_METRICS) + b"looks fine"


def _crc_of(record_type: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(bytes([record_type])))


GARBAGE = {
    "one random byte": random.Random(1).randbytes(1),
    "random bytes": random.Random(2).randbytes(4096),
    "zero fill": b"\x00" * 512,
    "partial header": taillog.frame(RECORD_METRICS, b"abc")[:5],
    "header without payload": taillog.frame(RECORD_METRICS, b"abcdef")[: HEADER.size],
    "payload cut short": taillog.frame(RECORD_METRICS, b"0123456789")[:-3],
    "bad crc": _bad_crc_record(),
    "huge length": HEADER.pack(_crc_of(1, b""), 0xFFFFFFFF, RECORD_METRICS) + b"x" * 64,
    "length over the record limit": HEADER.pack(0, taillog.MAX_RECORD_BYTES + 1, 1) + b"y" * 64,
    "valid record after garbage": b"\xff" * 7 + taillog.frame(RECORD_METRICS, b"never reached"),
    "magic again": MAGIC + taillog.frame(RECORD_METRICS, b"second file"),
}


def test_taillog_round_trip_keeps_types_payloads_and_offsets(tmp_path: Path) -> None:
    path = tmp_path / "tail-0000.log"
    data = _write_log(path, RECORDS)
    scan = taillog.scan(path)
    assert [(r.type, r.payload) for r in scan.records] == RECORDS
    assert [r.offset for r in scan.records] == [len(MAGIC), *_ends(RECORDS)[:-1]]
    assert scan.valid_end == scan.file_size == len(data) and scan.damaged_bytes == 0
    assert taillog.repair(path) == 0 and path.read_bytes() == data


def test_taillog_scan_of_a_missing_or_empty_file_is_empty(tmp_path: Path) -> None:
    assert taillog.scan(tmp_path / "absent.log").records == []
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    assert taillog.scan(empty).records == [] and taillog.repair(empty) == 0


def test_taillog_truncated_at_every_byte_offset_keeps_every_whole_record(tmp_path: Path) -> None:
    source = tmp_path / "whole.log"
    data = _write_log(source, RECORDS)
    ends = _ends(RECORDS)
    path = tmp_path / "tail-0000.log"
    for cut in range(len(data) + 1):
        path.write_bytes(data[:cut])
        whole = [r for r, end in zip(RECORDS, ends, strict=True) if end <= cut]
        assert _found(path) == whole, f"cut at {cut}"
        valid_end = (ends[len(whole) - 1] if whole else len(MAGIC)) if cut >= len(MAGIC) else 0
        assert taillog.scan(path).valid_end == valid_end, f"cut at {cut}"

        assert taillog.repair(path) == cut - valid_end, f"cut at {cut}"
        repaired = path.read_bytes()
        assert repaired == (data[:valid_end] if cut >= len(MAGIC) else MAGIC[: 8 * (cut > 0)])
        _append_new(path)
        assert _found(path) == [*whole, NEW_RECORD], f"cut at {cut}"
        assert taillog.scan(path).damaged_bytes == 0


@pytest.mark.parametrize("garbage", GARBAGE.values(), ids=GARBAGE.keys())
def test_taillog_garbage_after_the_last_record_is_ignored_then_cut(
    tmp_path: Path, garbage: bytes
) -> None:
    path = tmp_path / "tail-0000.log"
    data = _write_log(path, RECORDS)
    with open(path, "ab") as f:
        f.write(garbage)
    scan = taillog.scan(path)
    assert [(r.type, r.payload) for r in scan.records] == RECORDS
    assert scan.valid_end == len(data) and scan.damaged_bytes == len(garbage)

    assert taillog.repair(path) == len(garbage)
    assert path.read_bytes() == data
    _append_new(path)
    assert _found(path) == [*RECORDS, NEW_RECORD]


@pytest.mark.parametrize("garbage", GARBAGE.values(), ids=GARBAGE.keys())
def test_taillog_writer_opened_on_a_damaged_file_appends_after_the_last_whole_record(
    tmp_path: Path, garbage: bytes
) -> None:
    path = tmp_path / "tail-0000.log"
    data = _write_log(path, RECORDS)
    with open(path, "ab") as f:
        f.write(garbage)
    _append_new(path)  # no explicit repair: TailWriter repairs on open
    assert _found(path) == [*RECORDS, NEW_RECORD]
    assert path.read_bytes() == data + taillog.frame(*NEW_RECORD)


@pytest.mark.parametrize("index", [0, 1, 3, 4])
@pytest.mark.parametrize(
    "where",
    ["crc", "length low byte", "length high byte", "type", "first payload byte", "last byte"],
)
def test_taillog_a_flipped_bit_stops_the_scan_at_that_record(
    tmp_path: Path, index: int, where: str
) -> None:
    path = tmp_path / "tail-0000.log"
    data = bytearray(_write_log(path, RECORDS))
    start = len(MAGIC) if index == 0 else _ends(RECORDS)[index - 1]
    end = _ends(RECORDS)[index]
    offset = {
        "crc": start,
        "length low byte": start + 4,
        "length high byte": start + 7,
        "type": start + 8,
        "first payload byte": start + 9,
        "last byte": end - 1,
    }[where]
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))
    assert _found(path) == RECORDS[:index]
    assert taillog.repair(path) == len(data) - start
    _append_new(path)
    assert _found(path) == [*RECORDS[:index], NEW_RECORD]


@pytest.mark.parametrize("damage", [b"LTTAIL2\n", b"\x00" * 8, b"garbage"])
def test_taillog_without_its_magic_reads_as_empty_and_restarts(
    tmp_path: Path, damage: bytes
) -> None:
    path = tmp_path / "tail-0000.log"
    data = _write_log(path, RECORDS)
    path.write_bytes(damage + data[len(damage) :])
    assert _found(path) == []
    taillog.repair(path)
    assert path.read_bytes() == MAGIC
    _append_new(path)
    assert _found(path) == [NEW_RECORD]


TORN_VICTIM = """
    import sys
    import localtrack

    from localtrack.store import writer
    writer.is_network_filesystem = lambda path: True  # the classic tail log (network filesystems)

    root, run_id = sys.argv[1:3]
    run = localtrack.init(project="tail", id=run_id, dir=root,
                          settings=localtrack.Settings(flush_interval=0.2, system_metrics=False))
    for chunk in range(6):
        for _ in range(25):
            s = run.step
            run.log({"a": s * 0.5, "b": s, "c": -s / 3})
        assert run.flush()
    print("flushed", run.step, flush=True)
    sys.stdin.readline()  # killed here
"""


@pytest.mark.crash
def test_taillog_of_a_killed_run_torn_anywhere_serves_every_whole_record(tmp_path: Path) -> None:
    root = tmp_path / "store"
    child = Child(write_script(tmp_path, "victim.py", TORN_VICTIM), root, "torn")
    try:
        assert child.expect("flushed") == "flushed 150"
        child.kill9()
    finally:
        child.stop()
    paths = StoreRoot(root).run("torn")
    tail = paths.tail(0)
    data = tail.read_bytes()
    records = taillog.scan(tail).records
    assert len(records) >= 6
    steps_per_record = [
        np.unique(decode_batch(r.payload).table.column("step").to_numpy()) for r in records
    ]
    ends = [r.offset + HEADER.size + len(r.payload) for r in records]
    assert ends[-1] == len(data)

    # inside the last two records: every header byte, the payload's edges and a stride between
    cuts = {len(data)}
    for record, end in zip(records[-2:], ends[-2:], strict=True):
        cuts.update(range(record.offset, record.offset + HEADER.size + 4))
        cuts.update(range(record.offset + HEADER.size, end, 61))
        cuts.update(range(end - 4, end))
    reader = StoreReader(root)
    for cut in sorted(cuts, reverse=True):  # truncating in place, from the end down
        with open(tail, "r+b") as f:
            f.truncate(cut)
        whole = sum(end <= cut for end in ends)
        served = reader.history("torn")
        expected_steps = np.concatenate(steps_per_record[:whole])
        steps = column(served, "step")
        assert np.array_equal(steps, np.arange(len(expected_steps))), f"cut at {cut}"
        np.testing.assert_array_equal(column(served, "a"), steps * 0.5)
        np.testing.assert_array_equal(column(served, "b"), steps)
        np.testing.assert_array_equal(column(served, "c"), -steps / 3)
        torn = cut not in (ends[whole - 1], len(data))
        assert any("tail-0000.log" in w for w in reader.data_warnings("torn")) == torn
        assert reader.run("torn").state == "crashed"

    with open(tail, "ab") as f:
        f.write(random.Random(3).randbytes(1000))
    before = reader.history("torn")
    assert before.num_rows == len(np.concatenate(steps_per_record[: len(records) - 2]))
    assert any("tail-0000.log" in w for w in reader.data_warnings("torn"))

    report = recovery.repair_run(paths)
    assert report.problems == []
    assert any("truncated 1000 damaged bytes" in a for a in report.actions)
    assert load(paths.run_json)["state"] == "crashed"
    after = StoreReader(root)
    assert after.history("torn").equals(before)
    assert after.data_warnings("torn") == []
