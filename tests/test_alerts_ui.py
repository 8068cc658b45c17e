"""The alerts UI's JSON side: the feed twin, rules with secrets kept out, the test button's
delivery outcome, the run badge, and bad input as the API's one error shape."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

import localtrack
from localtrack.alerts.dispatch import Dispatcher
from localtrack.alerts.evaluator import Evaluator
from webui.app import create_app

from .alert_fixtures import WebhookReceiver

QUIET = localtrack.Settings(
    system_metrics=False, capture_git=False, capture_packages=False, console=False
)
WAIT_S = 60.0


@pytest.fixture
def store(root: Path) -> tuple[Path, str]:
    run = localtrack.init(dir=root, project="vision", name="resnet", settings=QUIET)
    run.log({"loss": 1.0})
    run.alert("checkpoint saved", "epoch 1", level="INFO")
    run.finish()
    return root, run.id


@pytest.fixture
def app(store: tuple[Path, str]) -> Iterator[Flask]:
    app = create_app(store[0], watch=False)
    yield app
    app.extensions["localtrack"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _rules(url_secret: str | None = None) -> dict:
    body: dict = {
        "destinations": [{"id": "chat", "type": "slack", "name": "team chat"}],
        "rules": [
            {"id": "nan", "type": "nan", "metric": "loss"},
            {"id": "script", "type": "script"},
        ],
    }
    if url_secret is not None:
        body["secrets"] = {"chat": url_secret}
    return body


def test_feed_shows_script_alerts_and_the_page_matches_its_twin(
    client: FlaskClient, store: tuple[Path, str]
) -> None:
    twin = client.get("/api/v1/projects/vision/alerts").json
    assert [(a["title"], a["source"], a["run_name"]) for a in twin["feed"]] == [
        ("checkpoint saved", "script", "resnet")
    ]
    page = client.get("/projects/vision/alerts")
    assert page.status_code == 200 and "checkpoint saved" in page.get_data(as_text=True)
    run = client.get(f"/api/v1/runs/{store[1]}").json
    assert run["alerts"] == {"count": 1, "levels": {"INFO": 1}, "worst": "INFO"}
    assert 'id="run-alert-badge"' in client.get(f"/runs/{store[1]}").get_data(as_text=True)
    assert client.get("/api/v1/projects/nope/alerts").status_code == 404


def test_secrets_are_stored_but_never_served(
    client: FlaskClient, store: tuple[Path, str], webhook: WebhookReceiver
) -> None:
    secret = webhook.url("/hook/token-123")
    saved = client.put("/api/v1/projects/vision/alerts/rules", json=_rules(secret))
    assert saved.status_code == 200, saved.json
    for reply in (saved, client.get("/api/v1/projects/vision/alerts/rules")):
        assert "token-123" not in reply.get_data(as_text=True)
        assert reply.json["destinations"][0]["secret_set"] is True
    page = client.get("/projects/vision/alerts").get_data(as_text=True)
    assert "token-123" not in page
    assert "token-123" in (store[0] / "alerts" / "vision" / "secrets.json").read_text()
    kept = client.put("/api/v1/projects/vision/alerts/rules", json=_rules())  # secret kept
    assert kept.json["destinations"][0]["secret_set"] is True
    cleared = client.put("/api/v1/projects/vision/alerts/rules", json=_rules(None) | {"secrets": {"chat": None}})  # fmt: skip
    assert cleared.json["destinations"][0]["secret_set"] is False


def test_the_test_button_delivers_and_the_outcome_shows_in_the_feed(
    client: FlaskClient, app: Flask, webhook: WebhookReceiver
) -> None:
    client.put("/api/v1/projects/vision/alerts/rules", json=_rules(webhook.url("/hook/chat")))
    sent = client.post("/api/v1/projects/vision/alerts", json={})
    assert sent.status_code == 202
    (body,) = webhook.wait_for("/hook/chat", 1, WAIT_S)
    assert "localtrack test alert" in body["text"]
    assert app.extensions["localtrack"].alerts().dispatcher.idle(WAIT_S)
    feed = client.get("/api/v1/projects/vision/alerts").json["feed"]
    test = next(a for a in feed if a["source"] == "test")
    assert test["deliveries"] == [
        {"destination": "chat", "ok": True, "attempts": 1, "detail": "delivered (HTTP 200)",
         "time": test["deliveries"][0]["time"]}
    ]  # fmt: skip


def test_rule_firings_show_on_the_feed_and_the_run_badge(
    client: FlaskClient, store: tuple[Path, str], webhook: WebhookReceiver
) -> None:
    root = store[0]
    client.put("/api/v1/projects/vision/alerts/rules", json=_rules(webhook.url("/hook/chat")))
    run = localtrack.init(dir=root, project="vision", name="unstable", settings=QUIET)
    run.log({"loss": math.inf})
    run.finish()
    evaluator = Evaluator(root, Dispatcher(root))
    try:
        assert {e["condition"] for e in evaluator.evaluate_once(now=time.time())} == {"nan:loss"}
        webhook.wait_for("/hook/chat", 1, WAIT_S)
        assert evaluator.dispatcher.idle(WAIT_S)
    finally:
        evaluator.close()
        evaluator.dispatcher.close()
    badge = client.get(f"/api/v1/runs/{run.id}").json["alerts"]
    assert badge == {"count": 1, "levels": {"ERROR": 1}, "worst": "ERROR"}
    one = client.get(f"/api/v1/projects/vision/alerts?run={run.id}").json["feed"]
    assert [(a["title"], a["deliveries"][0]["ok"]) for a in one] == [("nan: loss is NaN/Inf", True)]


@pytest.mark.parametrize(
    ("method", "url", "body", "fragment"),
    [
        (
            "put",
            "/api/v1/projects/vision/alerts/rules",
            {"rules": [{"id": "t", "type": "threshold", "metric": "m"}]},
            "rules[0].value",
        ),
        ("put", "/api/v1/projects/vision/alerts/rules", {"rules": "all"}, "'rules' must be a list"),
        ("put", "/api/v1/projects/vision/alerts/rules", {"secrets": {"x": "y"}}, "'x'"),
        ("post", "/api/v1/projects/vision/alerts", {}, "no destinations"),
        ("post", "/api/v1/projects/vision/alerts", {"destination": 5}, "destination id"),
    ],
)
def test_bad_input_is_a_400_in_the_error_envelope(
    client: FlaskClient, method: str, url: str, body: dict, fragment: str
) -> None:
    response = getattr(client, method)(url, json=body)
    assert response.status_code == 400, response.json
    assert set(response.json) == {"error"} and response.json["error"]["code"] == "bad_request"
    assert fragment in response.json["error"]["message"]


def test_a_project_named_dot_dot_cannot_reach_the_store_root(
    client: FlaskClient, store: tuple[Path, str]
) -> None:
    response = client.put("/api/v1/projects/%2E%2E/alerts/rules", json=_rules())
    assert response.status_code == 400 and "not '..'" in response.json["error"]["message"]
    assert not (store[0] / "rules.json").exists() and not (store[0] / "alerts").exists()


def test_rules_must_come_as_json(client: FlaskClient) -> None:
    response = client.put("/api/v1/projects/vision/alerts/rules", data="rules=1")
    assert response.status_code == 400
    assert "application/json" in response.json["error"]["message"]


def test_on_a_server_only_an_admin_may_set_destinations_or_send_tests(
    store: tuple[Path, str],
) -> None:
    from localtrack.apikeys import KeyStore
    from webui.server.app import create_server_app

    root = store[0]
    keys = KeyStore(root)
    tokens = {role: keys.create(f"u-{role}", role).token for role in ("read", "write", "admin")}
    server = create_server_app(root, watch=False)
    try:
        client = server.test_client()

        def call(method: str, url: str, role: str) -> int:
            auth = {"Authorization": f"Bearer {tokens[role]}"}
            return int(getattr(client, method)(url, json=_rules(), headers=auth).status_code)

        rules = "/api/v1/projects/vision/alerts/rules"
        assert call("get", "/api/v1/projects/vision/alerts", "read") == 200
        assert call("put", rules, "read") == 403
        assert call("put", rules, "write") == 403
        assert call("post", "/api/v1/projects/vision/alerts", "write") == 403
        assert call("put", rules, "admin") == 200
    finally:
        server.extensions["localtrack"].close()
        server.extensions["localtrack_ingest"].close()
