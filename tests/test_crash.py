"""kill -9 a process that logs in a tight loop, at random moments, and check what survives.

DESIGN.md §2 and §8: a crash loses at most about one second of logged data and nothing logged
before ``flush()`` returned; the index is never corrupt; a dead writer reads as "crashed";
recovery and reindex give back exactly the same data; a resumed run continues its step counter
and never overwrites what an earlier segment wrote.

The victim writes ``"<step> <time.time()>"`` to a progress file every 64 steps, right after
``run.log()`` returned for that step (line-buffered, so each line is one write(2), which survives
SIGKILL). That is a chatty training loop: a small write every few hundred microseconds, which
also keeps the background writer honest about sharing the GIL.

What must survive is computed from events, not from wall-clock time (a loaded machine can stall
the writer for seconds, so "logged more than 1 s before the kill" was a guess that failed there):
at a random moment (delays from ``CRASH_SEED``, printed; set it to replay a failure) the test notes
the last reported step s0, waits until the writer has landed s0 in a whole record on disk (the
tail log's last record, or the newest shard right after a seal), and kills at once. Every step
≤ s0 must then survive, read back exactly, and survive repair and reindex. (Counting "two tail
writes after the moment" is not enough: one writer round can append several batches out of a
queue it measured before the moment.) The ≤ 1 s budget of §8 is the writer's default flush
interval (0.5 s) and is not asserted on wall-clock time here.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from localtrack.store import recovery
from localtrack.store.layout import RunPaths, parse_shard_name
from localtrack.store.reader import StoreReader
from localtrack.store.root import StoreRoot
from localtrack.store.runfiles import read_tail_batches
from localtrack.store.runmeta import load

from .store_fixtures import Child, column, integrity_check, raw_row_count, tmp_files, write_script

pytestmark = pytest.mark.crash

SEED = int(os.environ.get("CRASH_SEED") or time.time_ns() % 1_000_000)
# random kill moments per run (12 in CI; CRASH_KILLS=200 for a deeper search by hand)
KILL_ITERATIONS = int(os.environ.get("CRASH_KILLS") or 12)
KILL_DELAY_S = (0.3, 2.5)
DURABLE_WAIT_S = 120.0  # outer bound for two writer rounds to land, however loaded the machine
SEAL_DEFAULT = 1_000_000
SEAL_SMALL = 40_000  # seals (and compactions) every few rounds, so kills land inside them
RUN_ID = "victim"
KEYS = ("even", "segment", "train/half", "train/loss")

VICTIM = """
    import sys, time
    import localtrack

    root, run_id, progress_path, mode = sys.argv[1:5]
    segment, seal_scalars, before_flush = (int(a) for a in sys.argv[5:8])
    run = localtrack.init(  # default flush interval: the budget is for what users get
        project="crash", name="victim", id=run_id, dir=root, resume="allow",
        settings=localtrack.Settings(seal_scalars=seal_scalars),
    )
    progress = open(progress_path, "a", buffering=1)
    print("ready", run.step, flush=True)

    def log_one():
        s = run.step
        run.log({
            "train/loss": 1.0 / (s + 1) + segment,
            "train/half": s * 0.5,
            "segment": segment,
            "even": s % 2 == 0,
        })
        if s % 64 == 0:
            progress.write(f"{s} {time.time()!r}\\n")

    if mode == "flush":
        for _ in range(before_flush):
            log_one()
        ok = run.flush()
        print("flushed", run.step - 1, ok, flush=True)
    while True:
        log_one()
"""


def _victim(
    tmp_path: Path,
    root: Path,
    tag: str,
    segment: int = 0,
    seal: int = SEAL_DEFAULT,
    mode: str = "loop",
    before_flush: int = 0,
) -> tuple[Child, Path]:
    script = tmp_path / "victim.py"
    if not script.exists():
        write_script(tmp_path, "victim.py", VICTIM)
    progress = tmp_path / f"progress-{tag}.txt"
    child = Child(script, root, RUN_ID, progress, mode, segment, seal, before_flush)
    return child, progress


def _progress(path: Path) -> list[tuple[int, float]]:
    """The victim's (step, time) reports; a torn last line is ignored."""
    reports = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            reports.append((int(parts[0]), float(parts[1])))
    return reports


def _last_reported(progress: Path) -> int:
    """The last step the victim reported as logged (-1: none yet)."""
    reports = _progress(progress)
    return reports[-1][0] if reports else -1


def _newest_step_on_disk(paths: RunPaths, segment: int) -> int:
    """The highest step of `segment` in a whole record on disk: the tail log's last record, or
    (right after a seal empties it) the newest shard (-1: none).

    The tail log is read before the shards are listed: a seal writes its shard before it empties
    the tail log, so a seal in between never hides a step.
    """
    batches, _ = read_tail_batches(paths, segment)  # the tail log's records, or mapped chunks
    if batches:
        steps = batches[-1].table.column("step")
        return int(pc.max(steps).as_py()) if len(steps) else -1
    shards = [
        (name.last_batch, path)
        for path in paths.metrics.glob("*.parquet")
        if (name := parse_shard_name(path.name)) is not None and name.segment == segment
    ]
    if not shards:
        return -1
    try:
        steps = pq.read_table(max(shards)[1], columns=["step"]).column("step")
    except FileNotFoundError:
        return -1  # compacted away while we looked: ask again
    return int(pc.max(steps).as_py()) if len(steps) else -1


def _kill_after_durable(
    child: Child, progress: Path, root: Path, segment: int, rng: random.Random
) -> int:
    """Kill the victim at a random moment, once what it logged before that moment is on disk;
    returns the step every earlier one of which must survive (see the module docstring).
    The caller has seen the victim's "ready" line."""
    time.sleep(rng.uniform(*KILL_DELAY_S))  # the point of the test: a random moment
    guaranteed = _last_reported(progress)
    paths = StoreRoot(root).run(RUN_ID)
    deadline = time.monotonic() + DURABLE_WAIT_S
    while (newest := _newest_step_on_disk(paths, segment)) < guaranteed:
        assert child.proc.poll() is None, f"the victim died on its own:\n{child.stderr_text}"
        assert time.monotonic() < deadline, (
            f"CRASH_SEED={SEED}: waited {DURABLE_WAIT_S} s for the writer to land step "
            f"{guaranteed} of segment {segment} in a whole record on disk; the newest is {newest}"
        )
        time.sleep(0.02)
    child.kill9()
    return guaranteed


def _assert_exact(history: pa.Table, segment_starts: list[int]) -> None:
    """Steps are 0..n-1 with no holes, and every value is exactly what the victim logged."""
    steps = column(history, "step")
    assert np.array_equal(steps, np.arange(len(steps))), "steps are not a contiguous prefix"
    if not len(steps):
        return
    assert set(history.column_names) == {"step", "wall_time", *KEYS}
    segment = np.searchsorted(np.asarray(segment_starts), steps, side="right") - 1
    np.testing.assert_array_equal(column(history, "segment"), segment)
    np.testing.assert_array_equal(column(history, "train/loss"), 1.0 / (steps + 1) + segment)
    np.testing.assert_array_equal(column(history, "train/half"), steps * 0.5)
    np.testing.assert_array_equal(column(history, "even"), steps % 2 == 0)


def _check_killed_run(root: Path, segment_starts: list[int]) -> pa.Table:
    """What must hold right after a kill, before any repair; returns the history read."""
    reader = StoreReader(root)
    assert reader.run(RUN_ID).state == "crashed"
    assert [(r.id, r.state) for r in reader.runs()] == [(RUN_ID, "crashed")]
    history = reader.history(RUN_ID)
    _assert_exact(history, segment_starts)
    paths = StoreRoot(root).run(RUN_ID)
    rows = raw_row_count(paths, KEYS)
    assert rows == history.num_rows * len(KEYS), f"{rows} stored rows: duplicates or partial steps"
    assert integrity_check(root) == "ok"
    return history


def _repair_and_compare(root: Path, before: pa.Table) -> None:
    """repair_run + reindex succeed, and the data reads back identically."""
    store = StoreRoot(root)
    paths = store.run(RUN_ID)
    report = recovery.repair_run(paths)
    assert report.problems == []
    assert recovery.reindex(store) == (1, [])
    assert integrity_check(root) == "ok"
    assert load(paths.run_json)["state"] == "crashed"
    assert tmp_files(paths.dir) == []
    assert recovery.check_run(paths).problems == []
    reader = StoreReader(root)
    assert reader.run(RUN_ID).state == "crashed"
    after = reader.history(RUN_ID)
    assert after.equals(before)
    n = after.num_rows
    stats = {k.key: (k.count, k.last_step) for k in reader.metric_keys(RUN_ID)}
    stats = {k: v for k, v in stats.items() if not k.startswith("system/")}
    assert stats == ({key: (n, n - 1) for key in KEYS} if n else {})  # each row stored once


@pytest.mark.parametrize("iteration", range(KILL_ITERATIONS))
def test_crash_kill9_at_random_moment_keeps_everything_that_reached_disk(
    tmp_path: Path, iteration: int
) -> None:
    rng = random.Random(f"{SEED}-{iteration}")
    seal = SEAL_SMALL if iteration % 2 else SEAL_DEFAULT
    print(f"CRASH_SEED={SEED} iteration={iteration} seal_scalars={seal}")
    root = tmp_path / "store"
    child, progress = _victim(tmp_path, root, "a", seal=seal)
    try:
        child.expect("ready")
        guaranteed = _kill_after_durable(child, progress, root, 0, rng)
    finally:
        child.stop()
    assert child.stderr_text == ""
    history = _check_killed_run(root, [0])
    _repair_and_compare(root, history)
    assert guaranteed < history.num_rows, (
        f"CRASH_SEED={SEED}: steps {history.num_rows}..{guaranteed} were logged two writer "
        f"rounds before the kill but are gone (last reported: {_progress(progress)[-1:]})"
    )


def test_crash_resume_after_kill9_continues_the_step_counter_without_overwriting(
    tmp_path: Path,
) -> None:
    rng = random.Random(f"{SEED}-resume")
    print(f"CRASH_SEED={SEED} resume")
    root = tmp_path / "store"
    first, progress_a = _victim(tmp_path, root, "a", seal=SEAL_SMALL)
    try:
        first.expect("ready")
        guaranteed_a = _kill_after_durable(first, progress_a, root, 0, rng)
    finally:
        first.stop()
    before = _check_killed_run(root, [0])
    resumed_at = before.num_rows

    second, progress_b = _victim(tmp_path, root, "b", segment=1, seal=SEAL_SMALL)
    try:
        assert second.expect("ready") == f"ready {resumed_at}"
        guaranteed_b = _kill_after_durable(second, progress_b, root, 1, rng)
    finally:
        second.stop()
    assert first.stderr_text == second.stderr_text == ""
    after = _check_killed_run(root, [0, resumed_at])
    assert after.num_rows >= resumed_at
    assert after.slice(0, resumed_at).equals(before), "the resumed segment changed earlier rows"
    segments = load(StoreRoot(root).run(RUN_ID).run_json)["segments"]
    assert [(s["segment"], s["first_step"]) for s in segments] == [(0, 0), (1, resumed_at)]
    _repair_and_compare(root, after)
    assert guaranteed_a < resumed_at
    assert guaranteed_b < after.num_rows, f"CRASH_SEED={SEED}: lost steps up to {guaranteed_b}"


@pytest.mark.parametrize(
    ("before_flush", "seal"),
    [
        (1, SEAL_DEFAULT),
        (5_000, SEAL_DEFAULT),
        (5_000, 1_000),
        (150_000, SEAL_SMALL),
    ],
)
def test_crash_kill9_right_after_flush_loses_nothing_flushed(
    tmp_path: Path, before_flush: int, seal: int
) -> None:
    root = tmp_path / "store"
    child, _ = _victim(tmp_path, root, "a", seal=seal, mode="flush", before_flush=before_flush)
    try:
        child.expect("ready")
        line = child.expect("flushed")
        child.kill9()  # immediately: the victim is back in its tight loop
    finally:
        child.stop()
    assert line == f"flushed {before_flush - 1} True"
    history = _check_killed_run(root, [0])
    assert history.num_rows >= before_flush
    from localtrack.cli.main import cli  # here: a broken CLI fails only this test

    listed = CliRunner().invoke(cli, ["runs", "--dir", str(root), "--json"])
    assert listed.exit_code == 0, listed.output
    assert [(r["id"], r["state"]) for r in json.loads(listed.output)] == [(RUN_ID, "crashed")]
    _repair_and_compare(root, history)
    doctor = CliRunner().invoke(cli, ["doctor", "--dir", str(root), "--json"])
    assert doctor.exit_code == 0 and json.loads(doctor.output)["problems"] == 0, doctor.output
