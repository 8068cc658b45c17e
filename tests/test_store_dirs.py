"""A store that doctor calls healthy after `demo`; missing store directories are one clear line,
and `server`/`import` create a store only when asked (--create)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from localtrack.cli.main import cli
from localtrack.cli.sync import standalone

from .sync_fixtures import log_runs


def test_doctor_calls_the_demo_store_healthy(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    runner = CliRunner()
    out = runner.invoke(cli, ["demo", "--dir", str(root)])
    assert out.exit_code == 0, out.output
    out = runner.invoke(cli, ["doctor", "--dir", str(root), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["problems"] == 0
    states = {
        r["name"]: r
        for r in json.loads(runner.invoke(cli, ["runs", "--dir", str(root), "--json"]).stdout)
    }
    assert states["resnet18-preempted"]["state"] == "crashed"
    failed = states["vit-tiny-lr0.01"]
    assert failed["state"] == "failed"
    assert failed["reason"].startswith("FloatingPointError: loss became NaN at step 640")


def test_doctor_reports_a_failed_integrity_check(tmp_path: Path) -> None:
    """The file opens as a database, but a page inside it is garbage."""
    root = tmp_path / "store"
    log_runs(root, n=3, steps=5, shards=1, keys=1)  # an index of some 27 pages
    index = root / "index.db"
    with sqlite3.connect(index) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    data = bytearray(index.read_bytes())
    for n in range(2, pages):  # every page but the first (the schema): the file still opens
        data[n * page + 8 : n * page + 64] = b"\xa5" * 56
    index.write_bytes(bytes(data))
    out = CliRunner().invoke(cli, ["doctor", "--dir", str(root), "--json"])
    assert out.exit_code == 1, out.output
    report = json.loads(out.stdout)
    assert report["problems"] >= 1 and report["index"]["problems"]


@pytest.mark.parametrize(
    "args",
    [
        ["doctor"],
        ["doctor", "--json"],
        ["reindex"],
        ["runs"],
        ["show", "abc"],
        ["ui", "--port", "0"],
        ["server", "--port", "0"],
    ],
)
def test_a_missing_store_is_one_clear_line(tmp_path: Path, args: list[str]) -> None:
    missing = tmp_path / "mistyped"
    out = CliRunner().invoke(cli, [*args, "--dir", str(missing)])
    assert out.exit_code == 1, out.output
    assert out.output.strip().count("\n") == 0, out.output
    assert f"no store at {missing}" in out.output
    assert not missing.exists()


def test_import_needs_create_for_a_new_store(tmp_path: Path) -> None:
    source = tmp_path / "cluster"
    log_runs(source, n=1)
    bundle = tmp_path / "a.ltb"
    runner = CliRunner()
    out = runner.invoke(standalone, ["export", "--all", "--dir", str(source), "-o", str(bundle)])
    assert out.exit_code == 0, out.output
    target = tmp_path / "centrl"
    out = runner.invoke(standalone, ["import", str(bundle), "--dir", str(target)])
    assert out.exit_code == 1 and "--create" in out.output, out.output
    assert not target.exists()
    out = runner.invoke(standalone, ["import", str(bundle), "--dir", str(target), "--create"])
    assert out.exit_code == 0, out.output
    assert (target / "runs").is_dir()


def test_server_create_makes_the_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Path] = []
    monkeypatch.setattr("webui.server.app.serve_server", lambda root, **kw: served.append(root))
    target = tmp_path / "srv"
    out = CliRunner().invoke(cli, ["server", "--dir", str(target), "--create", "--port", "0"])
    assert out.exit_code == 0, out.output
    assert served == [target] and target.is_dir()
