"""A failed run in the browser: the reason on the run page and the runs table's hover, the
traceback in the console tab, and an empty console that says whether capture was off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .test_exit_reason_views import _child, _ids
from .webui_fixtures import LiveServer, guarded, live_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    root = tmp_path_factory.mktemp("failure-browser") / "store"
    _child(root, "boom", "print('epoch 1', flush=True)\nraise ValueError('loss is NaN')")
    _child(root, "capture-off", "raise KeyError('fold')", console="0")
    _child(root, "silent", "run.finish()")
    with live_server(root) as server:
        yield server, _ids(root)


def test_failed_run_page_says_why_and_console_shows_traceback(
    browser: Any, site: tuple[LiveServer, dict[str, str]]
) -> None:
    server, ids = site
    with guarded(browser) as (page, _guard):
        page.goto(f"{server.url}/runs/{ids['boom']}")
        reason = page.locator('[data-field="reason"]')
        assert reason.is_visible()
        assert "ValueError: loss is NaN (at <string>:" in reason.inner_text()
        page.click("#tab-console")
        page.wait_for_selector("#console-lines .line")
        text = page.locator("#console-lines").inner_text()
        assert "epoch 1" in text
        assert "Traceback (most recent call last)" in text
        # stdout and stderr reach the console tee through two pipes, so which of "epoch 1" and
        # the traceback it read first depends on scheduling; the traceback's own lines stay whole
        lines = page.locator("#console-lines .line").all_inner_texts()
        assert any(line.endswith("ValueError: loss is NaN") for line in lines), lines
        banner = page.locator(".console-reason")
        assert banner.is_visible() and "Run failed" in banner.inner_text()


def test_runs_table_state_hover_gives_the_reason(
    browser: Any, site: tuple[LiveServer, dict[str, str]]
) -> None:
    server, ids = site
    with guarded(browser) as (page, _guard):
        page.goto(f"{server.url}/projects/p")
        badge = page.locator(f'#runs-table tr[data-run-id="{ids["boom"]}"] .badge')
        badge.wait_for()
        assert badge.get_attribute("title").startswith("ValueError: loss is NaN")
        fine = page.locator(f'#runs-table tr[data-run-id="{ids["silent"]}"] .badge')
        assert fine.get_attribute("title") is None


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("capture-off", "Console capture was off for this run"),
        ("silent", "The run printed nothing (console capture was on)."),
    ],
)
def test_empty_console_says_whether_capture_was_off(
    browser: Any, site: tuple[LiveServer, dict[str, str]], name: str, says: str
) -> None:
    server, ids = site
    with guarded(browser) as (page, _guard):
        page.goto(f"{server.url}/runs/{ids[name]}#console")
        message = page.locator("#console-panel").get_by_text(says)
        message.wait_for()
        assert message.is_visible()
