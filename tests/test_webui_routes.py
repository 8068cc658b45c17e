"""Every route of the UI app through Flask's test client: pages, JSON twins, policy, errors.

``ROUTES`` is the policy table: a route added to the app without an entry here fails
``test_every_route_has_a_policy``, and every entry is fetched and checked for status, content
type and security headers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import localtrack
from localtrack.reports import files as report_files
from localtrack.store import workspaces
from localtrack.store.reader import StoreReader
from webui import create_app, routes
from webui import views as models
from webui.app import CSP
from webui.server import policies

from . import media_fixtures
from .artifact_ui_fixtures import one_artifact

Ids = dict[str, str]

HTML, JSON, CSV, PARQUET, CSS = (
    "text/html",
    "application/json",
    "text/csv",
    "application/vnd.apache.parquet",
    "text/css",
)

# rule -> (example URL built from the store's run ids, expected mimetype)
ROUTES: dict[str, tuple[Callable[[Ids], str], str]] = {
    "/": (lambda ids: "/", HTML),
    "/projects/<path:project>": (lambda ids: "/projects/mnist", HTML),
    "/projects/<path:project>/compare": (
        lambda ids: f"/projects/mnist/compare?runs={ids['alpha']},{ids['beta']}",
        HTML,
    ),
    "/runs/<run_id>": (lambda ids: f"/runs/{ids['alpha']}", HTML),
    "/healthz": (lambda ids: "/healthz", JSON),
    "/static/<path:filename>": (lambda ids: "/static/css/app.css", CSS),
    "/bundle.js": (lambda ids: "/bundle.js?f=js/core.js,js/chart.js", "text/javascript"),
    "/api/v1/": (lambda ids: "/api/v1/", JSON),
    "/api/v1/projects": (lambda ids: "/api/v1/projects", JSON),
    "/api/v1/projects/<path:project>/runs": (lambda ids: "/api/v1/projects/mnist/runs", JSON),
    "/api/v1/projects/<path:project>/compare": (
        lambda ids: f"/api/v1/projects/mnist/compare?runs={ids['alpha']},{ids['beta']}",
        JSON,
    ),
    "/api/v1/projects/<path:project>/compare/media": (
        lambda ids: f"/api/v1/projects/mnist/compare/media?runs={ids['alpha']},{ids['beta']}",
        JSON,
    ),
    "/api/v1/runs/<run_id>": (lambda ids: f"/api/v1/runs/{ids['alpha']}", JSON),
    "/api/v1/runs/<run_id>/history": (lambda ids: f"/api/v1/runs/{ids['alpha']}/history", CSV),
    "/api/v1/series": (lambda ids: f"/api/v1/series?runs={ids['alpha']}&key=train/loss", JSON),
    "/api/v1/charts": (lambda ids: f"/api/v1/charts?runs={ids['alpha']}&keys=train/loss", JSON),
    "/projects/<path:project>/workspace": (lambda ids: "/projects/mnist/workspace", HTML),
    "/api/v1/projects/<path:project>/workspace": (
        lambda ids: "/api/v1/projects/mnist/workspace",
        JSON,
    ),
    "/api/v1/projects/<path:project>/views": (lambda ids: "/api/v1/projects/mnist/views", JSON),
    "/api/v1/projects/<path:project>/views/<name>": (
        lambda ids: "/api/v1/projects/mnist/views/main",
        JSON,
    ),
    "/api/v1/export": (lambda ids: f"/api/v1/export?runs={ids['alpha']}&key=train/loss", CSV),
    "/api/v1/changes": (lambda ids: "/api/v1/changes", JSON),
    "/api/v1/projects/<path:project>/run-query": (
        lambda ids: "/api/v1/projects/mnist/run-query?order=-summary_metrics.val/acc",
        JSON,
    ),
    "/api/v1/runs/<run_id>/record": (lambda ids: f"/api/v1/runs/{ids['alpha']}/record", JSON),
    "/api/v1/runs/<run_id>/history-page": (
        lambda ids: f"/api/v1/runs/{ids['alpha']}/history-page?key=train/loss&limit=10",
        PARQUET,
    ),
    "/api/v1/runs/<run_id>/series-data": (
        lambda ids: f"/api/v1/runs/{ids['alpha']}/series-data?key=train/loss&buckets=10",
        PARQUET,
    ),
    "/api/v1/runs/<run_id>/files": (lambda ids: f"/api/v1/runs/{ids['alpha']}/files", JSON),
    "/api/v1/runs/<run_id>/media": (lambda ids: f"/api/v1/runs/{ids['rich']}/media", JSON),
    "/api/v1/runs/<run_id>/media/<name>": (
        lambda ids: f"/api/v1/runs/{ids['rich']}/media/{ids['blob']}",
        "image/png",
    ),
    "/api/v1/runs/<run_id>/table": (
        lambda ids: f"/api/v1/runs/{ids['rich']}/table?key=predictions",
        JSON,
    ),
    "/api/v1/runs/<run_id>/histograms": (
        lambda ids: f"/api/v1/runs/{ids['rich']}/histograms?key=weights/layer1",
        JSON,
    ),
    "/api/v1/runs/<run_id>/histogram": (
        lambda ids: f"/api/v1/runs/{ids['rich']}/histogram?key=weights/layer1",
        JSON,
    ),
    "/api/v1/runs/<run_id>/chart": (
        lambda ids: f"/api/v1/runs/{ids['kinds']}/chart?key=roc",
        JSON,
    ),
    "/api/v1/runs/<run_id>/cloud/<name>": (
        lambda ids: f"/api/v1/runs/{ids['kinds']}/cloud/{ids['cloud']}",
        JSON,
    ),
    "/api/v1/runs/<run_id>/console": (lambda ids: f"/api/v1/runs/{ids['alpha']}/console", JSON),
    "/api/v1/runs/<run_id>/environment": (
        lambda ids: f"/api/v1/runs/{ids['alpha']}/environment",
        JSON,
    ),
    "/api/v1/runs/<run_id>/files/<path:name>": (
        lambda ids: f"/api/v1/runs/{ids['alpha']}/files/requirements.txt",
        "text/plain",
    ),
    "/projects/<path:project>/artifacts": (lambda ids: "/projects/lineage/artifacts", HTML),
    "/projects/<path:project>/artifacts/<name>": (
        lambda ids: "/projects/lineage/artifacts/ds",
        HTML,
    ),
    "/projects/<path:project>/artifacts/<name>/<version>": (
        lambda ids: "/projects/lineage/artifacts/ds/v0",
        HTML,
    ),
    "/projects/<path:project>/artifacts/<name>/<version>/lineage": (
        lambda ids: "/projects/lineage/artifacts/ds/v0/lineage",
        HTML,
    ),
    "/api/v1/projects/<path:project>/artifacts": (
        lambda ids: "/api/v1/projects/lineage/artifacts",
        JSON,
    ),
    "/api/v1/projects/<path:project>/artifacts/<name>": (
        lambda ids: "/api/v1/projects/lineage/artifacts/ds",
        JSON,
    ),
    "/api/v1/projects/<path:project>/artifacts/<name>/<version>": (
        lambda ids: "/api/v1/projects/lineage/artifacts/ds/v0",
        JSON,
    ),
    "/api/v1/projects/<path:project>/artifacts/<name>/<version>/lineage": (
        lambda ids: "/api/v1/projects/lineage/artifacts/ds/v0/lineage",
        JSON,
    ),
    "/api/v1/projects/<path:project>/artifacts/<name>/<version>/file": (
        lambda ids: "/api/v1/projects/lineage/artifacts/ds/v0/file?path=readme.txt",
        "text/plain",
    ),
    "/api/v1/projects/<path:project>/artifacts/<name>/<version>/preview": (
        lambda ids: "/api/v1/projects/lineage/artifacts/ds/v0/preview?path=readme.txt",
        JSON,
    ),
    "/api/v1/runs/<run_id>/artifacts": (
        lambda ids: f"/api/v1/runs/{ids['artifacts']}/artifacts",
        JSON,
    ),
    "/projects/<path:project>/alerts": (lambda ids: "/projects/mnist/alerts", HTML),
    "/api/v1/projects/<path:project>/alerts": (lambda ids: "/api/v1/projects/mnist/alerts", JSON),
    "/api/v1/projects/<path:project>/alerts/rules": (
        lambda ids: "/api/v1/projects/mnist/alerts/rules",
        JSON,
    ),
    "/sweeps/<sweep_id>": (lambda ids: f"/sweeps/{ids['sweep']}", HTML),
    "/api/v1/sweeps/<sweep_id>": (lambda ids: f"/api/v1/sweeps/{ids['sweep']}", JSON),
    "/api/v1/projects/<path:project>/sweeps": (lambda ids: "/api/v1/projects/mnist/sweeps", JSON),
    # reports (webui/report_api.py): "notes" is saved by the ids fixture
    "/projects/<path:project>/reports": (lambda ids: "/projects/mnist/reports", HTML),
    "/projects/<path:project>/reports/<name>": (lambda ids: "/projects/mnist/reports/notes", HTML),
    "/projects/<path:project>/reports/<name>/edit": (
        lambda ids: "/projects/mnist/reports/notes/edit",
        HTML,
    ),
    "/api/v1/projects/<path:project>/reports": (lambda ids: "/api/v1/projects/mnist/reports", JSON),
    "/api/v1/projects/<path:project>/reports/<name>": (
        lambda ids: "/api/v1/projects/mnist/reports/notes",
        JSON,
    ),
    "/api/v1/projects/<path:project>/reports/<name>/data": (
        lambda ids: "/api/v1/projects/mnist/reports/notes/data",
        JSON,
    ),
    "/api/v1/projects/<path:project>/report-preview": (
        lambda ids: "/api/v1/projects/mnist/report-preview",
        JSON,
    ),
    "/api/v1/projects/<path:project>/reports/<name>/pin": (
        lambda ids: "/api/v1/projects/mnist/reports/notes/pin",
        JSON,
    ),
    "/api/v1/projects/<path:project>/reports/<name>/export": (
        lambda ids: "/api/v1/projects/mnist/reports/notes/export",
        HTML,
    ),
}
# POST-only rules: the JSON body each example sends
POSTS = {
    "/api/v1/projects/<path:project>/report-preview": {"text": "# notes"},
    "/api/v1/projects/<path:project>/reports/<name>/pin": {"pinned": False},
}

# HTML page -> its JSON twin, and a value both must show
TWINS = [
    (lambda ids: "/", lambda ids: "/api/v1/projects", lambda ids: "mnist"),
    (lambda ids: "/projects/mnist", lambda ids: "/api/v1/projects/mnist/runs", lambda ids: "mnist"),
    (
        lambda ids: f"/runs/{ids['beta']}",
        lambda ids: f"/api/v1/runs/{ids['beta']}",
        lambda ids: "beta",
    ),
    (
        lambda ids: f"/projects/mnist/compare?runs={ids['alpha']},{ids['gamma']}",
        lambda ids: f"/api/v1/projects/mnist/compare?runs={ids['alpha']},{ids['gamma']}",
        lambda ids: "gamma",
    ),
]


@pytest.fixture(scope="module")
def app(ui_store: tuple[Path, Ids]) -> Flask:
    return create_app(ui_store[0], watch=False)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module")
def ids(ui_store: tuple[Path, Ids]) -> Ids:
    """The store's run ids, plus a run with media (``rich``) and one of its image blobs."""
    root, ids = ui_store
    rich = media_fixtures.rich_run(root)
    artifacts = one_artifact(root, "lineage")
    workspaces.save_view(root, "mnist", "main", {"x": "step"})
    report = '# Notes\n\n```panel\n{"type": "line", "keys": ["train/loss"]}\n```\n'
    report_files.save_report(root, "mnist", "notes", report)
    image = next(i for i in StoreReader(root).media(rich) if i.type == "image")
    kinds = media_fixtures.kinds_run(root)
    cloud = next(i for i in StoreReader(root).media(kinds) if i.type == "object3d")
    sweep = localtrack.sweep(
        {"method": "grid", "parameters": {"lr": {"values": [0.1, 0.01]}}}, project="mnist", dir=root
    )
    return dict(
        ids,
        rich=rich,
        artifacts=artifacts,
        blob=str(image.file).rsplit("/", 1)[-1],
        kinds=kinds,
        cloud=str(cloud.file).rsplit("/", 1)[-1],
        sweep=sweep,
    )


def test_every_route_has_a_policy(app: Flask) -> None:
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert rules == set(ROUTES), "a route was added or removed: update ROUTES (and docs/api.md)"


# the UI writes only saved workspace views, alert rules and test alerts (PUT/DELETE/POST with a
# JSON body: a cross-site form or no-cors fetch cannot send those, and a foreign Host is refused
# before any view runs)
WRITES = {
    "/api/v1/projects/<path:project>/views/<name>": {"PUT", "DELETE"},
    "/api/v1/projects/<path:project>/alerts/rules": {"PUT"},
    "/api/v1/projects/<path:project>/alerts": {"POST"},
    "/api/v1/projects/<path:project>/reports/<name>": {"PUT", "DELETE"},
    "/api/v1/projects/<path:project>/report-preview": {"POST"},  # reads: draws the body's text
    "/api/v1/projects/<path:project>/reports/<name>/pin": {"POST"},
}


def test_every_route_only_reads(app: Flask) -> None:
    for rule in app.url_map.iter_rules():
        allowed = {"GET", "HEAD", "OPTIONS"} | WRITES.get(rule.rule, set())
        assert set(rule.methods or ()) <= allowed, rule.rule


@pytest.mark.parametrize("rule", sorted(ROUTES))
def test_route_answers_with_security_headers(client: FlaskClient, ids: Ids, rule: str) -> None:
    make_url, mimetype = ROUTES[rule]
    send = (lambda u: client.post(u, json=POSTS[rule])) if rule in POSTS else client.get
    with send(make_url(ids)) as response:  # closes the static file it may stream
        response.make_sequence()
    assert response.status_code == 200, response.data[:500]
    assert response.mimetype == mimetype
    assert response.headers["Content-Security-Policy"] == CSP
    assert CSP.startswith("default-src 'self'")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert b"Traceback" not in response.data


@pytest.mark.parametrize(("page", "api", "needle"), TWINS)
def test_every_page_has_a_json_twin(
    client: FlaskClient, ids: Ids, page: Any, api: Any, needle: Any
) -> None:
    html = client.get(page(ids))
    twin = client.get(api(ids))
    assert html.status_code == twin.status_code == 200
    assert needle(ids) in html.get_data(as_text=True)
    assert needle(ids) in twin.get_data(as_text=True)
    assert twin.mimetype == JSON


def test_pages_reference_no_outside_url(client: FlaskClient, ids: Ids) -> None:
    for rule, (make_url, mimetype) in ROUTES.items():
        # an exported report is a download that inlines uPlot with its licence banner (which
        # names its home page); its own CSP lets it fetch nothing (tests/test_reports_browser.py)
        if mimetype in (HTML, CSS) and rule not in POSTS and not rule.endswith("/export"):
            with client.get(make_url(ids)) as response:
                body = response.get_data(as_text=True)
            assert (
                "http://" not in body
                and "https://" not in body
                and "//" not in body.replace("://", "")
            )


def test_static_files_reference_no_outside_url() -> None:
    static = Path(__file__).resolve().parents[1] / "webui" / "static"
    for path in list(static.glob("js/*.js")) + list(static.glob("css/*.css")):
        # SVG's XML namespace is a name that createElementNS needs, never fetched.
        text = path.read_text().replace('"http://www.w3.org/2000/svg"', "")
        assert "http://" not in text and "https://" not in text, path


# --- the runs table API ------------------------------------------------------------------------


def test_runs_api_sorts_filters_and_pages(client: FlaskClient) -> None:
    body = client.get("/api/v1/projects/mnist/runs?sort=config.lr&per_page=2").json
    assert [r["name"] for r in body["rows"]] == ["alpha", "beta"]
    assert (body["total"], body["matched"], body["pages"]) == (4, 4, 2)
    body = client.get(
        "/api/v1/projects/mnist/runs", query_string={"where": "lr < 1e-2 and val/acc > 0.8"}
    ).json
    assert sorted(r["name"] for r in body["rows"]) == ["<script>alert(1)</script>", "alpha", "beta"]
    body = client.get("/api/v1/projects/mnist/runs?state=failed").json
    assert [r["name"] for r in body["rows"]] == ["gamma"]
    body = client.get("/api/v1/projects/mnist/runs?tag=v2&sort=name").json
    assert [r["name"] for r in body["rows"]] == ["beta", "gamma"]
    body = client.get("/api/v1/projects/mnist/runs?q=GAM").json
    assert [r["name"] for r in body["rows"]] == ["gamma"]


def test_runs_api_groups_and_columns(client: FlaskClient) -> None:
    body = client.get(
        "/api/v1/projects/mnist/runs?group_by=group&columns=config.lr,summary.val/acc"
    ).json
    assert [g["value"] for g in body["groups"]] == ["g1", "g2"]
    assert [r["group_value"] for r in body["rows"]] == ["g1", "g1", "g2", "g2"]
    assert body["columns"] == ["config.lr", "summary.val/acc"]
    assert set(body["rows"][0]["values"]) == {"config.lr", "summary.val/acc"}
    assert "optimizer.name" in body["fields"]["config"]
    assert body["tags"] == {"<b>tag</b>": 1, "baseline": 2, "v2": 2}


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "status", "code", "fragment"),
    [
        ("/api/v1/nope", 404, "not_found", "no API route /api/v1/nope"),
        ("/api/v1/projects/nope/runs", 404, "not_found", "no project named 'nope'"),
        ("/api/v1/runs/doesnotexist", 404, "not_found", "no run 'doesnotexist'"),
        ("/api/v1/runs/..%2f..%2fetc/history", 404, "not_found", ""),
        ("/api/v1/projects/mnist/runs?where=lr%20%3C", 400, "bad_request", "expected a field name"),
        ("/api/v1/projects/mnist/runs?sort=bogus", 400, "bad_request", "unknown field 'bogus'"),
        ("/api/v1/projects/mnist/compare", 400, "bad_request", "?runs="),
        ("/api/v1/series?key=train/loss", 400, "bad_request", "?runs=ID,ID&key=METRIC"),
        ("/api/v1/series?runs=x&key=k&buckets=0", 400, "bad_request", "buckets must be"),
        ("/api/v1/series?runs=x&key=k&x0=nan", 400, "bad_request", "finite"),
        ("/api/v1/series?runs=x&key=k&x0=5&x1=1", 400, "bad_request", "must not be less"),
        ("/api/v1/series?runs=nope&key=k", 404, "not_found", "no run 'nope'"),
        ("/api/v1/export?runs=x&key=k&format=xlsx", 400, "bad_request", "csv or parquet"),
    ],
)
def test_api_errors_use_one_envelope(
    client: FlaskClient, url: str, status: int, code: str, fragment: str
) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert response.mimetype == JSON
    assert set(response.json) == {"error"}
    assert set(response.json["error"]) == {"code", "message"}
    assert response.json["error"]["code"] == code
    assert fragment in response.json["error"]["message"]


def test_api_method_not_allowed_uses_the_envelope(client: FlaskClient) -> None:
    response = client.post("/api/v1/projects")
    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("url", "status", "text"),
    [
        ("/no/such/page", 404, "Page not found"),
        ("/projects/nope", 404, "no project named"),
        ("/runs/nope", 404, "no run"),
        ("/projects/mnist/compare", 400, "select them in the runs table"),
    ],
)
def test_html_errors_are_friendly(client: FlaskClient, url: str, status: int, text: str) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert response.mimetype == HTML
    body = response.get_data(as_text=True)
    assert text in body.replace("&#39;", "'")
    assert 'href="/"' in body
    assert response.headers["Content-Security-Policy"] == CSP


def test_unexpected_errors_never_show_a_traceback(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(state: Any, **options: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(models, "projects_view", boom)
    page = client.get("/")
    api = client.get("/api/v1/projects")
    assert (page.status_code, api.status_code) == (500, 500)
    for response in (page, api):
        assert b"secret internals" not in response.data and b"Traceback" not in response.data
    assert api.json["error"]["code"] == "internal_error"
    assert "secret internals" in caplog.text  # logged on the server, for the operator


# --- escaping ------------------------------------------------------------------------------------


def test_user_text_is_escaped_on_pages(client: FlaskClient, ids: Ids) -> None:
    xss = ids["<script>alert(1)</script>"]
    pages = [f"/runs/{xss}", f"/projects/mnist/compare?runs={xss},{ids['alpha']}"]
    for url in pages:
        body = client.get(url).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
        assert "<b>tag</b>" not in body
    run_page = client.get(f"/runs/{xss}").get_data(as_text=True)
    assert "<img src=x" not in run_page and "&lt;img src=x onerror=alert(2)&gt;" in run_page


def test_project_names_are_escaped_in_errors(client: FlaskClient) -> None:
    body = client.get("/projects/%3Cscript%3Ex%3C%2Fscript%3E").get_data(as_text=True)
    assert "<script>x</script>" not in body


# --- run and compare twins ---------------------------------------------------------------------


def test_run_api_has_overview_config_summary_and_sections(client: FlaskClient, ids: Ids) -> None:
    body = client.get(f"/api/v1/runs/{ids['gamma']}").json
    assert body["run"]["state"] == "failed" and body["run"]["exit_code"] == 1
    assert body["config_flat"]["optimizer.name"] == "adam"
    assert body["summary"]["epoch"] == 5
    assert [s["name"] for s in body["sections"]] == ["charts", "train", "val", "system"]
    logged = {k["key"]: k["count"] for k in body["keys"] if not k["key"].startswith("system/")}
    assert logged == {"epoch": 60, "train/loss": 60, "val/acc": 60}
    assert body["warnings"] == []


def test_run_prefix_resolves(client: FlaskClient, ids: Ids) -> None:
    assert client.get(f"/api/v1/runs/{ids['alpha'][:8]}").json["run"]["id"] == ids["alpha"]


def test_compare_api_diffs_only_differing_keys(client: FlaskClient, ids: Ids) -> None:
    body = client.get(f"/api/v1/projects/mnist/compare?runs={ids['alpha']},{ids['gamma']}").json
    assert [d["key"] for d in body["config_diff"]] == ["lr", "seed"]
    assert [k for k in body["shared_keys"] if not k.startswith("system/")] == [
        "epoch",
        "train/loss",
        "val/acc",
    ]
    assert (
        "lr" in body["numeric_fields"]["config"] and "val/acc" in body["numeric_fields"]["summary"]
    )


# -- the route registry (webui/routes.py): one declaration, checked against the app and the docs --

API_DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_the_app_the_registry_and_the_docs_agree(app: Flask) -> None:
    assert routes.check(app, API_DOCS.read_text()) == []


def test_the_server_app_agrees_with_the_registry(tmp_path: Path) -> None:
    from webui.server.app import create_server_app

    server = create_server_app(tmp_path, watch=False)
    assert routes.problems(server) == []
    assert set(policies.POLICIES) == {r.endpoint for r in routes.ROUTES}


def test_every_page_has_a_json_twin_in_the_registry() -> None:
    pages = [r for r in routes.ROUTES if r.kind == "page"]
    assert pages and all(routes.BY_ENDPOINT[str(r.twin)].kind == "api" for r in pages)


def test_a_route_without_policy_twin_or_doc_is_caught(ui_store: tuple[Path, Ids]) -> None:
    fresh = create_app(ui_store[0], watch=False)
    fresh.add_url_rule("/api/v1/fake", "api.fake", lambda: "{}")
    fresh.add_url_rule("/fake", "pages.fake", lambda: "")
    found = routes.check(fresh, API_DOCS.read_text())
    assert any("/api/v1/fake" in p and "not in the route registry" in p for p in found)
    fake = (
        routes.Route("api.fake", "/fake", "api", None, "", prefix=routes.API_PREFIX),
        routes.Route("pages.fake", "/fake", "page", None, "a page", twin=None),
    )
    found = routes.check(fresh, API_DOCS.read_text(), routes.ROUTES + fake)
    assert "api.fake has no access policy" in found
    assert "pages.fake has no access policy" in found
    assert "api.fake has no doc line" in found
    assert "page pages.fake has no JSON twin in /api/v1" in found
    assert "GET /api/v1/fake has no `### ` heading in docs/api.md" in found
    stale = routes.doc_problems(API_DOCS.read_text() + "\n### `GET /api/v1/gone`\n")
    assert stale == ["docs/api.md documents GET /api/v1/gone, which no route serves"]


def test_pages_carry_the_url_map_as_data_not_script(client: FlaskClient) -> None:
    body = client.get("/").get_data(as_text=True)
    assert '<script type="application/json" id="lt-urls">' in body
    assert routes.js_urls()["api.run"] == "/api/v1/runs/<run_id>"
