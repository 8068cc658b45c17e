"""Alerts in a real browser: the feed and the run's badge, a destination and a rule set up in the
editor (the webhook URL typed once, never shown again), the "send test alert" button, and a rule
firing while the page is open; no request leaves loopback."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import localtrack

from .alert_fixtures import WebhookReceiver
from .webui_fixtures import LiveServer, guarded, live_server

pytestmark = pytest.mark.browser

QUIET = localtrack.Settings(
    system_metrics=False, capture_git=False, capture_packages=False, console=False
)
TIMEOUT_MS = 60_000


@pytest.fixture
def server(root: Path) -> Iterator[LiveServer]:
    run = localtrack.init(dir=root, project="vision", name="resnet", settings=QUIET)
    run.log({"loss": 1.0})
    run.alert("checkpoint saved", "epoch 1 done", level="WARN")
    run.finish()
    with live_server(root) as srv:
        srv.run_id = run.id  # type: ignore[attr-defined]
        yield srv


def _row_text(page: Any, title: str) -> str:
    return str(page.locator("#alert-feed tr", has_text=title).first.inner_text())


def test_feed_badge_rules_and_test_button(
    browser: Any, server: LiveServer, webhook: WebhookReceiver, root: Path
) -> None:
    hook = webhook.url("/hook/team")
    with guarded(browser) as (page, guard):
        page.goto(f"{server.url}/runs/{server.run_id}")  # type: ignore[attr-defined]
        badge = page.locator("#run-alert-badge")
        assert badge.inner_text() == "1 alert"
        badge.click()
        page.wait_for_selector("#alerts-app")
        assert "checkpoint saved" in _row_text(page, "checkpoint saved")
        assert "run=" in page.url
        page.click("text=all runs")
        page.wait_for_url(f"{server.url}/projects/vision/alerts")
        page.wait_for_selector("#alerts-app[data-run='']")

        page.select_option("#dest-type", "slack")
        page.click("#dest-add")
        dest = page.locator("#dest-list .alert-item").first
        dest.locator("input[data-key=id]").fill("team")
        dest.locator("input[data-key=secret]").fill(hook)
        page.select_option("#rule-type", "nan")
        page.click("#rule-add")
        page.locator("#rule-list input[data-key=metric]").fill("loss")
        page.click("#alerts-save")
        page.wait_for_selector("#alerts-status:has-text('saved')", timeout=TIMEOUT_MS)
        page.wait_for_selector("#dest-list:has-text('secret set')")

        page.click("#alerts-test")
        (body,) = webhook.wait_for("/hook/team", 1, 60)
        assert "localtrack test alert" in body["text"]
        page.wait_for_selector(
            "#alert-feed tr:has-text('localtrack test alert') .delivery.ok", timeout=TIMEOUT_MS
        )

        page.reload()
        page.wait_for_selector("#dest-list .alert-item")
        assert page.locator("#dest-list input[data-key=secret]").input_value() == ""
        assert hook not in page.content()  # the URL never comes back to the page
        assert page.locator("#rule-list input[data-key=metric]").input_value() == "loss"

        # the rule fires while the page is open, and the feed shows it delivered
        server.app.extensions["localtrack"].alerts().start_evaluating(interval_s=0.3)
        run = localtrack.init(dir=root, project="vision", name="unstable", settings=QUIET)
        run.log({"loss": math.nan})
        run.finish()
        webhook.wait_for("/hook/team", 2, 60)
        page.wait_for_selector(
            "#alert-feed tr:has-text('loss is NaN/Inf') .delivery.ok", timeout=TIMEOUT_MS
        )
        page.screenshot(path=str(root.parent / "alerts.png"))
        assert guard.external == []


def test_a_bad_rule_shows_a_clear_message_and_nothing_is_saved(
    browser: Any, server: LiveServer, root: Path
) -> None:
    with guarded(browser) as (page, _):
        page.goto(f"{server.url}/projects/vision/alerts")
        page.select_option("#rule-type", "threshold")
        page.click("#rule-add")
        page.locator("#rule-list input[data-key=metric]").fill("loss")
        page.click("#alerts-save")  # no value given
        error = page.locator("#rules-error")
        error.wait_for(state="visible", timeout=TIMEOUT_MS)
        assert "rules[0].value" in error.inner_text()
        assert "Traceback" not in page.content()
    assert not (root / "alerts" / "vision" / "rules.json").exists()
