"""Where a run's end reason shows: `localtrack show`, the runs JSON, the run and console views."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from localtrack.cli.main import cli as main

from .conftest import PYTHON, child_env

SCRIPT = """
import localtrack
run = localtrack.init(project="p", name={name!r})
run.log({{"loss": 1.0}})
{body}
"""


def _child(root: Path, name: str, body: str, console: str = "1") -> None:
    subprocess.run(
        [PYTHON, "-c", SCRIPT.format(name=name, body=body)],
        env=child_env(LOCALTRACK_DIR=str(root), LOCALTRACK_CONSOLE=console),
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reasons") / "store"
    _child(root, "boom", "raise ValueError('loss is NaN')")
    _child(root, "quiet-off", "raise KeyError('fold')", console="0")
    _child(root, "silent", "run.finish()")
    return root


def _ids(root: Path) -> dict[str, str]:
    out = {}
    for run_json in root.glob("runs/*/run.json"):
        meta = json.loads(run_json.read_text())
        out[meta["name"]] = meta["id"]
    return out


def test_show_prints_the_reason(store: Path) -> None:
    ids = _ids(store)
    result = CliRunner().invoke(main, ["show", ids["boom"], "--dir", str(store)])
    assert result.exit_code == 0, result.output
    assert "failed (exit code 1): ValueError: loss is NaN (at <string>:" in result.output
    result = CliRunner().invoke(main, ["show", ids["silent"], "--dir", str(store)])
    assert "failed" not in result.output and "(at " not in result.output


def test_runs_json_carries_the_reason(store: Path) -> None:
    result = CliRunner().invoke(main, ["runs", "--dir", str(store), "--json"])
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["boom"]["exit_reason"]["type"] == "ValueError"
    assert rows["boom"]["reason"].startswith("ValueError: loss is NaN")
    assert rows["silent"]["reason"] is None and rows["silent"]["exit_reason"] is None


def test_ui_json_runs_table_run_and_console(store: Path) -> None:
    from webui import create_app

    ids = _ids(store)
    client = create_app(store).test_client()
    table = client.get("/api/v1/projects/p/runs").get_json()
    reasons = {r["name"]: r["reason"] for r in table["rows"]}
    assert reasons["boom"].startswith("ValueError: loss is NaN")
    assert reasons["silent"] is None
    run = client.get(f"/api/v1/runs/{ids['boom']}").get_json()["run"]
    assert run["exit_reason"]["message"] == "loss is NaN"
    console = client.get(f"/api/v1/runs/{ids['boom']}/console").get_json()
    assert console["capture"] == "captured"
    assert console["reason"].startswith("ValueError")
    assert any("Traceback (most recent call last)" in line for line in console["lines"])
    assert console["lines"][-1] == "ValueError: loss is NaN"
    off = client.get(f"/api/v1/runs/{ids['quiet-off']}/console").get_json()
    assert (off["captured"], off["capture"]) == (False, "off")
    silent = client.get(f"/api/v1/runs/{ids['silent']}/console").get_json()
    assert (silent["capture"], silent["total_lines"], silent["reason"]) == ("captured", 0, None)
