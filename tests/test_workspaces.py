"""Workspace views in the store and their API; chart data in binary columns; ETags that move
only with data; the compare page limited to chosen metrics by URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from localtrack.errors import DocumentError
from localtrack.store import workspaces
from webui import chartbin, create_app

from .webui_fixtures import log_run


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, list[str]]:
    ids = [
        log_run(tmp_path, "p", f"r{i}", config={"lr": 0.1 * (i + 1), "opt": "ab"[i % 2]})
        for i in range(3)
    ]
    return tmp_path, ids


def test_views_round_trip_in_the_store(tmp_path: Path) -> None:
    state = {"x": "step", "smoothing": "ema", "amount": 0.6, "panels": [{"id": "a", "type": "bar"}]}
    workspaces.save_view(tmp_path, "team/p", "main view", state)
    workspaces.set_default(tmp_path, "team/p", "main view")
    assert (tmp_path / "workspaces" / "team%2Fp" / "main view.json").is_file()
    assert workspaces.read_view(tmp_path, "team/p", "main view")["state"] == state
    assert [v.name for v in workspaces.list_views(tmp_path, "team/p")] == ["main view"]
    assert workspaces.default_view(tmp_path, "team/p") == "main view"
    workspaces.delete_view(tmp_path, "team/p", "main view")
    assert workspaces.list_views(tmp_path, "team/p") == []
    assert workspaces.default_view(tmp_path, "team/p") is None


@pytest.mark.parametrize(
    ("name", "state", "field"),
    [
        ("../x", {}, "name"),
        ("ok", {"panels": [{"type": "pie"}]}, "panels[0].type"),
        ("ok", {"log_y": "yes"}, "log_y"),
        ("ok", {"smoothing": "median"}, "smoothing"),
        ("ok", {"y_min": float("nan")}, "y_min"),
    ],
)
def test_a_bad_view_is_refused_naming_the_field(
    tmp_path: Path, name: str, state: dict[str, object], field: str
) -> None:
    with pytest.raises(DocumentError) as exc:
        workspaces.save_view(tmp_path, "p", name, state)
    assert field in exc.value.field or field in str(exc.value)


@pytest.mark.parametrize("project", [".", "..", "...", ""])
def test_a_project_name_that_names_no_folder_of_its_own_is_refused(
    tmp_path: Path, project: str
) -> None:
    with pytest.raises(DocumentError) as exc:
        workspaces.save_view(tmp_path, project, "x", {})
    assert exc.value.field == "project"
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "workspaces" / "x.json").exists()


def test_the_views_api_cannot_write_outside_the_workspaces_folder(
    store: tuple[Path, list[str]],
) -> None:
    root, _ = store
    client = create_app(root, watch=False).test_client()
    for project in ("%2E%2E", "%2E"):
        answer = client.put(f"/api/v1/projects/{project}/views/x", json={"state": {}})
        assert answer.status_code in (400, 404), answer.data
        assert "error" in answer.json
    assert not (root / "x.json").exists() and not (root / "workspaces" / "x.json").exists()


def test_views_api_saves_lists_and_deletes(store: tuple[Path, list[str]]) -> None:
    root, _ = store
    client = create_app(root, watch=False).test_client()
    url = "/api/v1/projects/p/views/loss"
    saved = client.put(url, json={"state": {"x": "step"}, "default": True})
    assert saved.status_code == 200 and saved.json["name"] == "loss"
    listed = client.get("/api/v1/projects/p/views").json
    assert listed["default"] == "loss" and [v["name"] for v in listed["views"]] == ["loss"]
    ws = client.get("/api/v1/projects/p/workspace").json
    assert ws["view"]["state"] == {"x": "step"} and len(ws["runs"]) == 3
    assert "train/loss" in ws["keys"]
    bad = client.put(url, json={"state": {"panels": "x"}})
    assert bad.status_code == 400 and "panels" in bad.json["error"]["message"]
    not_json = client.put(url, data="state=1", content_type="application/x-www-form-urlencoded")
    assert not_json.status_code == 400
    assert client.delete(url).status_code == 200
    assert client.get(url).status_code == 404


def test_binary_columns_match_the_json(store: tuple[Path, list[str]]) -> None:
    root, ids = store
    client = create_app(root, watch=False).test_client()
    q = f"/api/v1/charts?runs={','.join(ids)}&keys=train/loss,val/acc&buckets=20&group_by=config.opt"
    as_json = client.get(q).json["charts"]
    binary = client.get(q + "&format=bin")
    assert binary.mimetype == chartbin.MIMETYPE
    decoded = chartbin.unpack(binary.data)["charts"]
    assert [c["key"] for c in decoded] == ["train/loss", "val/acc"]
    for j, b in zip(as_json, decoded, strict=True):
        assert b["x"] == j["x"]
        for rj, rb in zip(j["runs"] + j["groups"], b["runs"] + b["groups"], strict=True):
            name = "last" if "last" in rj else "mean"
            # JSON rounds to 6 significant digits; the binary float32 keeps about 7
            assert rb[name] == pytest.approx(rj[name], rel=1e-5, abs=1e-7)
            if rj.get("min") is not None and rb["min"] is None:
                # one point per bucket: the band is the line itself and is not sent
                assert rj["min"] == rj["max"] == rj[name] and rb["max"] is None
                continue
            for band in ("min", "max"):
                if rj.get(band) is not None:
                    span = max(v for v in rj["max"] if v is not None) - min(
                        v for v in rj["min"] if v is not None
                    )
                    assert rb[band] == pytest.approx(rj[band], abs=span / 30000 + 1e-9)
    assert len(binary.data) < len(client.get(q).data)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/charts?runs={ids}&keys=train/loss&format=bin",
        "/api/v1/series?runs={ids}&key=train/loss",
        "/api/v1/projects/p/runs",
        "/api/v1/projects/p/compare?runs={ids}",
    ],
)
def test_two_polls_with_no_change_are_304_even_across_the_clock(
    store: tuple[Path, list[str]], url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, ids = store
    client = create_app(root, watch=False).test_client()
    url = url.format(ids=",".join(ids))
    first = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert first.status_code == 200
    import webui.state

    real = webui.state.time.time
    monkeypatch.setattr(webui.state.time, "time", lambda: real() + 3600)  # an hour later
    for _ in range(2):
        again = client.get(
            url, headers={"If-None-Match": first.headers["ETag"], "Accept-Encoding": "gzip"}
        )
        assert again.status_code == 304
    log_run(root, "p", "new one")
    assert client.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 200


def test_a_kept_chart_reply_gives_way_to_new_data(store: tuple[Path, list[str]]) -> None:
    """Binary chart replies are kept per data version: asked again, the same reply; once the
    run has more steps, the reply shows them."""
    import localtrack

    root, ids = store
    client = create_app(root, watch=False).test_client()
    url = f"/api/v1/charts?runs={ids[0]}&keys=train/loss&format=bin"
    first = client.get(url)
    assert client.get(url).data == first.data
    assert len(chartbin.unpack(first.data)["charts"][0]["x"]) == 50
    run = localtrack.init(project="p", dir=str(root), id=ids[0], resume="allow")
    run.log({"train/loss": 0.5}, step=60)
    run.finish()
    again = client.get(url)
    assert again.headers["ETag"] != first.headers["ETag"]
    assert chartbin.unpack(again.data)["charts"][0]["x"][-1] == 60


def test_compare_is_limited_to_chosen_metrics_by_url(store: tuple[Path, list[str]]) -> None:
    root, ids = store
    client = create_app(root, watch=False).test_client()
    runs = ",".join(ids)
    every = client.get(f"/api/v1/projects/p/compare?runs={runs}").json
    assert {"train/loss", "val/acc"} <= set(every["shared_keys"])
    chosen = client.get(f"/api/v1/projects/p/compare?runs={runs}&keys=val/*").json
    assert chosen["shared_keys"] == ["val/acc"] and chosen["chosen_keys"] == ["val/*"]
    assert [s["keys"] for s in chosen["sections"]] == [["val/acc"]]
    page = client.get(f"/projects/p/compare?runs={runs}&keys=train/loss").data.decode()
    assert 'Shared metrics <span class="count">1</span>' in page
    assert '"shared_keys": ["train/loss"]' in page  # the embedded view the charts start from


def test_replies_are_compressed(store: tuple[Path, list[str]]) -> None:
    root, ids = store
    client = create_app(root, watch=False).test_client()
    r = client.get(
        f"/api/v1/charts?runs={','.join(ids)}&keys=train/loss", headers={"Accept-Encoding": "gzip"}
    )
    assert r.headers["Content-Encoding"] == "gzip"


def test_binary_columns_leave_out_bands_past_thirty_lines() -> None:
    x = list(range(10))
    run = {"last": [1.0] * 10, "min": [0.0] * 10, "max": [2.0] * 10}
    few = chartbin.unpack(chartbin.pack([{"key": "k", "x": x, "runs": [dict(run)], "groups": []}]))
    assert few["charts"][0]["runs"][0]["min"] == pytest.approx([0.0] * 10)
    many = [dict(run, id=str(i)) for i in range(chartbin.BAND_LINES + 1)]
    body = chartbin.pack([{"key": "k", "x": x, "runs": many, "groups": []}])
    lines = chartbin.unpack(body)["charts"][0]["runs"]
    assert all(r["min"] is None and r["max"] is None for r in lines)
    assert lines[0]["last"] == pytest.approx([1.0] * 10)
