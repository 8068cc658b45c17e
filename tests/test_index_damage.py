"""A damaged index.db (garbage bytes, a truncated file): detected, said plainly, rebuilt.

``localtrack doctor`` reports it as a problem (exit 1, also in --json); ``doctor --repair`` and
``localtrack reindex`` move it aside as ``index.db.corrupt-<time>`` and rebuild it from the run
directories, which hold the truth. Meanwhile readers go on from the run directories.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from localtrack.cli.main import cli

from .sync_fixtures import log_runs

DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "garbage bytes": lambda data: bytes(range(256)) * (len(data) // 256 + 1),
    "truncated in half": lambda data: data[: len(data) // 2],
    "only its header": lambda data: data[:100],
}


@pytest.fixture(params=DAMAGE.values(), ids=DAMAGE.keys())
def store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, list[str]]:
    """A store of two runs whose index.db (checkpointed, so the file holds everything) is then
    damaged; returns (root, the runs as `localtrack runs --json` listed them before)."""
    root = tmp_path / "store"
    log_runs(root, n=2, steps=20, shards=1, keys=1)
    before = _runs(root)
    with sqlite3.connect(root / "index.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    index = root / "index.db"
    index.write_bytes(request.param(index.read_bytes()))
    return root, before


def _runs(root: Path) -> list[str]:
    out = CliRunner().invoke(cli, ["runs", "--dir", str(root), "--json"])
    assert out.exit_code == 0, out.output
    return [(r["id"], r["state"], r["max_step"]) for r in json.loads(out.stdout)]


def _index_is_whole(root: Path) -> int:
    with sqlite3.connect(f"file:{root / 'index.db'}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    conn.close()
    return int(count)


def _set_aside(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("index.db.corrupt-*") if not p.name.endswith(("wal", "shm")))


def test_readers_go_on_from_the_run_directories(store: tuple[Path, list[str]]) -> None:
    root, before = store
    assert _runs(root) == before


def test_doctor_reports_a_damaged_index_as_a_problem(store: tuple[Path, list[str]]) -> None:
    root, _ = store
    out = CliRunner().invoke(cli, ["doctor", "--dir", str(root)])
    assert out.exit_code == 1, out.output
    assert "index.db: problem: damaged" in out.stdout
    assert "SQLite" in out.stdout and "network filesystem" not in out.output
    out = CliRunner().invoke(cli, ["doctor", "--dir", str(root), "--json"])
    assert out.exit_code == 1, out.output
    report = json.loads(out.stdout)
    assert report["problems"] == 1 and len(report["index"]["problems"]) == 1
    assert _set_aside(root) == [], "doctor without --repair changed the store"


def test_doctor_repair_moves_it_aside_and_rebuilds_it(store: tuple[Path, list[str]]) -> None:
    root, before = store
    damaged = (root / "index.db").read_bytes()
    out = CliRunner().invoke(cli, ["doctor", "--dir", str(root), "--repair", "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    [action] = report["index"]["actions"]
    assert "moved the damaged index aside to index.db.corrupt-" in action
    [aside] = _set_aside(root)
    assert aside.read_bytes() == damaged
    assert _index_is_whole(root) == 2 and _runs(root) == before
    out = CliRunner().invoke(cli, ["doctor", "--dir", str(root), "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout)["problems"] == 0, out.output


def test_reindex_says_so_and_rebuilds_it(store: tuple[Path, list[str]]) -> None:
    root, before = store
    out = CliRunner().invoke(cli, ["reindex", "--dir", str(root)])
    assert out.exit_code == 0, out.output
    assert "index.db was damaged" in out.stderr and "network filesystem" not in out.output
    assert "indexed 2 runs" in out.stdout
    assert len(_set_aside(root)) == 1
    assert _index_is_whole(root) == 2 and _runs(root) == before


def test_reindex_with_the_index_turned_off_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_runs(tmp_path, n=1, steps=5, shards=1, keys=1)
    monkeypatch.setenv("LOCALTRACK_INDEX", "off")
    out = CliRunner().invoke(cli, ["reindex", "--dir", str(tmp_path)])
    assert out.exit_code == 1
    assert "LOCALTRACK_INDEX=off" in out.stderr and "network filesystem" not in out.output
