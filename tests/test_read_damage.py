"""Damaged data on read: every read path leaves the damaged part out and says so, the same way.

A run of three shards has its middle one damaged on disk. ``localtrack.Api`` (history,
long_table, series), ``localtrack show`` (text and --json), the run page's JSON and the chart API
all serve the two whole shards and name the damaged one: a ``localtrack.DataDamageWarning`` in
Python, a ``warnings`` list (and ``damaged``) in JSON, a ``warning:`` line on the CLI's stderr.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import localtrack
from localtrack.cli.main import cli

from .sync_fixtures import log_runs


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, str]]:
    """(store root, run id, name of the damaged shard): 150 steps in 3 shards, the middle one
    truncated in half."""
    root = tmp_path_factory.mktemp("damage") / "store"
    [run_id] = log_runs(root, n=1, steps=150, shards=3, keys=1)
    shards = sorted((root / "runs" / run_id / "metrics").glob("*.parquet"))
    assert len(shards) == 3
    data = shards[1].read_bytes()
    shards[1].write_bytes(data[: len(data) // 2])
    yield root, run_id, shards[1].name


def test_api_history_serves_the_whole_shards_and_warns(damaged: tuple[Path, str, str]) -> None:
    root, run_id, shard = damaged
    run = localtrack.Api(root).run(run_id)
    with pytest.warns(localtrack.DataDamageWarning, match=shard) as caught:
        history = run.history(pandas=False)
    assert history.column("step").to_pylist() == list(range(50)) + list(range(100, 150))
    [w] = caught.list
    assert w.filename == __file__, "the warning points at the caller's line, not at localtrack"
    assert isinstance(w.message, localtrack.DataDamageWarning)
    assert w.message.run_id == run_id and shard in w.message.problems[0]


def test_api_long_table_and_series_warn_the_same_way(damaged: tuple[Path, str, str]) -> None:
    root, run_id, shard = damaged
    run = localtrack.Api(root).run(run_id)
    with pytest.warns(localtrack.DataDamageWarning, match=shard):
        assert run.long_table().num_rows == 100
    for _ in range(2):  # the second read is answered from the cache: it warns all the same
        with pytest.warns(localtrack.DataDamageWarning, match=shard):
            series = run.series("k0", buckets=10)
        assert series.damaged and shard in series.warnings[0]
        assert series.total_points == 100


def test_api_damage_lists_it_without_reading_rows(damaged: tuple[Path, str, str]) -> None:
    root, run_id, shard = damaged
    run = localtrack.Api(root).run(run_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        damage = run.damage()
    assert len(damage) == 1 and damage[0].startswith(shard)


def test_a_whole_run_reads_without_a_warning(tmp_path: Path) -> None:
    [run_id] = log_runs(tmp_path, n=1, steps=30, shards=2, keys=1)
    run = localtrack.Api(tmp_path).run(run_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run.history(pandas=False).num_rows == 30
        assert not run.series("k0").damaged
        assert run.damage() == []


def test_show_prints_each_damaged_file_on_stderr(damaged: tuple[Path, str, str]) -> None:
    root, run_id, shard = damaged
    out = CliRunner().invoke(cli, ["show", run_id, "--dir", str(root)])
    assert out.exit_code == 0, out.output
    lines = [line for line in out.stderr.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1 and f"warning: damaged data left out: {shard}" in lines[0]
    assert "metrics (1)" in out.stdout


def test_show_json_says_damaged_with_the_same_lines_as_the_api(
    damaged: tuple[Path, str, str],
) -> None:
    root, run_id, shard = damaged
    out = CliRunner().invoke(cli, ["show", run_id, "--dir", str(root), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["damaged"] is True and data["warnings"][0].startswith(shard)
    assert data["warnings"] == localtrack.Api(root).run(run_id).damage()
    assert f"warning: damaged data left out: {data['warnings'][0]}" in out.stderr


def test_run_page_and_chart_json_carry_the_same_warnings(damaged: tuple[Path, str, str]) -> None:
    from webui.app import create_app

    root, run_id, shard = damaged
    app = create_app(root, watch=False)
    try:
        client = app.test_client()
        page = client.get(f"/api/v1/runs/{run_id}").get_json()
        chart = client.get(f"/api/v1/series?runs={run_id}&key=k0").get_json()
    finally:
        app.extensions["localtrack"].close()
    expected = localtrack.Api(root).run(run_id).damage()
    assert page["warnings"] == expected
    [line] = chart["runs"][0]["warnings"]
    assert line in expected and shard in line
