"""The run page's media through Flask's test client: the media index, blobs (and attempts to
escape through them), table pages sorted/filtered/paged on the server, and histograms."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from webui import create_app

from .media_fixtures import HIST_STEPS, TABLE_ROWS, XSS, legacy_run, rich_run

SECRET = b"TOPSECRET-media-9c1"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A legacy run, a rich run, a secret file beside the store, and a link planted towards it."""
    base = tmp_path_factory.mktemp("media")
    root = base / "store"
    legacy = legacy_run(root)
    rich = rich_run(root)
    (base / "secret.txt").write_bytes(SECRET)
    (root / "secret.txt").write_bytes(SECRET)
    blobs = root / "runs" / rich / "media" / "blobs"
    planted = "f" * 64 + ".png"  # a valid blob name that is a link out of the store
    os.symlink(base / "secret.txt", blobs / planted)
    os.symlink(base / "secret.txt", root / "runs" / rich / "files" / "leak.txt")
    return {"root": root, "rich": rich, "legacy": legacy, "planted": planted}


@pytest.fixture(scope="module")
def app(store: dict[str, object]) -> Flask:
    return create_app(store["root"], watch=False)  # type: ignore[arg-type]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _index(client: FlaskClient, run_id: str) -> dict:
    response = client.get(f"/api/v1/runs/{run_id}/media")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.json


def test_media_index_lists_keys_by_type_with_steps(client: FlaskClient, store: dict) -> None:
    body = _index(client, store["rich"])
    kinds = [(k["type"], k["key"]) for k in body["keys"]]
    assert kinds == [
        ("image", "samples/colour"),
        ("image", "samples/digits"),
        ("table", "predictions"),
        ("histogram", "weights/layer1"),
    ]
    assert body["counts"] == {"image": 2, "table": 1, "histogram": 1}
    digits = body["keys"][1]
    assert digits["steps"] == [0, 10, 20] and digits["count"] == 3
    item = digits["items"][1]
    assert item["caption"] == f"digit at 10 {XSS}"
    assert (item["width"], item["height"]) == (28, 28)
    assert item["file"].endswith(".png") and "/" not in item["file"]
    table = body["keys"][2]
    assert [i["rows"] for i in table["items"]] == [TABLE_ROWS - 10, TABLE_ROWS - 20]
    assert body["keys"][3]["steps"] == list(range(HIST_STEPS))


def test_a_run_without_media_has_an_empty_index(client: FlaskClient, store: dict) -> None:
    body = _index(client, store["legacy"])
    assert body["keys"] == [] and body["counts"] == {"image": 0, "table": 0, "histogram": 0}
    page = client.get(f"/runs/{store['legacy']}")
    assert page.status_code == 200 and b'id="media-panel"' in page.data


def test_images_are_served_as_png_and_cached_for_good(client: FlaskClient, store: dict) -> None:
    name = _index(client, store["rich"])["keys"][1]["items"][0]["file"]
    url = f"/api/v1/runs/{store['rich']}/media/{name}"
    with client.get(url) as response:
        body = response.get_data()
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert body.startswith(PNG_MAGIC)
    assert "immutable" in response.headers["Cache-Control"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    etag = response.headers["ETag"]
    with client.get(url, headers={"If-None-Match": etag}) as again:
        assert again.status_code == 304


def test_table_blobs_download_as_parquet(client: FlaskClient, store: dict) -> None:
    name = _index(client, store["rich"])["keys"][2]["items"][0]["file"]
    with client.get(f"/api/v1/runs/{store['rich']}/media/{name}") as response:
        body = response.get_data()
    assert response.mimetype == "application/vnd.apache.parquet"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert body[:4] == b"PAR1"


TRAVERSALS = [
    "..%2f..%2f..%2fsecret.txt",
    "..%2F..%2Frun.json",
    "%2e%2e%2f%2e%2e%2frun.json",
    "%2e%2e",
    "..",
    ".",
    "%2Fetc%2Fpasswd",
    "/etc/passwd",
    "..%5c..%5crun.json",
    "%252e%252e%252frun.json",
    "run.json",
    "secret.txt",
    "x.png%00",
    "%00",
    "f" * 64 + ".png%00.txt",
    "f" * 64 + ".PNG",
    "f" * 64 + ".png%0a",
    "f" * 64 + ".png",  # the planted link: a valid name, but it leads out of the store
    "leak.txt",  # a link planted in files/
]


@pytest.mark.parametrize("route", ["media", "files"])
@pytest.mark.parametrize("name", TRAVERSALS)
def test_files_cannot_be_reached_outside_the_run(
    client: FlaskClient, store: dict, route: str, name: str
) -> None:
    url = f"/api/v1/runs/{store['rich']}/{route}/{name}"
    with client.get(url) as response:
        body = response.get_data()
    assert response.status_code == 404, url
    assert response.mimetype == "application/json"
    assert set(response.json) == {"error"} and response.json["error"]["code"] == "not_found"
    assert SECRET not in body and b"root:" not in body and b'"project"' not in body


@pytest.mark.parametrize(
    "run_part", ["..", "..%2f..", "%2e%2e", "..%2F..%2Fsecret.txt", "%00", "nope"]
)
def test_run_ids_cannot_escape_either(client: FlaskClient, store: dict, run_part: str) -> None:
    for tail in ("media", "media/" + "0" * 64 + ".png", "files/output.log", "console"):
        with client.get(f"/api/v1/runs/{run_part}/{tail}") as response:
            body = response.get_data()
        assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
        assert SECRET not in body


def _table(client: FlaskClient, run_id: str, **params: object) -> dict:
    response = client.get(
        f"/api/v1/runs/{run_id}/table", query_string={"key": "predictions", **params}
    )
    assert response.status_code == 200, response.json
    return response.json


def test_table_pages_on_the_server(client: FlaskClient, store: dict) -> None:
    first = _table(client, store["rich"], limit=7)
    assert first["columns"] == ["id", "label", "score", "even", "image"]
    assert first["image_columns"] == ["image"]
    assert (first["step"], first["steps"]) == (20, [10, 20])  # the latest step by default
    assert first["total_rows"] == first["all_rows"] == TABLE_ROWS - 20
    assert [r[0] for r in first["rows"]] == list(range(7))
    second = _table(client, store["rich"], limit=7, offset=7)
    assert [r[0] for r in second["rows"]] == list(range(7, 14))
    last = _table(client, store["rich"], limit=7, offset=98)
    assert [r[0] for r in last["rows"]] == [98, 99]


def test_table_sorts_filters_and_picks_a_step(client: FlaskClient, store: dict) -> None:
    rid = store["rich"]
    desc = _table(client, rid, sort="id", order="desc", limit=3)
    assert [r[0] for r in desc["rows"]] == [99, 98, 97]
    by_label = _table(client, rid, sort="label", limit=2)
    assert by_label["rows"][0][1] == XSS  # '<' sorts before 'i'
    found = _table(client, rid, q="ITEM 01", limit=50)
    assert [r[0] for r in found["rows"]] == list(range(10, 20))
    assert (found["total_rows"], found["all_rows"], found["q"]) == (10, 100, "ITEM 01")
    older = _table(client, rid, step=10, limit=1, offset=105)
    assert older["step"] == 10 and older["all_rows"] == TABLE_ROWS - 10
    assert [r[0] for r in older["rows"]] == [105]


def test_table_image_cells_name_blobs_the_media_route_serves(
    client: FlaskClient, store: dict
) -> None:
    row = _table(client, store["rich"], limit=1)["rows"][0]
    assert row[4].endswith(".png") and "/" not in row[4]
    with client.get(f"/api/v1/runs/{store['rich']}/media/{row[4]}") as response:
        assert response.status_code == 200 and response.get_data().startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("", "?key=NAME"),
        ("key=nope", "no table 'nope'"),
        ("key=predictions&step=3", "not logged at step 3"),
        ("key=predictions&sort=nope", "no column 'nope'"),
        ("key=predictions&order=up", "asc or desc"),
        ("key=predictions&limit=0", "limit must be between"),
        ("key=predictions&offset=-1", "offset must be between"),
        ("key=predictions&step=x", "step must be a whole number"),
    ],
)
def test_table_errors_use_the_envelope(
    client: FlaskClient, store: dict, query: str, fragment: str
) -> None:
    response = client.get(f"/api/v1/runs/{store['rich']}/table?{query}")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request"
    assert fragment in response.json["error"]["message"]


def test_histograms_come_on_shared_edges(client: FlaskClient, store: dict) -> None:
    url = f"/api/v1/runs/{store['rich']}/histograms"
    body = client.get(url, query_string={"key": "weights/layer1", "bins": 16}).json
    assert body["steps"] == body["step_from"] == body["all_steps"] == list(range(HIST_STEPS))
    assert len(body["edges"]) == 17 and body["merged"] is False
    assert len(body["counts"]) == HIST_STEPS and {len(c) for c in body["counts"]} == {16}
    assert all(sum(c) == 2000 for c in body["counts"])  # every value of every step is there
    assert body["edges"] == sorted(body["edges"])
    merged = client.get(url, query_string={"key": "weights/layer1", "max_steps": 7}).json
    assert merged["merged"] is True and len(merged["counts"]) == 7
    assert merged["steps"][-1] == HIST_STEPS - 1 and merged["step_from"][0] == 0
    assert sum(map(sum, merged["counts"])) == 2000 * HIST_STEPS


def test_one_histogram_keeps_its_own_bins(client: FlaskClient, store: dict) -> None:
    url = f"/api/v1/runs/{store['rich']}/histogram"
    body = client.get(url, query_string={"key": "weights/layer1", "step": 3}).json
    assert body["step"] == 3 and len(body["edges"]) == len(body["counts"]) + 1 == 65
    assert sum(body["counts"]) == 2000
    assert client.get(url, query_string={"key": "weights/layer1"}).json["step"] == HIST_STEPS - 1
    missing = client.get(url, query_string={"key": "weights/layer1", "step": 999})
    assert missing.status_code == 400 and "step 999" in missing.json["error"]["message"]
    wrong = client.get(url, query_string={"key": "predictions"})
    assert wrong.status_code == 400 and "no histogram" in wrong.json["error"]["message"]


@pytest.mark.parametrize(
    "path",
    [
        "media",
        "table?key=predictions",
        "histograms?key=weights/layer1",
        "histogram?key=weights/layer1",
    ],
)
def test_media_data_is_conditional(client: FlaskClient, store: dict, path: str) -> None:
    url = f"/api/v1/runs/{store['rich']}/{path}"
    first = client.get(url)
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-cache"
    again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_run_page_has_tabs_and_no_inline_script(client: FlaskClient, store: dict) -> None:
    body = client.get(f"/runs/{store['rich']}").get_data(as_text=True)
    for tab in ("charts", "media", "console", "environment"):
        assert f'data-tab="{tab}"' in body
    for script in ("histogram.js", "media.js", "console.js", "environment.js"):
        assert script in body
    assert "<script>" not in body.replace("<script src=", "")  # no inline script under the CSP


def test_media_index_route_is_listed(client: FlaskClient) -> None:
    routes = client.get("/api/v1/").json["routes"]
    for name in ("media", "media_file", "table", "histograms", "histogram"):
        assert name in routes


def test_media_static_files_exist() -> None:
    static = Path(__file__).resolve().parents[1] / "webui" / "static" / "js"
    for name in ("histogram.js", "media.js", "console.js", "environment.js"):
        assert (static / name).is_file()


def test_every_api_route_is_documented(app: Flask) -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    documented = re.sub(r"<[^>]+>", "<>", docs)
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<[^>]+>", "<>", rule.rule)
            methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
            main = "GET" if "GET" in methods else methods[0]  # POST-only: report-preview, pin
            assert f"`{main} {path}" in documented, f"{rule.rule} is missing from docs/api.md"
