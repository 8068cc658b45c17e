"""The compare page's media twin through Flask's test client: the keys the runs share (and who
lacks which), the nearest step at or before the chosen one per run, every kind described as on
the run page, errors, conditional reads, and the route's place in the registry and docs."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from webui import create_app
from webui.compare_media import nearest_at_or_before
from webui.routes import BY_ENDPOINT, check

from .compare_media_fixtures import PROJECT, compare_runs

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("compare-media") / "store"
    return {"root": root, **compare_runs(root)}


@pytest.fixture(scope="module")
def app(runs: dict[str, object]) -> Flask:
    return create_app(runs["root"], watch=False)  # type: ignore[arg-type]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _get(client: FlaskClient, ids: list[object], **params: object) -> dict:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    url = f"/api/v1/projects/{PROJECT}/compare/media?runs={','.join(map(str, ids))}&{query}"
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def test_nearest_step_at_or_before() -> None:
    assert nearest_at_or_before([0, 10, 20], 12) == 10
    assert nearest_at_or_before([0, 10, 20], 10) == 10
    assert nearest_at_or_before([0, 10, 20], 99) == 20
    assert nearest_at_or_before([5, 15], 3) is None


def test_keys_list_who_has_and_who_lacks_each(client: FlaskClient, runs: dict) -> None:
    body = _get(client, [runs["a"], runs["b"], runs["c"]])
    keys = {(k["type"], k["key"]): k for k in body["keys"]}
    assert set(keys) == {
        ("image", "samples"),
        ("image", "gallery"),
        ("image", "only_here"),
        ("audio", "clip"),
        ("html", "page"),
        ("table", "preds"),
        ("chart", "curve"),
    }
    samples = keys[("image", "samples")]
    assert samples["runs"] == [runs["a"], runs["b"]] and samples["missing"] == [runs["c"]]
    assert keys[("image", "only_here")]["missing"] == [runs["b"], runs["c"]]
    assert body["shared_keys"] == []  # run c has no media at all
    two = _get(client, [runs["a"], runs["b"]])
    assert "samples" in two["shared_keys"] and "only_here" not in two["shared_keys"]
    assert [r["name"] for r in two["runs"]] == ["alpha", "beta"]


def test_each_run_shows_its_nearest_step_at_or_before(client: FlaskClient, runs: dict) -> None:
    ids = [runs["a"], runs["b"], runs["c"]]
    latest = _get(client, ids, key="samples")
    assert latest["key"] == "samples" and latest["type"] == "image"
    assert latest["steps"] == [0, 5, 10, 15, 20] and latest["step"] == 20
    a, b, c = latest["panels"]
    assert (a["step"], b["step"]) == (20, 15)
    assert a["items"][0]["caption"] == "alpha at 20" and a["items"][0]["file"].endswith(".png")
    assert b["items"][0]["caption"] == "beta at 15" and b["items"][0]["width"] == 28
    assert c == {
        "run_id": runs["c"],
        "name": "gamma",
        "has_key": False,
        "step": None,
        "first_step": None,
        "last_step": None,
        "items": [],
    }
    at12 = _get(client, ids, key="samples", step=12)["panels"]
    assert [p["step"] for p in at12] == [10, 5, None]
    at3 = _get(client, ids, key="samples", step=3)["panels"]
    assert [p["step"] for p in at3] == [0, None, None]
    assert at3[1]["has_key"] and at3[1]["first_step"] == 5 and at3[1]["items"] == []


def test_the_default_key_is_the_first_shared_one(client: FlaskClient, runs: dict) -> None:
    body = _get(client, [runs["a"], runs["b"]])
    assert (body["type"], body["key"]) == ("image", "gallery")  # image keys come first, A→Z
    a, b = body["panels"]
    assert [i["index"] for i in a["items"]] == [0, 1] and a["items"][0]["count"] == 2
    assert b["step"] == 15 and len(b["items"]) == 2


def test_every_kind_is_described_as_on_the_run_page(client: FlaskClient, runs: dict) -> None:
    ids = [runs["a"], runs["b"]]
    for key, kind, field in (
        ("clip", "audio", "sample_rate"),
        ("page", "html", "scripts"),
        ("preds", "table", "rows"),
        ("curve", "chart", "chart"),
    ):
        body = _get(client, ids, key=key, type=kind, step=12)
        assert body["type"] == kind
        a, b = body["panels"]
        assert (a["step"], b["step"]) == (10, 5)
        assert field in a["items"][0] and a["items"][0]["file"]
        run_index = client.get(f"/api/v1/runs/{runs['a']}/media").json
        entry = next(k for k in run_index["keys"] if k["key"] == key)
        assert a["items"][0] == next(i for i in entry["items"] if i["step"] == 10)
        with client.get(f"/api/v1/runs/{runs['a']}/media/{a['items'][0]['file']}") as blob:
            assert blob.status_code == 200


def test_bad_requests(client: FlaskClient, runs: dict) -> None:
    base = f"/api/v1/projects/{PROJECT}/compare/media"
    assert client.get(base).status_code == 400
    missing = client.get(f"{base}?runs={runs['a']}&key=nope")
    assert missing.status_code == 400 and "nope" in missing.json["error"]["message"]
    assert client.get(f"{base}?runs={runs['a']},zzzzzzzz").status_code == 404
    wrong_type = client.get(f"{base}?runs={runs['a']}&key=samples&type=audio")
    assert wrong_type.status_code == 400
    empty = _get(client, [runs["c"]])
    assert empty["keys"] == [] and empty["key"] is None and "panels" not in empty


def test_conditional_reads(client: FlaskClient, runs: dict) -> None:
    url = f"/api/v1/projects/{PROJECT}/compare/media?runs={runs['a']},{runs['b']}&key=samples"
    first = client.get(url)
    assert first.headers.get("ETag")
    again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_registry_policy_docs_and_page(app: Flask, client: FlaskClient, runs: dict) -> None:
    route = BY_ENDPOINT["api.compare_media"]
    assert route.policy is not None and route.policy.scopes == ("project", "runs")
    assert route.js == "api.compareMedia"
    assert not [p for p in check(app, DOCS.read_text()) if "compare" in p]
    assert "compare_media" in client.get("/api/v1/").json["routes"]
    page = client.get(f"/projects/{PROJECT}/compare?runs={runs['a']},{runs['b']}")
    html = page.get_data(as_text=True)
    assert 'id="compare-media"' in html and "js/compare_media.js" in html
    assert html.index("js/compare.js") < html.index("js/compare_media.js")
    # the renderers come later, from the section's list, not as the page's own scripts
    assert '<script src="/static/js/media_kinds.js"' not in html
    assert "/static/js/media_kinds.js" in html
    assert "api.compareMedia" in html  # in the URL templates the scripts build addresses from
