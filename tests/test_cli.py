"""The `localtrack` command line: thin commands, clean errors, --json for machines."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

import localtrack
from localtrack.cli.main import cli

from .conftest import PYTHON, child_env


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _make_runs(root: Path) -> list[str]:
    ids = []
    for name, code in (("good", 0), ("bad", 1)):
        run = localtrack.init(project="proj", name=name, dir=root, config={"lr": 0.1})
        for i in range(10):
            run.log({"loss": 1.0 / (i + 1)})
        run.finish(exit_code=code)
        ids.append(run.id)
    return ids


def test_runs_lists_runs_and_json_is_machine_readable(root: Path, runner: CliRunner) -> None:
    good, bad = _make_runs(root)
    out = runner.invoke(cli, ["runs", "--dir", str(root)])
    assert out.exit_code == 0, out.output
    assert good in out.output and "finished" in out.output and "failed" in out.output
    data = json.loads(runner.invoke(cli, ["runs", "--dir", str(root), "--json"]).output)
    assert {r["id"]: r["state"] for r in data} == {good: "finished", bad: "failed"}
    assert runner.invoke(cli, ["runs", "--dir", str(root), "--project", "other"]).output.startswith(
        "No runs"
    )


def test_show_prints_config_metrics_and_accepts_an_id_prefix(root: Path, runner: CliRunner) -> None:
    good, _ = _make_runs(root)
    out = runner.invoke(cli, ["show", good[:6], "--dir", str(root)])
    assert out.exit_code == 0, out.output
    assert "good" in out.output and '"lr": 0.1' in out.output and "loss" in out.output
    data = json.loads(runner.invoke(cli, ["show", good, "--dir", str(root), "--json"]).output)
    assert data["summary"]["loss"] == 0.1 and data["metrics"][0]["count"] == 10


def test_errors_are_one_clean_line_with_nonzero_exit(root: Path, runner: CliRunner) -> None:
    _make_runs(root)
    out = runner.invoke(cli, ["show", "doesnotexist", "--dir", str(root)])
    assert out.exit_code == 1
    assert out.output.startswith("Error: no run 'doesnotexist'") and "Traceback" not in out.output
    out = runner.invoke(cli, ["runs", "--dir", str(root / "missing")])
    assert out.exit_code == 1 and "no store at" in out.output


def test_reindex_rebuilds_a_deleted_index(root: Path, runner: CliRunner) -> None:
    _make_runs(root)
    before = json.loads(runner.invoke(cli, ["runs", "--dir", str(root), "--json"]).output)
    for f in root.glob("index.db*"):
        f.unlink()
    out = runner.invoke(cli, ["reindex", "--dir", str(root)])
    assert out.exit_code == 0 and "indexed 2 runs" in out.output
    after = json.loads(runner.invoke(cli, ["runs", "--dir", str(root), "--json"]).output)
    assert after == before


def test_doctor_reports_then_repairs(root: Path, runner: CliRunner) -> None:
    good, _ = _make_runs(root)
    (root / "runs" / good / "metrics" / ".0000-000000009-000000009.parquet.tmp").write_bytes(
        b"junk"
    )
    out = runner.invoke(cli, ["doctor", "--dir", str(root)])
    assert out.exit_code == 1 and "stray partial file" in out.output
    out = runner.invoke(cli, ["doctor", "--dir", str(root), "--repair"])
    assert out.exit_code == 0 and "removed partial file" in out.output
    out = runner.invoke(cli, ["doctor", "--dir", str(root), "--json"])
    assert out.exit_code == 0 and json.loads(out.output)["problems"] == 0


def test_every_command_has_help_with_an_example(runner: CliRunner) -> None:
    for name in cli.commands:
        text = runner.invoke(cli, [name, "--help"]).output
        assert "Example:" in text, f"`localtrack {name} --help` has no example"
        readme = (Path(__file__).parent.parent / "README.md").read_text()
        assert f"localtrack {name}" in readme, f"README does not document `localtrack {name}`"


def test_demo_writes_finished_failed_and_crashed_runs(tmp_path: Path) -> None:
    out = subprocess.run(
        [PYTHON, "-m", "localtrack.cli", "demo"],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    runs = localtrack.Api(tmp_path / "localtrack-runs").runs()
    states = sorted(r.state for r in runs)
    assert states.count("finished") >= 4 and "failed" in states and "crashed" in states
    finished = next(r for r in runs if r.state == "finished")
    assert finished.config["lr"] and finished.tags and finished.group
    assert finished.summary["val/acc"] > 0.3 and len(finished.history(["train/loss"])) >= 1000


def _strict(text: str) -> object:
    def refuse(name: str) -> object:
        raise ValueError(f"bare {name} in JSON output")

    return json.loads(text, parse_constant=refuse)


def test_json_output_is_strict_json_with_nan_as_a_string(
    root: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from localtrack.store.reader import StoreReader

    run = localtrack.init(project="proj", name="nan", dir=root)
    run.log({"loss": float("nan")})
    run.finish()
    odd = {"loss": float("nan"), "best": float("inf"), "worst": float("-inf")}
    real_run, real_runs = StoreReader.run, StoreReader.runs
    monkeypatch.setattr(
        StoreReader, "run", lambda self, r: dataclasses.replace(real_run(self, r), summary=odd)
    )
    monkeypatch.setattr(
        StoreReader,
        "runs",
        lambda self, *a: [dataclasses.replace(i, summary=odd) for i in real_runs(self, *a)],
    )
    listed = _strict(runner.invoke(cli, ["runs", "--dir", str(root), "--json"]).output)
    shown = _strict(runner.invoke(cli, ["show", run.id, "--dir", str(root), "--json"]).output)
    assert isinstance(listed, list) and isinstance(shown, dict)
    expected = {"loss": "NaN", "best": "Infinity", "worst": "-Infinity"}
    assert listed[0]["summary"] == shown["summary"] == expected
