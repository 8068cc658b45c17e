"""The writer under faults: bad data, deterministic errors, rivals for one run id, disk full.

DESIGN.md §2 and §9, docs/security.md "Writing runs": a bad value costs only itself; an error
that repeats is never retried silently forever — the training thread gets RunWriteError and the
run ends ``failed`` with the reason; two processes never write one run; a failed media-log append
leaves no torn line. Writer behaviour is checked in real child processes; disk faults are
injected in-process at the store's own seams, as in test_enospc.py.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import localtrack
from localtrack.errors import RunWriteError
from localtrack.store import media, taillog, writer
from localtrack.store.badrows import rows_to_table_isolating
from localtrack.store.reader import StoreReader
from localtrack.store.root import StoreRoot
from localtrack.store.runmeta import load

from .store_fixtures import Child, column, raw_row_count, write_script

QUIET = localtrack.Settings(system_metrics=False, console=False)

BAD_STEP = """
    import sys
    import localtrack

    run = localtrack.init(project="p", dir=sys.argv[1], id="steps",
                          settings=localtrack.Settings(flush_interval=0.05))
    for s in range(1000):
        run.log({"a": float(s)})
    try:
        run.log({"a": -1.0}, step=2**63)
    except localtrack.UsageError as exc:
        print("refused", exc, flush=True)
    for s in range(1000, 2000):
        run.log({"a": float(s)})
    run.finish()
    print("done", flush=True)
"""


def test_step_beyond_int64_is_refused_and_every_other_row_is_written(
    tmp_path: Path, root: Path
) -> None:
    child = Child(write_script(tmp_path, "bad_step.py", BAD_STEP), root)
    try:
        assert "int64" in child.expect("refused")
        child.expect("done")
        assert child.wait() == 0, child.stderr_text
    finally:
        child.stop()
    history = StoreReader(root).history("steps", keys=["a"])
    np.testing.assert_array_equal(column(history, "step"), np.arange(2000))
    np.testing.assert_array_equal(column(history, "a"), np.arange(2000.0))
    assert load(StoreRoot(root).run("steps").run_json)["state"] == "finished"


SMUGGLER = """
    import sys, time, warnings
    import localtrack

    run = localtrack.init(project="p", dir=sys.argv[1], id="smuggled",
                          settings=localtrack.Settings(flush_interval=0.05, system_metrics=False))
    queue = run._writer.queue  # what a defect in log()'s validation would let through
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for s in range(60_000):
            run.log({"good": float(s)})
            if s == 20_000:
                queue.append((s, time.time(), {"a\\ud800": 1.0, "good": -1.0}))
            if s == 40_000:
                queue.append((2**63, time.time(), {"big": 1.0}))
        run.finish()
    print("done", flush=True)
    for w in caught:
        print("warned", w.category.__name__, str(w.message).encode("unicode_escape").decode())
"""


def test_writer_drops_only_the_bad_values_of_a_batch(tmp_path: Path, root: Path) -> None:
    child = Child(write_script(tmp_path, "smuggler.py", SMUGGLER), root)
    try:
        child.expect("done", timeout=120)
        assert child.wait() == 0, child.stderr_text
    finally:
        child.stop()
    warned = [line for line in iter(child.lines.get, None) if line.startswith("warned")]
    assert any("RuntimeWarning" in w and "a\\\\ud800" in w for w in warned), warned
    assert any("RuntimeWarning" in w and "'big'" in w for w in warned), warned
    history = StoreReader(root).history("smuggled", keys=["good"])
    good = column(history, "good")
    assert len(good) == 60_000, f"{60_000 - len(good)} good rows lost with the bad ones"
    expected = np.arange(60_000.0)
    expected[20_000] = -1.0  # the smuggled row's good value, logged later at the same step
    np.testing.assert_array_equal(good, expected)
    paths = StoreRoot(root).run("smuggled")
    assert raw_row_count(paths) == 60_001
    assert load(paths.run_json)["state"] == "finished"


def test_rows_to_table_isolating_reports_each_bad_value() -> None:
    rows = [(s, 1.0, {"x": float(s)}) for s in range(1000)]
    rows[10] = (10, 1.0, {"x": 10.0, "b\udc80ad": 2.0})
    rows[500] = (2**64, 1.0, {"x": 500.0})
    table, dropped = rows_to_table_isolating(rows)
    assert table.num_rows == 999
    assert [(d.key, d.step) for d in dropped] == [("b\udc80ad", 10), ("x", 2**64)]


BREAKER = """
    import sys
    import localtrack
    from localtrack.store import metrics, writer
    writer.is_network_filesystem = lambda path: True  # the classic path: encode_batch is its seam

    run = localtrack.init(project="p", dir=sys.argv[1], id="broken",
                          settings=localtrack.Settings(flush_interval=0.05, system_metrics=False))
    for s in range(100):
        run.log({"a": float(s)})
    assert run.flush(timeout=30)

    def encode_batch(*args, **kwargs):
        raise TypeError("a deterministic bug")

    metrics.encode_batch = encode_batch  # the writer imports it from metrics when it runs
    try:
        for s in range(100, 10**9):  # a training loop: it must hear about the failure
            run.log({"a": float(s)})
            if s % 100 == 0:
                run.flush(timeout=60)
    except localtrack.RunWriteError as exc:
        print("log raised", exc, flush=True)
    try:
        run.finish()
    except localtrack.RunWriteError as exc:
        print("finish raised", exc, flush=True)
    print("done", flush=True)
"""


def test_a_repeating_writer_error_reaches_the_training_loop_and_fails_the_run(
    tmp_path: Path, root: Path
) -> None:
    child = Child(write_script(tmp_path, "breaker.py", BREAKER), root)
    try:
        assert "a deterministic bug" in child.expect("log raised", timeout=120)
        assert "marked failed" in child.expect("finish raised")
        child.expect("done")
        assert child.wait() == 0, child.stderr_text
    finally:
        child.stop()
    meta = load(StoreRoot(root).run("broken").run_json)
    assert meta["state"] == "failed"
    assert "TypeError: a deterministic bug" in meta["failure"]
    assert StoreReader(root).run("broken").state == "failed"
    history = StoreReader(root).history("broken", keys=["a"])
    np.testing.assert_array_equal(column(history, "a")[:100], np.arange(100.0))


RIVAL = """
    import sys
    import localtrack

    root, tag = sys.argv[1], sys.argv[2]
    settings = localtrack.Settings(system_metrics=False, console=False, flush_interval=0.05)
    print("ready", flush=True)
    for line in sys.stdin:
        command, run_id = line.split()
        if command != "go":
            continue
        try:
            run = localtrack.init(project="race", id=run_id, dir=root, resume="allow",
                                  settings=settings)
        except localtrack.RunExistsError as exc:
            print("refused", exc, flush=True)
            continue
        print("started", run.step, flush=True)
        sys.stdin.readline()  # "finish": the rival has answered by now
        for s in range(100):
            run.log({f"by/{tag}": float(s)})
        run.finish()
        print("finished", flush=True)
"""
ROUNDS = 12


def test_two_processes_starting_one_new_run_id_exactly_one_writes_it(
    tmp_path: Path, root: Path
) -> None:
    script = write_script(tmp_path, "rival.py", RIVAL)
    rivals = [Child(script, root, tag) for tag in ("p0", "p1")]
    try:
        for rival in rivals:
            rival.expect("ready")
        for n in range(ROUNDS):
            run_id = f"race-{n}"
            for rival in rivals:  # both at once
                rival.send(f"go {run_id}")
            answers = [rival.next_line() or "" for rival in rivals]
            started = [i for i, a in enumerate(answers) if a.startswith("started")]
            assert len(started) == 1, f"round {n}: {answers}"
            loser = answers[1 - started[0]]
            assert loser.startswith("refused") and "being written right now" in loser, loser
            winner = rivals[started[0]]
            winner.send("finish")
            winner.expect("finished")
            tag = f"p{started[0]}"
            history = StoreReader(root).history(run_id)
            assert sorted(history.column_names) == [f"by/{tag}", "step", "wall_time"], n
            np.testing.assert_array_equal(column(history, f"by/{tag}"), np.arange(100.0))
            assert load(StoreRoot(root).run(run_id).run_json)["state"] == "finished"
        for rival in rivals:
            assert rival.wait() == 0, rival.stderr_text
    finally:
        for rival in rivals:
            rival.stop()


class FullDisk:
    """ENOSPC on `os.write` of one module while `full` is set, after one short write."""

    def __init__(self) -> None:
        self.full = threading.Event()
        self.refused = threading.Event()
        self.rolled_back = threading.Event()
        self._short_done = False

    def write(self, fd: int, data: Any) -> int:
        if self.full.is_set():
            if not self._short_done and len(data) > 1:
                self._short_done = True  # as the kernel does: part of it lands first
                return os.write(fd, bytes(data[: len(data) // 2]))
            self._short_done = False
            self.refused.set()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.write(fd, data)

    def ftruncate(self, fd: int, length: int) -> None:
        os.ftruncate(fd, length)
        if self.full.is_set():
            self.rolled_back.set()

    def patch(self, monkeypatch: pytest.MonkeyPatch, module: types.ModuleType) -> None:
        calls = {"write": self.write, "ftruncate": self.ftruncate}
        monkeypatch.setattr(module, "os", types.SimpleNamespace(**{**vars(os), **calls}))


def test_enospc_on_the_media_log_leaves_no_torn_line_and_no_duplicate(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk()
    disk.patch(monkeypatch, media)
    run = localtrack.init(project="p", dir=root, settings=localtrack.Settings(flush_interval=0.05))
    run.log({"h": localtrack.Histogram([0.0, 1.0])}, step=0)
    assert run.flush(timeout=30)
    disk.full.set()
    for step in range(1, 4):
        run.log({"h": localtrack.Histogram([float(step), 2.0]), "a": float(step)}, step=step)
    assert disk.rolled_back.wait(30), "the writer never tried (and failed) to append"
    log_path = StoreRoot(root).run(run.id).dir / "media" / "log-0000.jsonl"
    assert log_path.read_bytes().endswith(b"\n"), "a refused append left a torn line"
    disk.full.clear()
    assert run.flush(timeout=30)
    run.finish()
    lines = log_path.read_bytes().splitlines()
    steps = [json.loads(line)["step"] for line in lines]  # every line is whole JSON
    assert steps == [0, 1, 2, 3], f"duplicated or lost media records: {steps}"


@pytest.mark.usefixtures("classic_tail")  # mapped rows are on disk already
def test_finish_deadline_with_rows_still_in_memory_marks_the_run_failed(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    real_write_shard = writer.write_shard

    def stuck_write_shard(*args: Any, **kwargs: Any) -> Any:
        release.wait(60)
        return real_write_shard(*args, **kwargs)

    monkeypatch.setattr(writer, "write_shard", stuck_write_shard)
    settings = localtrack.Settings(flush_interval=3600, finish_timeout=0.5, system_metrics=False)
    run = localtrack.init(project="p", dir=root, settings=settings)
    for s in range(100):
        run.log({"a": float(s)})  # never flushed: in memory when finish() starts
    try:
        with pytest.raises(RunWriteError, match="100 logged values never reached the disk"):
            run.finish()
    finally:
        release.set()
    meta = load(StoreRoot(root).run(run.id).run_json)
    assert meta["state"] == "failed" and "gave up after" in meta["failure"]


@pytest.mark.usefixtures("classic_tail")  # faults injected into the classic tail log
def test_disk_full_for_shard_and_tail_at_finish_marks_the_run_failed(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tail_disk = FullDisk()
    tail_disk.patch(monkeypatch, taillog)
    real_write_shard = writer.write_shard

    def full_write_shard(*args: Any, **kwargs: Any) -> Any:
        if tail_disk.full.is_set():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write_shard(*args, **kwargs)

    monkeypatch.setattr(writer, "write_shard", full_write_shard)
    settings = localtrack.Settings(flush_interval=3600, system_metrics=False)
    run = localtrack.init(project="p", dir=root, settings=settings)
    run.log({"a": 0.0})
    assert run.flush(timeout=30)
    tail_disk.full.set()
    for s in range(1, 50):
        run.log({"a": float(s)})
    with pytest.raises(RunWriteError, match="49 logged values never reached the disk"):
        run.finish()
    meta = load(StoreRoot(root).run(run.id).run_json)
    assert meta["state"] == "failed", "a run that lost rows reads as finished"
    tail_disk.full.clear()
    assert StoreReader(root).history(run.id)["a"].to_pylist() == [0.0]


@pytest.mark.usefixtures("classic_tail")  # faults injected into the classic tail log
def test_a_transient_error_that_lasts_many_rounds_never_fails_the_run(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk()
    disk.patch(monkeypatch, taillog)
    run = localtrack.init(project="p", dir=root, settings=localtrack.Settings(flush_interval=0.01))
    disk.full.set()
    run.log({"a": 1.0})
    deadline = time.monotonic() + 60
    rounds = 0
    while rounds < 20 and time.monotonic() < deadline:  # far more rounds than REPEATS
        disk.refused.clear()
        assert disk.refused.wait(30)
        rounds += 1
        run.log({"a": 1.0})  # must not raise
    assert rounds == 20
    disk.full.clear()
    assert run.flush(timeout=30)
    run.finish()
    assert load(StoreRoot(root).run(run.id).run_json)["state"] == "finished"


def test_only_whole_media_log_names_are_read(root: Path) -> None:
    run = localtrack.init(project="p", dir=root, settings=QUIET)
    run.log({"h": localtrack.Histogram([0.0, 1.0])})
    run.finish()
    directory = run.dir / "media"
    real = (directory / "log-0000.jsonl").read_bytes()
    (directory / "log-0001.jsonl\n").write_bytes(real)  # not a media log: a trailing newline
    (directory / "log-0002.jsonl.bak").write_bytes(real)
    assert [item.step for item in StoreReader(root).media(run.id)] == [0]
