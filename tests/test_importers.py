"""import-from: the framework (identity, only-what-is-new, one commit per run, reporting) through
its simplest sources, CSV and Parquet tables."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from localtrack.cli import cli
from localtrack.errors import ImportSourceError
from localtrack.importers import SOURCES, import_from, run_id_for
from localtrack.store.reader import StoreReader

T0 = 1_700_000_000.0


def _write_csv(path: Path, rows: list[tuple[int, str, float, float]]) -> None:
    lines = ["step,key,value,timestamp"]
    lines += [f"{s},{k},{v!r},{t!r}" for s, k, v, t in rows]
    path.write_text("\n".join(lines) + "\n")


def _rows(n: int, start: int = 0) -> list[tuple[int, str, float, float]]:
    rng = np.random.default_rng(start)
    out = []
    for step in range(start, start + n):
        out.append((step, "loss", float(rng.standard_normal()), T0 + step * 0.25))
        if step % 2 == 0:
            out.append((step, "eval/acc", float(rng.random()), T0 + step * 0.25 + 0.125))
    return out


def _points(root: Path, run_id: str) -> dict[str, list[tuple[int, int, float]]]:
    """Every stored point per key, as (step, wall µs, value)."""
    table = StoreReader(root).long_table(run_id)
    out: dict[str, list[tuple[int, int, float]]] = {}
    walls = table.column("wall_time").cast(pa.int64()).to_pylist()
    for step, key, value, wall in zip(
        table.column("step").to_pylist(),
        table.column("key").to_pylist(),
        table.column("value").to_pylist(),
        walls,
        strict=True,
    ):
        out.setdefault(key, []).append((step, wall, value))
    return out


def _expected(rows: list[tuple[int, str, float, float]]) -> dict[str, list[tuple[int, int, float]]]:
    out: dict[str, list[tuple[int, int, float]]] = {}
    for step, key, value, wall in rows:
        out.setdefault(key, []).append((step, int(wall * 1e6), value))
    return {k: sorted(v) for k, v in out.items()}


def _tree(root: Path) -> dict[str, int]:
    """Every file below runs/ with its modification time: what an import that adds nothing leaves."""
    return {
        str(p.relative_to(root)): p.stat().st_mtime_ns
        for p in sorted((root / "runs").rglob("*"))
        if p.is_file() and p.name != "heartbeat"
    }


def test_csv_import_keeps_every_point_and_importing_again_adds_nothing(tmp_path: Path) -> None:
    rows = _rows(200)
    source = tmp_path / "metrics.csv"
    _write_csv(source, rows)
    root = tmp_path / "store"

    first = import_from("csv", source, dir=root)
    (run,) = first.runs
    assert (run.status, run.new_points, run.points) == ("new", len(rows), len(rows))
    assert run.run_id == run_id_for("csv", str(source.resolve()))
    got = _points(root, run.run_id)
    assert {k: sorted(v) for k, v in got.items()} == _expected(rows)  # values bit-identical
    info = StoreReader(root).run(run.run_id)
    assert (info.project, info.name, info.state) == ("imported", "metrics", "finished")
    before = _tree(root)

    again = import_from("csv", source, dir=root)
    assert [(r.status, r.new_points) for r in again.runs] == [("unchanged", 0)]
    assert _tree(root) == before


def test_an_updated_source_adds_only_its_new_points(tmp_path: Path) -> None:
    source = tmp_path / "metrics.csv"
    rows = _rows(100)
    _write_csv(source, rows)
    root = tmp_path / "store"
    import_from("csv", source, dir=root)

    # acc has even steps only: step 7 lands in the middle of what the run holds, so the next
    # import cannot take the run's points as a prefix of the source's and compares them all
    later = rows + _rows(50, start=100) + [(7, "eval/acc", 1.5, T0 + 99.0), (3, "late", 2.5, T0)]
    _write_csv(source, later)
    report = import_from("csv", source, dir=root)
    (run,) = report.runs
    assert (run.status, run.new_points, run.points) == (
        "updated",
        len(later) - len(rows),
        len(later),
    )
    got = _points(root, run.run_id)
    assert {k: sorted(v) for k, v in got.items()} == _expected(later)
    assert import_from("csv", source, dir=root).runs[0].status == "unchanged"


def test_parquet_with_a_run_column_makes_one_run_each_and_keeps_kinds_and_times(
    tmp_path: Path,
) -> None:
    table = pa.table(
        {
            "run": ["a", "a", "b", "b", "b"],
            "step": pa.array([0, 1, 0, 1, 2], pa.int64()),
            "metric": ["epochs", "epochs", "epochs", "epochs", "epochs"],
            "value": pa.array([1, 2, 3, 4, 2**40], pa.int64()),
            "time": pa.array([1e15, 2e15, 3e15, 4e15, 5e15], pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            ),
        }
    )
    pq.write_table(table, tmp_path / "runs.parquet")
    root = tmp_path / "store"
    report = import_from("parquet", tmp_path, dir=root, project="tables")
    assert sorted((r.name, r.new_points) for r in report.runs) == [("a", 2), ("b", 3)]
    reader = StoreReader(root)
    b = next(r for r in report.runs if r.name == "b")
    assert reader.run(b.run_id).project == "tables"
    history = reader.history(b.run_id).to_pydict()
    assert history["epochs"] == [3, 4, 2**40]  # ints stay ints
    assert _points(root, b.run_id)["epochs"][0][1] == 3 * 10**15


def test_a_damaged_source_imports_what_is_readable_and_says_what_was_skipped(
    tmp_path: Path,
) -> None:
    good = tmp_path / "good.csv"
    _write_csv(good, _rows(10))
    with good.open("a") as f:
        f.write("11,loss,0.5,1,surplus-cell\n12,loss,,5\n")  # a malformed row, a missing value
    broken = tmp_path / "broken.parquet"
    pq.write_table(pa.table({"step": [1], "key": ["x"], "value": [1.0]}), broken)
    broken.write_bytes(broken.read_bytes()[:-20])
    root = tmp_path / "store"

    report = import_from("csv", good, dir=root)
    assert report.runs[0].new_points == len(_rows(10))
    assert report.damage == [f"{good}: 1 malformed rows skipped"]
    assert report.unmapped == {"csv: rows without a value": 1}

    report = import_from("parquet", tmp_path, dir=root)  # the store's own shards are no source
    assert report.runs == []
    assert len(report.damage) == 1 and str(broken) in report.damage[0]


def test_a_run_whose_commit_fails_is_not_half_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a", "b"):
        _write_csv(tmp_path / f"{name}.csv", _rows(20))
    root = tmp_path / "store"
    from localtrack.store.ingest import commits

    real = commits._link_into_place
    calls = []

    def fail_in_run_b(blob: Path, target: Path) -> None:
        calls.append(target)
        if target.parent.parent.name.startswith("csv-") and len(calls) > 2:
            raise OSError(28, "No space left on device")  # the second file of the second run
        real(blob, target)

    monkeypatch.setattr(commits, "_link_into_place", fail_in_run_b)
    report = import_from("csv", tmp_path, dir=root)
    statuses = sorted(r.status for r in report.runs)
    assert statuses == ["failed", "new"]
    failed = report.failed[0]
    assert "No space left" in (failed.error or "")
    reader = StoreReader(root)
    assert [r.id for r in reader.runs()] == [r.run_id for r in report.runs if r.status == "new"]
    run_dir = root / "runs" / failed.run_id
    assert not run_dir.exists() or not any(run_dir.rglob("*.parquet"))

    monkeypatch.setattr(commits, "_link_into_place", real)
    report = import_from("csv", tmp_path, dir=root)
    assert sorted(r.status for r in report.runs) == ["new", "unchanged"]
    assert len(StoreReader(root).runs()) == 2


def test_a_run_id_taken_by_another_run_is_refused_and_left_alone(tmp_path: Path) -> None:
    source = tmp_path / "m.csv"
    _write_csv(source, _rows(5))
    root = tmp_path / "store"
    import localtrack

    taken = run_id_for("csv", str(source.resolve()))
    run = localtrack.init(project="mine", id=taken, dir=root)
    run.log({"x": 1})
    run.finish()
    report = import_from("csv", source, dir=root)
    assert report.runs[0].status == "failed"
    assert "was not imported from csv" in (report.runs[0].error or "")
    assert StoreReader(root).run(taken).project == "mine"


def test_cli_dry_run_writes_nothing_then_import_reports_per_run(tmp_path: Path) -> None:
    source = tmp_path / "m.csv"
    _write_csv(source, _rows(30))
    with source.open("a") as f:
        f.write("40,loss,,1\n")
    root = tmp_path / "store"
    runner = CliRunner()
    dry = runner.invoke(cli, ["import-from", "csv", str(source), "--dir", str(root), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "new, would add 45 points of 45" in dry.output
    assert "not mapped: csv: rows without a value (1)" in dry.output
    assert not (root / "runs").exists()

    done = runner.invoke(cli, ["import-from", "csv", str(source), "--dir", str(root), "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert [(r["status"], r["new_points"]) for r in data["runs"]] == [("new", 45)]
    again = runner.invoke(cli, ["import-from", "csv", str(source), "--dir", str(root)])
    assert "up to date (45 points)" in again.output


def test_cli_refuses_a_table_without_the_needed_columns_in_one_line(tmp_path: Path) -> None:
    source = tmp_path / "m.csv"
    source.write_text("epoch,loss\n1,0.5\n")
    store = str(tmp_path / "store")
    result = CliRunner().invoke(cli, ["import-from", "csv", str(source), "--dir", store])
    assert result.exit_code == 1
    assert "has no 'step' column" in result.output and "Traceback" not in result.output


def test_a_wide_table_makes_one_key_per_column(tmp_path: Path) -> None:
    source = tmp_path / "wide.csv"
    source.write_text("step,loss,acc,phase\n0,0.5,,train\n1,0.25,0.75,eval\n")
    report = import_from("csv", source, dir=tmp_path / "store")
    assert report.unmapped == {
        "csv: rows without a value": 1,
        "csv: non-numeric values (string)": 2,
    }
    history = StoreReader(tmp_path / "store").history(report.runs[0].run_id).to_pydict()
    assert history["loss"] == [0.5, 0.25] and history["acc"] == [None, 0.75]


def test_a_missing_extra_names_the_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportSourceError, match=r"pip install 'localtrack\[tensorboard\]'"):
        import_from("tensorboard", os.getcwd())


def test_the_cli_offers_every_source_the_library_knows() -> None:
    from localtrack.cli.importing import import_from_cmd

    choices = import_from_cmd.params[0].type.choices  # type: ignore[attr-defined]
    assert sorted(choices) == sorted(SOURCES)
