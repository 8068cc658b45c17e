"""import-from aim: repositories written by the real aim SDK (no server), compared with what the
script tracked; the source is never written to."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from localtrack.importers import import_from
from localtrack.store.reader import StoreReader

from .store_fixtures import metric_points

# aim publishes wheels for CPython 3.10-3.12 only; scripts/test.sh installs it where it can
aim = pytest.importorskip("aim")

# aim's run table fills its times with datetime.utcnow(), deprecated since Python 3.12 (not ours)
pytestmark = pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")


def _track(repo: Path, run_hash: str | None, steps: range, logged: dict) -> aim.Run:
    """Track `steps` into a new run (or resume `run_hash`), left open; what was tracked goes to
    `logged`."""
    run = aim.Run(
        run_hash=run_hash,
        repo=str(repo),
        experiment="vision",
        system_tracking_interval=None,
        log_system_params=False,
        capture_terminal_logs=False,
    )
    rng = np.random.default_rng(steps.start)
    for step in steps:
        loss = float(rng.standard_normal())
        run.track(loss, name="loss", step=step, context={"subset": "train"})
        logged.setdefault("loss/subset=train", []).append((step, loss))
        if step % 4 == 0:
            run.track(step * 3, name="seen", step=step)
            logged.setdefault("seen", []).append((step, step * 3))
    return run


def _files(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_an_aim_repo_imports_every_point_and_item_and_only_new_points_later(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "aimrepo"
    logged: dict = {}
    started = time.time()
    first = _track(repo, None, range(30), logged)
    run_hash = first.hash
    first.close()
    run = aim.Run(run_hash=run_hash, repo=str(repo), system_tracking_interval=None)
    run.name = "baseline"
    run.description = "first try"
    run.add_tag("cnn")
    run["hparams"] = {"lr": 0.01, "layers": [64, 64]}
    pixels = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    run.track(aim.Image(pixels, caption="one"), name="sample", step=2)
    run.track([aim.Image(pixels), aim.Image(255 - pixels)], name="batch", step=2)
    run.track(aim.Distribution(np.arange(10.0), bin_count=4), name="weights", step=3)
    run.track(aim.Text("hello *text*"), name="notes", step=4)
    run.close()
    ended = time.time()
    root = tmp_path / "store"
    before = _files(repo / ".aim")

    report = import_from("aim", repo, dir=root)
    (imported,) = report.runs
    assert (imported.status, imported.source_id, imported.project) == ("new", run_hash, "vision")
    assert metric_points(root, imported.run_id) == logged  # every point, its step, the exact value
    reader = StoreReader(root)
    info = reader.run(imported.run_id)
    assert (info.name, info.notes, info.tags, info.state) == (
        "baseline",
        "first try",
        ("cnn",),
        "finished",
    )
    assert info.config == {"hparams": {"lr": 0.01, "layers": [64, 64]}}
    assert reader.history(imported.run_id, ["seen"]).schema.field("seen").type == pa.int64()
    walls = reader.long_table(imported.run_id).column("wall_time").to_pylist()
    assert all(started - 1 <= w.timestamp() <= ended + 1 for w in walls)
    media = {(m.key, m.index): m for m in reader.media(imported.run_id)}
    assert sorted(media) == [
        ("batch", 0),
        ("batch", 1),
        ("notes", 0),
        ("sample", 0),
        ("weights", 0),
    ]
    assert (media["sample", 0].width, media["sample", 0].height) == (5, 4)
    assert media["sample", 0].caption == "one" and media["batch", 1].count == 2
    assert list(media["weights", 0].counts) == [3, 2, 2, 3]
    assert reader.table_page(imported.run_id, "notes").rows == [["hello *text*"]]
    assert _files(repo / ".aim") == before  # the source is read, never written

    again = import_from("aim", repo, dir=root)
    assert [(r.status, r.new_points, r.new_media) for r in again.runs] == [("unchanged", 0, 0)]

    resumed = _track(repo, run_hash, range(30, 40), logged)  # ten more steps, still open
    later = import_from("aim", repo, dir=root)
    assert [(r.run_id, r.status, r.new_points) for r in later.runs] == [
        (imported.run_id, "updated", 12)
    ]
    assert metric_points(root, imported.run_id) == logged
    assert reader.run(imported.run_id).state == "running"  # its lock is held by this process
    resumed.close()
    assert import_from("aim", repo, dir=root).runs[0].new_points == 0
    assert reader.run(imported.run_id).state == "finished"


def test_a_folder_without_an_aim_repo_says_what_to_pass(tmp_path: Path) -> None:
    from localtrack.errors import ImportSourceError

    with pytest.raises(
        ImportSourceError, match=r"no Aim repository at .*the folder that holds \.aim"
    ):
        import_from("aim", tmp_path, dir=tmp_path / "store")


def test_a_damaged_aim_repo_imports_what_is_readable_and_says_what_was_skipped(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "aimrepo"
    logged: dict[str, dict] = {}
    hashes = []
    for name in ("intact", "bad-meta", "bad-data"):
        run = _track(repo, None, range(20), logged.setdefault(name, {}))
        hashes.append(run.hash)
        run.close()
    intact, bad_meta, bad_data = hashes
    for folder in (f"meta/chunks/{bad_meta}", f"seqs/chunks/{bad_data}"):
        for table in (repo / ".aim" / folder).glob("0*"):  # RocksDB tables and log: all bad
            table.write_bytes(bytes(range(256)) * (table.stat().st_size // 256 + 1))

    report = import_from("aim", repo, dir=tmp_path / "store")
    runs = {r.source_id: r for r in report.runs}
    assert set(runs) == {intact, bad_data}  # a run whose metadata is unreadable is left out
    assert metric_points(tmp_path / "store", runs[intact].run_id) == logged["intact"]
    assert runs[bad_data].new_points == 0
    assert any(bad_meta in d and "metadata could not be read" in d for d in report.damage)
    assert any(bad_data in d and "its data is damaged" in d for d in report.damage), report.damage
