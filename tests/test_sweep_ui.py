"""The sweep page and its JSON twin: state, best, trials, fANOVA importance (Optuna), rungs; a
real browser renders its charts and table and follows a running sweep live; `stopped` is a state
the runs table filters on."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import localtrack

from .webui_fixtures import LiveServer, guarded, live_server

QUIET = {
    "LOCALTRACK_SYSTEM_METRICS": "0",
    "LOCALTRACK_CONSOLE": "0",
    "LOCALTRACK_CAPTURE_PACKAGES": "0",
    "LOCALTRACK_SAVE_CODE": "0",
    "LOCALTRACK_CAPTURE_GIT": "0",
}
CONFIG = {
    "method": "random",
    "seed": 7,
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
        "width": {"values": [16, 32, 64]},
        "opt": {"values": ["adam", "sgd"]},
    },
    "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 2},
}


def _train() -> None:
    run = localtrack.init()
    lr, penalty = run.config["lr"], 0.0 if run.config["opt"] == "adam" else 0.5
    for epoch in range(8):
        run.log({"loss": abs(math.log10(lr) + 2.5) + penalty + 1 / (epoch + 1)})
        run.flush()
        time.sleep(0.1)  # the agent looks at the rungs every 0.25 s
    run.finish()


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    root = tmp_path_factory.mktemp("sweep-ui") / "store"
    with pytest.MonkeyPatch.context() as mp:
        for k, v in QUIET.items():
            mp.setenv(k, v)
        sweep_id = localtrack.sweep(CONFIG, project="tune", dir=root)
        localtrack.agent(sweep_id, function=_train, count=10, dir=root)
        yield root, sweep_id


def test_json_twin_has_state_best_trials_importance_and_rungs(swept: tuple[Path, str]) -> None:
    from webui.app import create_app

    root, sweep_id = swept
    app = create_app(root, watch=False)
    client = app.test_client()
    reply = client.get(f"/api/v1/sweeps/{sweep_id}")
    assert reply.status_code == 200, reply.get_data(as_text=True)
    data = reply.get_json()
    assert data["sweep"]["state"] == "running" and len(data["trials"]) == 10
    states = {t["state"] for t in data["trials"]}
    assert "stopped" in states and "finished" in states  # hyperband stopped some
    best = min(t["value"] for t in data["trials"] if t["state"] == "finished")
    assert data["sweep"]["best"]["value"] == best
    imp = data["importance"]
    assert imp["method"] == "fanova" and set(imp["values"]) <= {"lr", "width", "opt"}
    assert imp["values"] and abs(sum(imp["values"].values()) - 1) < 1e-6, imp
    # min_iter 2, eta 2: rungs 2, 4, 8 (8 values logged), then 16, which no trial reached
    assert [r["iteration"] for r in data["rungs"]] == [2, 4, 8, 16]
    assert data["rungs"][0]["reached"] >= 1 and data["rungs"][-1]["reached"] == 0
    etag = reply.headers["ETag"]
    assert (
        client.get(f"/api/v1/sweeps/{sweep_id}", headers={"If-None-Match": etag}).status_code == 304
    )
    assert client.get("/api/v1/sweeps/zzzzzzzz").status_code == 404
    listed = client.get("/api/v1/projects/tune/sweeps").get_json()["sweeps"]
    assert [s["id"] for s in listed] == [sweep_id]
    page = client.get("/projects/tune").get_data(as_text=True)
    assert f'data-sweep="{sweep_id}"' in page and "<option>stopped</option>" in page
    stopped = client.get("/api/v1/projects/tune/runs?state=stopped").get_json()
    assert stopped["matched"] == sum(t["state"] == "stopped" for t in data["trials"])
    app.extensions["localtrack"].close()


@pytest.mark.browser
def test_sweep_page_renders_charts_and_table_and_follows_new_trials(
    browser: Any, swept: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, sweep_id = swept
    with live_server(root, poll_ms=250) as server, guarded(browser) as (page, guard):
        server_: LiveServer = server
        page.goto(f"{server_.url}/projects/tune")
        page.click(f'#project-sweeps a[data-sweep="{sweep_id}"]')
        page.wait_for_url(f"**/sweeps/{sweep_id}")
        page.wait_for_selector("#parallel-chart svg path.pc-line")
        trials = page.locator("#trials-table tbody tr").count()
        assert trials >= 10
        assert page.locator("#parallel-chart svg path.pc-line").count() >= 5
        strokes = {
            page.locator("#parallel-chart svg path.pc-line").nth(i).get_attribute("stroke")
            for i in range(5)
        }
        assert len(strokes) > 1  # coloured by the metric
        assert page.locator("#scatter-chart svg circle.scatter-dot").count() >= 3
        page.select_option("#scatter-param", "opt")
        assert page.locator("#scatter-chart svg circle.scatter-dot").count() >= 3
        assert page.locator("#importance-bars .imp-row").count() >= 1
        rungs = page.request.get(f"{server_.url}/api/v1/sweeps/{sweep_id}").json()["rungs"]
        assert page.locator("#rungs-table tbody tr").count() == len(rungs)
        assert "Best so far" in page.inner_text("#sweep-best")
        page.screenshot(path=str(tmp_path / "sweep.png"), full_page=True)
        for k, v in QUIET.items():
            monkeypatch.setenv(k, v)
        localtrack.agent(sweep_id, function=_train, count=2, dir=root)
        page.wait_for_function(
            f"() => Number(document.getElementById('sweep-app').dataset.rendered) >= {trials + 2}",
            timeout=30_000,
        )
        guard.check()
