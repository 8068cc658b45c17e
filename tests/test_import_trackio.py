"""import-from trackio: projects written by the real trackio package (in a child process, so
its TRACKIO_DIR, read when it is imported, is the test's)."""

from __future__ import annotations

import sqlite3
import subprocess
import textwrap
from pathlib import Path

import pytest

from localtrack.importers import import_from
from localtrack.store.reader import StoreReader

from .conftest import PYTHON, child_env

pytest.importorskip("trackio")

SCRIPT = textwrap.dedent(
    """
    import sys, trackio
    first, last, resume = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    trackio.init(project="vision", name="run-a", config={"lr": 0.01, "opt": "adam"},
                 resume=resume, auto_log_gpu=False)
    for step in range(first, last):
        row = {"loss": 1.0 / (step + 3), "epoch": step // 10}
        if step == first:
            row["note"] = "a string"
        trackio.log(row, step=step)
    trackio.finish()
    """
)


def _train(folder: Path, first: int, last: int, resume: str = "never") -> None:
    env = child_env(TRACKIO_DIR=str(folder))
    done = subprocess.run(
        [PYTHON, "-c", SCRIPT, str(first), str(last), resume],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


def test_a_trackio_project_imports_every_point_and_only_new_ones_later(tmp_path: Path) -> None:
    folder = tmp_path / "trackio"
    _train(folder, 0, 40)
    root = tmp_path / "store"

    report = import_from("trackio", folder, dir=root)
    (run,) = report.runs
    assert (run.status, run.project, run.name, run.new_points) == ("new", "vision", "run-a", 80)
    assert report.unmapped == {"trackio: str values": 1}
    reader = StoreReader(root)
    assert reader.run(run.run_id).config == {"lr": 0.01, "opt": "adam"}
    history = reader.history(run.run_id).to_pydict()
    assert history["loss"] == [1.0 / (s + 3) for s in range(40)]
    assert history["epoch"] == [s // 10 for s in range(40)]  # ints stay ints
    assert import_from("trackio", folder, dir=root).runs[0].status == "unchanged"

    _train(folder, 40, 50, resume="must")
    later = import_from("trackio", folder, dir=root)
    assert [(r.status, r.new_points, r.error) for r in later.runs] == [("updated", 20, None)]
    assert StoreReader(root).history(run.run_id).to_pydict()["loss"] == [
        1.0 / (s + 3) for s in range(50)
    ]


def test_a_locked_project_is_reported_and_the_others_still_import(tmp_path: Path) -> None:
    folder = tmp_path / "trackio"
    _train(folder, 0, 5)
    (db,) = folder.glob("*.db")
    copy = folder / "other.db"
    copy.write_bytes(db.read_bytes())
    lock = sqlite3.connect(db, isolation_level=None)
    lock.execute("PRAGMA journal_mode=DELETE")
    lock.execute("BEGIN EXCLUSIVE")
    try:
        report = import_from("trackio", folder, dir=tmp_path / "store")
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert [r.project for r in report.runs] == ["other"]
    assert len(report.damage) == 1 and "locked" in report.damage[0]
