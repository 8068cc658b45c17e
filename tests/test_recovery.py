"""Recovery: damaged shards, crash debris, a lost index and stale runs (DESIGN.md §2, §4).

Damaged files are detected, reported and quarantined, never served and never fatal; stray
partial files are deleted; a shard renamed but never indexed is adopted; compaction debris never
shows up as duplicates; ``reindex`` rebuilds the index so that every query answers exactly as
before; a run whose writer is gone reads as "crashed" and ``repair_run`` records it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import localtrack
from localtrack.store import recovery
from localtrack.store.layout import RunPaths, ShardName
from localtrack.store.metrics import rows_to_table, sort_rows
from localtrack.store.reader import StoreReader
from localtrack.store.root import StoreRoot
from localtrack.store.runmeta import load, save
from localtrack.store.shards import read_shard, write_shard

from .store_fixtures import Child, column, index_rows, raw_row_count, tmp_files, write_script
from .webui_fixtures import wait_for

STEPS_PER_SHARD = 50
KEYS = ("acc", "loss", "n", "ok")
DTYPES = {"acc": "float", "loss": "float", "n": "int", "ok": "bool"}
# Only explicit flushes make batches, each sealed into its own shard; no sampler rows.
QUIET = localtrack.Settings(flush_interval=3600, seal_scalars=100, system_metrics=False)


def _values(step: int) -> dict[str, Any]:
    return {"acc": step * 0.01, "loss": 1 / (step + 1), "n": step, "ok": step % 2 == 0}


def _make_run(root: Path, shards: int = 3, exit_code: int = 0, **init: Any) -> RunPaths:
    """A finished run with one shard per STEPS_PER_SHARD steps (no compaction below 4)."""
    run = localtrack.init(dir=root, settings=QUIET, **{"project": "p", **init})
    for _ in range(shards):
        for _ in range(STEPS_PER_SHARD):
            run.log(_values(run.step))
        assert run.flush()
    run.finish(exit_code=exit_code)
    return StoreRoot(root).run(run.id)


def _shard_names(paths: RunPaths) -> list[str]:
    return sorted(p.name for p in paths.metrics.glob("*.parquet"))


def _assert_steps(history: pa.Table, steps: np.ndarray) -> None:
    """The history holds exactly `steps`, each with exactly the logged values."""
    np.testing.assert_array_equal(column(history, "step"), steps)
    np.testing.assert_array_equal(column(history, "acc"), steps * 0.01)
    np.testing.assert_array_equal(column(history, "loss"), 1 / (steps + 1))
    np.testing.assert_array_equal(column(history, "n"), steps)
    np.testing.assert_array_equal(column(history, "ok"), steps % 2 == 0)


def _indexed_shards(root: Path, run_id: str) -> dict[str, str]:
    return dict(index_rows(root, "SELECT name, sha256 FROM shards WHERE run_id=?", run_id))


def _flip(data: bytes, offset: int) -> bytes:
    damaged = bytearray(data)
    damaged[offset] ^= 0x10
    return bytes(damaged)


def _value_page_middle(data: bytes, path: Path) -> int:
    chunk = pq.ParquetFile(path).metadata.row_group(0).column(2)  # the "value" column
    return chunk.data_page_offset + chunk.total_compressed_size // 2


DAMAGE: dict[str, Callable[[bytes, Path], bytes]] = {
    "truncated to nothing": lambda d, p: b"",
    "truncated to its magic": lambda d, p: d[:4],
    "truncated in half": lambda d, p: d[: len(d) // 2],
    "last byte missing": lambda d, p: d[:-1],
    "footer length missing": lambda d, p: d[:-8],
    "bit flip in a value page": lambda d, p: _flip(d, _value_page_middle(d, p)),
    "bit flip in the footer length": lambda d, p: _flip(d, len(d) - 6),
    "bit flip in the trailing magic": lambda d, p: _flip(d, len(d) - 1),
    "zeroed tail (lost writeback)": lambda d, p: d[: len(d) // 2] + bytes(len(d) - len(d) // 2),
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_recovery_damaged_shard_is_reported_others_served_then_quarantined(
    root: Path, damage: Callable[[bytes, Path], bytes]
) -> None:
    paths = _make_run(root)
    names = _shard_names(paths)
    assert len(names) == 3
    bad = paths.metrics / names[1]  # steps 50..99
    bad.write_bytes(damage(bad.read_bytes(), bad))
    survivors = np.r_[0:50, 100:150]

    reader = StoreReader(root)
    _assert_steps(reader.history(paths.run_id), survivors)
    warnings_before_repair = reader.data_warnings(paths.run_id)
    doctor = recovery.check_run(paths).problems
    assert any(names[1] in p for p in doctor) and not any(
        n in p for p in doctor for n in names[::2]
    )
    assert bad.exists(), "check_run must not change anything"

    report = recovery.repair_run(paths)
    assert [p for p in report.problems if names[1] in p] == report.problems != []
    assert any("quarantined" in a and names[1] in a for a in report.actions)
    assert _shard_names(paths) == [names[0], names[2]]
    assert [p.name.startswith(names[1]) for p in paths.quarantine.iterdir()] == [True]
    assert recovery.reindex(StoreRoot(root)) == (1, [])
    after = StoreReader(root)
    _assert_steps(after.history(paths.run_id), survivors)
    assert {k.key: k.count for k in after.metric_keys(paths.run_id)} == dict.fromkeys(KEYS, 100)
    assert recovery.check_run(paths).problems == []

    assert len(warnings_before_repair) == 1 and names[1] in warnings_before_repair[0]
    assert after.data_warnings(paths.run_id) == []


def test_recovery_shard_whose_sha256_no_longer_matches_is_caught_by_doctor(root: Path) -> None:
    """A changed byte that Parquet itself does not check (the leading magic) still fails the
    sha256 recorded when the shard was sealed: doctor reports it, repair quarantines it."""
    paths = _make_run(root)
    names = _shard_names(paths)
    bad = paths.metrics / names[1]
    assert (
        _indexed_shards(root, paths.run_id)[names[1]]
        == hashlib.sha256(bad.read_bytes()).hexdigest()
    )
    bad.write_bytes(_flip(bad.read_bytes(), 0))

    assert any(names[1] in p for p in recovery.check_run(paths).problems)
    report = recovery.repair_run(paths)
    assert any(names[1] in p for p in report.problems)
    assert names[1] not in _shard_names(paths)


FLIP_PROBE = """
    import sys
    from pathlib import Path
    from localtrack.store.reader import StoreReader

    root, run_id, shard, start = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    original = shard.read_bytes()
    reader = StoreReader(root)
    want_history = reader.history(run_id)
    want_x, want_y = reader.points(run_id, "acc")
    footer = len(original) - 8 - int.from_bytes(original[-8:-4], "little")
    offsets = [o for o in range(start, len(original)) if o >= footer - 64 or o % 16 == 0]
    print("ready", flush=True)
    for offset in offsets:
        print("try", offset, flush=True)
        damaged = bytearray(original)
        damaged[offset] ^= 0x10
        shard.write_bytes(bytes(damaged))
        reader = StoreReader(root)  # no cached reads
        try:
            history = reader.history(run_id)
            x, y = reader.points(run_id, "acc")
        except Exception as exc:
            print("raised", offset, repr(exc)[:200], flush=True)
            continue
        finally:
            shard.write_bytes(original)
        if history.num_rows == 0 and len(x) == 0:
            continue  # detected: nothing of the only shard is served
        if history.equals(want_history) and len(x) == len(want_x) and (x == want_x).all() \
                and (y == want_y).all():
            continue  # the flip did not change what is served
        print("served", offset, f"{history.num_rows} rows, column types "
              f"{[str(t) for t in history.schema.types]}, {len(x)} points of acc", flush=True)
    print("done", flush=True)
"""


PROBE_START_S = 120.0  # outer bound for the probe to import and read the intact run
PROBE_HANG_S = 60.0  # one damaged read taking this long is a hang (it takes milliseconds)


@pytest.mark.slow
def test_recovery_single_bit_flips_are_detected_or_harmless_never_served_or_hanging(
    tmp_path: Path, root: Path
) -> None:
    """Flip one bit at every footer byte (and every 16th byte elsewhere) of a run's only shard:
    the reader either serves nothing of it or exactly the original data; it never serves
    different data, raises, crashes or hangs. The probe runs in a child so that a hang or an
    abort inside Parquet is observed, reported by offset, and the probe resumes after it."""
    paths = _make_run(root, shards=1)
    shard = paths.metrics / _shard_names(paths)[0]
    original = shard.read_bytes()
    script = write_script(tmp_path, "flip_probe.py", FLIP_PROBE)
    failures: list[str] = []
    start: int | None = 0
    while start is not None:
        probe, offset, start = Child(script, root, paths.run_id, shard, start), None, None
        try:
            # start-up (imports, the first reads) may take long on a busy machine: no hang yet
            probe.expect("ready", timeout=PROBE_START_S)
            while (line := probe.next_line(timeout=PROBE_HANG_S)) != "done":
                if line is None:
                    probe.wait()
                    failures.append(
                        f"offset {offset}: the reader killed the process "
                        f"(exit {probe.proc.returncode}): {probe.stderr_text[-200:]!r}"
                    )
                    start = offset + 1 if offset is not None else None
                    break
                word, value = line.split(" ", 1)
                if word == "try":
                    offset = int(value)
                else:
                    failures.append(f"offset {offset}: the reader {word} {value.split(' ', 1)[1]}")
        except TimeoutError:
            failures.append(f"offset {offset}: the reader hung")
            start = offset + 1 if offset is not None else None
        finally:
            probe.stop()
            shard.write_bytes(original)
    assert not failures, "\n".join(failures)


PARTIALS = {
    "a shard being sealed": ("metrics", ".0000-000000004-000000004.parquet.tmp"),
    "run.json being replaced": (".", ".run.json.tmp"),
    "a run file being captured": ("files", ".requirements.txt.tmp"),
}


@pytest.mark.parametrize(("folder", "name"), PARTIALS.values(), ids=PARTIALS.keys())
def test_recovery_stray_partial_files_are_ignored_then_removed(
    root: Path, folder: str, name: str
) -> None:
    """A crash mid-publish leaves `.<name>.tmp`; readers ignore it and repair deletes it."""
    paths = _make_run(root)
    names = _shard_names(paths)
    before = StoreReader(root).history(paths.run_id)
    partial = paths.dir / folder / name
    partial.parent.mkdir(exist_ok=True)
    partial.write_bytes((paths.metrics / names[0]).read_bytes()[:500])

    reader = StoreReader(root)
    assert reader.history(paths.run_id).equals(before)
    assert reader.run(paths.run_id).state == "finished"
    assert reader.data_warnings(paths.run_id) == []
    assert any(name in p for p in recovery.check_run(paths).problems)
    report = recovery.repair_run(paths)
    assert report.problems == []
    where = name if folder == "." else f"{folder}/{name}"
    assert [a for a in report.actions if "partial" in a] == [f"removed partial file {where}"]
    assert tmp_files(paths.dir) == []
    assert _shard_names(paths) == names
    assert StoreReader(root).history(paths.run_id).equals(before)


def test_recovery_shard_renamed_but_not_indexed_is_served_then_adopted(root: Path) -> None:
    """The writer died between publishing a shard and recording it in the index."""
    paths = _make_run(root)
    assert len(_indexed_shards(root, paths.run_id)) == 3
    steps = range(150, 200)
    rows = [(s, time.time(), {**_values(s), "extra": s * 2.0}) for s in steps]
    name = ShardName(0, 4, 4)
    info = write_shard(
        paths.shard(name), name, sort_rows([rows_to_table(rows)]), {**DTYPES, "extra": "float"}
    )
    assert name.filename not in _indexed_shards(root, paths.run_id)

    reader = StoreReader(root)
    history = reader.history(paths.run_id)
    assert "extra" in history.column_names, "history() must show every key on disk"
    _assert_steps(history, np.arange(200))
    assert history.column("extra").to_pylist() == [None] * 150 + [s * 2.0 for s in steps]

    assert recovery.repair_run(paths).problems == []
    assert recovery.reindex(StoreRoot(root)) == (1, [])
    assert _indexed_shards(root, paths.run_id)[name.filename] == info.sha256
    assert info.sha256 == hashlib.sha256(paths.shard(name).read_bytes()).hexdigest()
    counts = {k.key: k.count for k in StoreReader(root).metric_keys(paths.run_id)}
    assert counts == {**dict.fromkeys(KEYS, 200), "extra": 50}
    assert StoreReader(root).history(paths.run_id).equals(history)


@pytest.mark.parametrize("already_deleted", [0, 1, 2])
def test_recovery_compaction_debris_reads_without_duplicates(
    root: Path, already_deleted: int
) -> None:
    """The writer died after publishing a merged shard, before deleting what it covers."""
    paths = _make_run(root)
    names = _shard_names(paths)
    before = StoreReader(root).history(paths.run_id)
    tables = [read_shard(paths.metrics / n)[0] for n in names]
    merged = ShardName(0, 1, 3)
    write_shard(paths.shard(merged), merged, sort_rows(tables), DTYPES)
    for n in names[:already_deleted]:
        (paths.metrics / n).unlink()

    reader = StoreReader(root)
    assert reader.history(paths.run_id).equals(before)
    assert raw_row_count(paths) == 150 * len(KEYS)
    assert reader.long_table(paths.run_id).num_rows == 150 * len(KEYS)
    warnings = reader.data_warnings(paths.run_id)

    report = recovery.repair_run(paths)
    assert report.problems == []
    removed = [a for a in report.actions if "merged shard" in a]
    assert len(removed) == 3 - already_deleted
    assert _shard_names(paths) == [merged.filename]
    assert recovery.reindex(StoreRoot(root)) == (1, [])
    assert list(_indexed_shards(root, paths.run_id)) == [merged.filename]
    after = StoreReader(root)
    assert after.history(paths.run_id).equals(before)
    assert {k.key: k.count for k in after.metric_keys(paths.run_id)} == dict.fromkeys(KEYS, 150)
    assert warnings == []


KILLED = """
    import sys
    import localtrack

    root, run_id = sys.argv[1:3]
    run = localtrack.init(project="p", name="killed", id=run_id, dir=root,
                          config={"lr": 0.5}, settings=localtrack.Settings(system_metrics=False))
    for s in range(120):
        run.log({"acc": s * 0.01, "loss": 1 / (s + 1), "n": s, "ok": s % 2 == 0})
    assert run.flush()
    print("flushed", flush=True)
    sys.stdin.readline()  # killed here
"""


def _killed_run(tmp_path: Path, root: Path, run_id: str = "killed") -> RunPaths:
    child = Child(write_script(tmp_path, "killed.py", KILLED), root, run_id)
    try:
        child.expect("flushed")
        child.kill9()
    finally:
        child.stop()
    assert child.stderr_text == ""
    return StoreRoot(root).run(run_id)


def _snapshot(root: Path) -> dict[str, Any]:
    """Every query result, as plain Python data."""
    reader = StoreReader(root)
    runs = reader.runs()
    return {
        "runs": [{**_fields(r), "meta": r.meta} for r in runs],
        "projects": [dataclasses.asdict(p) for p in reader.projects()],
        "keys": {r.id: [dataclasses.asdict(k) for k in reader.metric_keys(r.id)] for r in runs},
        "history": {r.id: reader.history(r.id).to_pydict() for r in runs},
        "series": {r.id: _plain(reader.series(r.id, "loss", buckets=10)) for r in runs},
    }


def _fields(info: Any) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(info).items() if k != "meta_json"}


def _plain(series: Any) -> dict[str, Any]:
    return {
        f.name: (v.tolist() if isinstance(v := getattr(series, f.name), np.ndarray) else v)
        for f in dataclasses.fields(series)
    }


def _diff(a: Any, b: Any) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted({*a, *b} - {k for k in a if k in b and a[k] == b[k]})
        return "; ".join(
            f"[{k!r}] {a.get(k, '<missing>')!r} != {b.get(k, '<missing>')!r}" for k in keys
        )
    return f"{a!r} != {b!r}"


def _differences(want: dict[str, Any], got: dict[str, Any]) -> list[str]:
    out = []
    for part in want:
        if want[part] == got[part]:
            continue
        if part in ("runs", "projects"):
            for a, b in zip(want[part], got[part], strict=False):
                out += [
                    f"{part} {a.get('id', a.get('name'))}.{f}: {_diff(a[f], b.get(f))}"
                    for f in a
                    if a[f] != b.get(f)
                ]
            if len(want[part]) != len(got[part]):
                out.append(f"{part}: {len(want[part])} != {len(got[part])}")
        elif part == "keys":
            for run_id, keys in want[part].items():
                out += [
                    f"metric_keys {run_id}: {a} != {b}"
                    for a, b in zip(keys, got[part].get(run_id, []), strict=False)
                    if a != b
                ]
                if len(keys) != len(got[part].get(run_id, [])):
                    out.append(f"metric_keys {run_id}: different keys")
        else:
            out.append(f"{part} differs")
    return out


@pytest.mark.crash
def test_recovery_index_deleted_then_reindex_answers_every_query_identically(
    tmp_path: Path, root: Path
) -> None:
    merged = localtrack.init(
        project="p", name="merged", dir=root, config={"lr": 0.1}, tags=["b", "a"], settings=QUIET
    )
    for _ in range(6):  # six sealed batches: four of them are compacted into one shard
        for _ in range(STEPS_PER_SHARD):
            s = merged.step
            merged.log({**_values(s), "wave": math.sin(s) * 1e3})
        assert merged.flush()
    merged.summary["best"] = 0.25
    merged.finish()
    _make_run(root, shards=2, exit_code=1, project="q", name="failed")
    _killed_run(tmp_path, root)
    reader = StoreReader(root)
    assert sorted(r.state for r in reader.runs()) == ["crashed", "failed", "finished"]

    want = _snapshot(root)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{root / 'index.db'}{suffix}").unlink(missing_ok=True)
    without_index = _snapshot(root)
    assert recovery.reindex(StoreRoot(root)) == (3, [])
    rebuilt = _snapshot(root)

    differences = [f"without index: {d}" for d in _differences(want, without_index)]
    differences += [f"after reindex: {d}" for d in _differences(want, rebuilt)]
    assert not differences, "\n".join(differences)


@pytest.mark.crash
@pytest.mark.parametrize("how", ["writer killed", "heartbeat stale on another host"])
def test_recovery_stale_run_reads_crashed_and_repair_records_it(
    tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    paths = _killed_run(tmp_path, root)
    meta = load(paths.run_json)
    if how == "heartbeat stale on another host":
        meta["segments"][-1].update(host="another-host.example", pid=1)
        save(paths.run_json, meta)
        old = time.time() - 120
        os.utime(paths.heartbeat, (old, old))
        monkeypatch.setenv("LOCALTRACK_STALE_AFTER", "60")
    assert load(paths.run_json)["state"] == "running"
    reader = StoreReader(root)
    assert reader.run("killed").state == "crashed"
    assert [r.state for r in reader.runs()] == ["crashed"]
    assert any("writer is gone" in p for p in recovery.check_run(paths).problems)

    report = recovery.repair_run(paths)
    assert "marked crashed (its writer stopped without finishing)" in report.actions
    after = load(paths.run_json)
    assert after["state"] == "crashed"
    assert after["ended_at"] is not None and after["ended_at"] <= time.time()
    assert recovery.reindex(StoreRoot(root)) == (1, [])
    assert index_rows(root, "SELECT state FROM runs") == [("crashed",)]
    _assert_steps(StoreReader(root).history("killed"), np.arange(120))


def test_recovery_leaves_a_live_run_alone(root: Path) -> None:
    run = localtrack.init(project="p", dir=root, settings=QUIET)
    run.log(_values(0))
    assert run.flush()
    paths = StoreRoot(root).run(run.id)
    # the environment capture records into run.json from its own thread once it is done: wait
    # for that, so the only writer left is the one this test watches for (recovery)
    assert wait_for(lambda: "environment" in (json.loads(paths.run_json.read_bytes())["system"]))
    (paths.metrics / ".0000-000000009-000000009.parquet.tmp").write_bytes(b"being written")
    before = paths.run_json.read_bytes()
    assert StoreReader(root).run(run.id).state == "running"
    report = recovery.repair_run(paths)
    assert report.actions == [] and report.problems == []
    assert paths.run_json.read_bytes() == before
    assert tmp_files(paths.dir) == [".0000-000000009-000000009.parquet.tmp"]
    run.finish()
    assert len(_shard_names(paths)) == 1


@pytest.mark.crash
def test_recovery_cli_doctor_reports_repairs_then_reindex_and_runs_agree(
    tmp_path: Path, root: Path
) -> None:
    """The same story through `localtrack doctor [--repair] --json`, `reindex` and `runs --json`."""
    damaged = _make_run(root, name="damaged")
    names = _shard_names(damaged)
    (damaged.metrics / names[1]).write_bytes((damaged.metrics / names[1]).read_bytes()[:100])
    (damaged.metrics / ".0000-000000009-000000009.parquet.tmp").write_bytes(b"half a shard")
    killed = _killed_run(tmp_path, root)
    from localtrack.cli.main import cli  # here: a broken CLI fails only this test

    runner = CliRunner()

    out = runner.invoke(cli, ["doctor", "--dir", str(root), "--json"])
    assert out.exit_code == 1, out.output
    found = json.loads(out.output)["runs"]
    assert any(names[1] in p for p in found[damaged.run_id]["problems"])
    assert any("partial" in p for p in found[damaged.run_id]["problems"])
    assert any("writer is gone" in p for p in found[killed.run_id]["problems"])
    assert (damaged.metrics / names[1]).exists(), "doctor without --repair changed the store"

    out = runner.invoke(cli, ["doctor", "--dir", str(root), "--repair", "--json"])
    assert out.exit_code == 0, out.output
    done = json.loads(out.output)["runs"]
    assert any("quarantined" in a for a in done[damaged.run_id]["actions"])
    assert "marked crashed (its writer stopped without finishing)" in done[killed.run_id]["actions"]

    out = runner.invoke(cli, ["doctor", "--dir", str(root), "--json"])
    assert out.exit_code == 0 and json.loads(out.output)["problems"] == 0, out.output
    listed = json.loads(runner.invoke(cli, ["runs", "--dir", str(root), "--json"]).output)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{root / 'index.db'}{suffix}").unlink(missing_ok=True)
    out = runner.invoke(cli, ["reindex", "--dir", str(root)])
    assert out.exit_code == 0 and "indexed 2 runs" in out.output, out.output
    assert json.loads(runner.invoke(cli, ["runs", "--dir", str(root), "--json"]).output) == listed
    assert {r["id"]: (r["state"], r["max_step"]) for r in listed} == {
        damaged.run_id: ("finished", 149),
        killed.run_id: ("crashed", 119),
    }
