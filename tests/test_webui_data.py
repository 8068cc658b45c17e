"""Chart data and downloads: /api/v1/series, /api/v1/export, /api/v1/runs/<id>/history, plus
the empty store and a damaged shard."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from flask import Flask
from flask.testing import FlaskClient

from webui import create_app
from webui.charts import floats, honest_label, significant

from .webui_fixtures import log_run

Ids = dict[str, str]


@pytest.fixture(scope="module")
def app(ui_store: tuple[Path, Ids]) -> Flask:
    return create_app(ui_store[0], watch=False)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module")
def ids(ui_store: tuple[Path, Ids]) -> Ids:
    return ui_store[1]


def series(client: FlaskClient, **args: object) -> dict:
    response = client.get("/api/v1/series", query_string=args)
    assert response.status_code == 200, response.json
    return response.json


def test_series_raw_when_few_points(client: FlaskClient, ids: Ids) -> None:
    body = series(client, runs=f"{ids['alpha']},{ids['beta']}", key="train/loss")
    assert body["bucketed"] is False
    assert body["label"] == "120 of 120 points"
    assert len(body["x"]) == 60 and body["x"][:3] == [0, 1, 2]
    alpha = body["runs"][0]
    assert alpha["id"] == ids["alpha"] and alpha["name"] == "alpha"
    assert alpha["last"][0] == 1.0 and alpha["min"] is None
    assert math.isclose(alpha["last"][59], math.exp(-59 / 10), rel_tol=1e-5)  # 6 significant digits


def test_series_buckets_on_shared_edges_with_min_max(client: FlaskClient, ids: Ids) -> None:
    body = series(client, runs=f"{ids['alpha']},{ids['gamma']}", key="train/loss", buckets=10)
    assert body["bucketed"] is True
    assert len(body["x"]) == 10
    assert body["label"] == "20 of 120 points, min/max kept"
    for run in body["runs"]:
        assert len(run["last"]) == len(run["min"]) == len(run["max"]) == 10
        assert all(lo <= hi for lo, hi in zip(run["min"], run["max"], strict=True))
    assert body["runs"][0]["max"][0] == 1.0  # the first bucket's max is step 0's value: kept


def test_series_range_requery_is_full_resolution(client: FlaskClient, ids: Ids) -> None:
    body = series(client, runs=ids["alpha"], key="train/loss", x0=10, x1=19, buckets=100)
    assert body["x"] == list(range(10, 20))
    assert body["points_in_range"] == 10 and body["total_points"] == 60


@pytest.mark.parametrize("x", ["wall_time", "relative_time", "epoch"])
def test_series_other_x_axes(client: FlaskClient, ids: Ids, x: str) -> None:
    body = series(client, runs=ids["beta"], key="val/acc", x=x)
    assert body["x_axis"] == x
    assert body["x"] == sorted(body["x"]) and len(body["x"]) > 0
    if x == "relative_time":
        assert 0 <= body["x"][0] < 60
    if x == "epoch":
        assert body["x"][0] == 0 and body["x"][-1] == 5


def test_series_group_mean_with_band(client: FlaskClient, ids: Ids) -> None:
    runs = ",".join(ids[n] for n in ("alpha", "beta", "gamma", "<script>alert(1)</script>"))
    body = series(client, runs=runs, key="val/acc", group_by="config.optimizer.name")
    groups = {g["value"]: g for g in body["groups"]}
    assert set(groups) == {"adam", "sgd"}
    adam = groups["adam"]
    assert sorted(adam["run_ids"]) == sorted([ids["alpha"], ids["gamma"]])
    by_id = {r["id"]: r["last"] for r in body["runs"]}
    i = 30
    values = [by_id[ids["alpha"]][i], by_id[ids["gamma"]][i]]
    assert math.isclose(adam["mean"][i], sum(values) / 2, rel_tol=1e-5)
    assert adam["min"][i] == min(values) and adam["max"][i] == max(values)


def test_series_nan_becomes_null(tmp_path: Path) -> None:
    log_run(
        tmp_path, "p", "nan", steps=3, metrics=lambda s: {"m": math.nan if s == 1 else float(s)}
    )
    client = create_app(tmp_path, watch=False).test_client()
    run_id = client.get("/api/v1/projects/p/runs").json["rows"][0]["id"]
    body = series(client, runs=run_id, key="m")
    assert body["runs"][0]["last"] == [0.0, None, 2.0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0578487022693842, 0.0578487),
        (2.302585093, 2.30259),
        (123456789.0, 123457000.0),
        (-1.23456789e-12, -1.23457e-12),
        (1.23456789e-30, 1.23456789e-30),  # beyond exact powers of ten: left as it is
        (0.0, 0.0),
    ],
)
def test_y_values_keep_six_significant_digits(value: float, expected: float) -> None:
    assert significant(np.array([value]))[0] == expected
    assert repr(float(significant(np.array([value]))[0])) == repr(expected)


def test_floats_turn_non_finite_into_null() -> None:
    assert floats(np.array([1.0, math.nan, math.inf, -math.inf]), 6) == [1.0, None, None, None]


def test_honest_label() -> None:
    assert honest_label(1000, 1_000_000, True) == "1,000 of 1,000,000 points, min/max kept"
    assert honest_label(7, 7, False) == "7 of 7 points"


def test_export_csv_is_full_resolution(client: FlaskClient, ids: Ids) -> None:
    response = client.get(
        "/api/v1/export",
        query_string={"runs": f"{ids['alpha']},{ids['beta']}", "key": "val/acc", "buckets": 10},
    )
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    table = pacsv.read_csv(io.BytesIO(response.data))
    assert table.column_names == ["run_id", "run_name", "step", "val/acc"]
    assert table.num_rows == 120
    assert set(table.column("run_name").to_pylist()) == {"alpha", "beta"}


def test_export_parquet_of_a_zoomed_range(client: FlaskClient, ids: Ids) -> None:
    response = client.get(
        "/api/v1/export",
        query_string={
            "runs": ids["alpha"],
            "key": "train/loss",
            "x0": 5,
            "x1": 9,
            "format": "parquet",
        },
    )
    table = pq.read_table(io.BytesIO(response.data))
    assert table.column("step").to_pylist() == [5, 6, 7, 8, 9]


def test_history_download_csv_and_parquet(client: FlaskClient, ids: Ids) -> None:
    csv = pacsv.read_csv(
        io.BytesIO(client.get(f"/api/v1/runs/{ids['beta']}/history?format=csv").data)
    )
    assert {"step", "train/loss", "val/acc", "epoch"} <= set(csv.column_names)
    assert csv.num_rows == 60
    response = client.get(f"/api/v1/runs/{ids['beta']}/history?format=parquet&keys=val/acc")
    assert 'filename="beta-' in response.headers["Content-Disposition"]
    table = pq.read_table(io.BytesIO(response.data))
    assert "val/acc" in table.column_names and "train/loss" not in table.column_names


def test_download_names_are_sanitised(client: FlaskClient, ids: Ids) -> None:
    xss = ids["<script>alert(1)</script>"]
    disposition = client.get(f"/api/v1/runs/{xss}/history").headers["Content-Disposition"]
    assert "<" not in disposition and '"' not in disposition.split('filename="', 1)[1][:-1]


# --- empty and damaged stores --------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda p: p.mkdir(), lambda p: None])
def test_empty_store_shows_how_to_log_a_first_run(tmp_path: Path, make: object) -> None:
    root = tmp_path / "empty"
    make(root)  # type: ignore[operator]
    app = create_app(root, watch=False)
    client = app.test_client()
    body = client.get("/").get_data(as_text=True)
    assert "No runs here yet" in body
    assert "localtrack.init(" in body and str(root) in body
    assert client.get("/api/v1/projects").json["projects"] == []


def test_damaged_shard_is_a_warning_and_the_rest_renders(tmp_path: Path) -> None:
    run_id = log_run(tmp_path, "p", "hurt", steps=20)
    shard = next((tmp_path / "runs" / run_id / "metrics").glob("*.parquet"))
    shard.write_bytes(shard.read_bytes()[:-40])  # torn footer
    client = create_app(tmp_path, watch=False).test_client()
    page = client.get(f"/runs/{run_id}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "could not be read" in body and shard.name in body
    api = client.get(f"/api/v1/runs/{run_id}").json
    assert any(shard.name in w for w in api["warnings"])
    assert client.get(f"/api/v1/series?runs={run_id}&key=train/loss").status_code == 200
    assert client.get("/projects/p").status_code == 200


def test_healthy_run_has_no_warnings(client: FlaskClient, ids: Ids) -> None:
    assert client.get(f"/api/v1/runs/{ids['alpha']}").json["warnings"] == []
