"""The UI in a real browser: Debian's chromium driven by Playwright against waitress on loopback.

Every page is guarded: a request to any non-loopback host is aborted and fails the test, and so
does any page error or Content-Security-Policy violation. Run serially (2 cores).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .webui_fixtures import (
    LiveServer,
    guarded,
    live_server,
    painted_pixels,
    small_store,
    start_logger,
)

pytestmark = pytest.mark.browser

Ids = dict[str, str]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Ids]]:
    root = tmp_path_factory.mktemp("browser-store")
    ids = small_store(root)
    with live_server(root) as server:
        yield server, ids


def row_names(page: Any) -> list[str]:
    return page.locator("#runs-table tbody tr[data-run-id] .run-name").all_inner_texts()


def wait_rows(page: Any, names: list[str]) -> None:
    page.wait_for_function(
        "(want) => JSON.stringify([...document.querySelectorAll('#runs-table tbody .run-name')].map(a => a.textContent)) === JSON.stringify(want)",
        arg=names,
        timeout=10_000,
    )


def show_chart(page: Any, key: str) -> str:
    """Scroll a chart into view (charts load lazily) and wait until it has painted."""
    card = f'.chart-card[data-key="{key}"]'
    page.wait_for_selector(card, state="attached")
    page.locator(card).scroll_into_view_if_needed()
    page.wait_for_selector(card + '[data-painted="true"]', timeout=10_000)
    return card


def test_projects_page_lists_projects(browser: Any, site: tuple[LiveServer, Ids]) -> None:
    server, _ = site
    with guarded(browser) as (page, _guard):
        page.goto(server.url + "/")
        page.wait_for_selector("#projects-table")
        assert page.locator("#projects-table tbody tr").count() == 2
        page.click("text=mnist")
        page.wait_for_selector("#runs-table tbody tr[data-run-id]")
        assert page.url.endswith("/projects/mnist")


def test_runs_table_renders_sorts_and_filters(
    browser: Any, site: tuple[LiveServer, Ids], tmp_path: Path
) -> None:
    server, _ = site
    dialogs: list[str] = []
    with guarded(browser) as (page, _guard):
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(server.url + "/projects/mnist")
        page.wait_for_selector("#runs-table tbody tr[data-run-id]")
        assert len(row_names(page)) == 4
        # the XSS probe is text, never markup
        assert "<script>alert(1)</script>" in row_names(page)
        assert page.locator("#runs-table tbody .tag", has_text="<b>tag</b>").count() == 1
        # sort by a config column, both ways
        page.click('#runs-table th[data-field="config.lr"]')
        wait_rows(page, ["gamma", "<script>alert(1)</script>", "beta", "alpha"])
        page.click('#runs-table th[data-field="config.lr"]')
        wait_rows(page, ["alpha", "beta", "<script>alert(1)</script>", "gamma"])
        # filter by expression, then by state, then by text
        page.fill("#f-where", "lr < 1e-2 and val/acc > 0.9")
        page.press("#f-where", "Enter")
        wait_rows(page, ["alpha", "beta"])
        page.fill("#f-where", "lr <")
        page.press("#f-where", "Enter")
        page.wait_for_selector("#runs-error:not([hidden])")
        assert "expected" in page.inner_text("#runs-error")
        page.fill("#f-where", "")
        page.press("#f-where", "Enter")
        page.select_option("#f-state", "failed")
        wait_rows(page, ["gamma"])
        page.select_option("#f-state", "")
        page.fill("#f-text", "bet")
        wait_rows(page, ["beta"])
        page.screenshot(path=str(tmp_path / "runs.png"))
    assert dialogs == []


def test_runs_table_groups_and_selects_for_compare(
    browser: Any, site: tuple[LiveServer, Ids]
) -> None:
    server, ids = site
    with guarded(browser) as (page, _guard):
        page.goto(server.url + "/projects/mnist")
        page.wait_for_selector("#runs-table tbody tr[data-run-id]")
        page.select_option("#f-group", "config.optimizer.name")
        page.wait_for_selector("#runs-table tr.group-row")
        assert page.locator("#runs-table tr.group-row").count() == 2
        for name in ("alpha", "beta"):
            page.check(f'#runs-table tr[data-run-id="{ids[name]}"] input[type=checkbox]')
        assert page.inner_text("#compare-btn") == "Compare 2 selected"
        page.click("#compare-btn")
        page.wait_for_url(re.compile(r"/projects/mnist/compare\?runs="))
        show_chart(page, "train/loss")


def test_run_page_paints_charts(browser: Any, site: tuple[LiveServer, Ids], tmp_path: Path) -> None:
    server, ids = site
    with guarded(browser) as (page, _guard):
        page.goto(server.url + f"/runs/{ids['alpha']}")
        card = show_chart(page, "train/loss")
        assert painted_pixels(page, card) > 500
        assert "60 of 60 points" in page.inner_text(card + " .chart-foot")
        assert [s.get_attribute("data-section") for s in page.locator(".chart-section").all()] == [
            "charts",
            "train",
            "val",
            "system",
        ]
        # search narrows the charts
        page.fill("#chart-search", "val/")
        page.wait_for_selector('.chart-card[data-key="train/loss"].hidden', state="attached")
        assert page.locator('.chart-section[data-section="val"]').is_visible()
        page.fill("#chart-search", "")
        # smoothing and log y redraw on the client; another metric as x refetches
        page.fill("#chart-smoothing", "0.8")
        page.check("#chart-logy")
        page.select_option("#chart-x", "epoch")
        page.wait_for_function(
            "() => document.querySelector('.chart-card[data-key=\"train/loss\"] .chart-legend').textContent.includes('last epoch')"
        )
        assert painted_pixels(page, card) > 500
        page.screenshot(path=str(tmp_path / "run.png"), full_page=True)
        # Intl.NumberFormat is the browser's own again once the page's scripts ran (only uPlot's
        # formatter was made lazily), and counts are grouped like en-US's
        numbers = page.evaluate(
            """() => [new Intl.NumberFormat("en-US").format(1234.5), typeof window.LT_NUMBER_FORMAT,
                      LT.fmtInt(1234567), LT.fmtInt(-1000), LT.fmtInt(999), LT.fmtInt(2.5), uPlot.fmtNum(98765)]"""
        )
        assert numbers == ["1,234.5", "undefined", "1,234,567", "-1,000", "999", "2.5", "98,765"]


def test_drag_zoom_requeries_the_range(browser: Any, site: tuple[LiveServer, Ids]) -> None:
    server, ids = site
    with guarded(browser) as (page, _guard):
        page.goto(server.url + f"/runs/{ids['beta']}")
        card = show_chart(page, "train/loss")
        box = page.locator(card + " .u-over").bounding_box()
        y = box["y"] + box["height"] / 2
        with page.expect_response(
            lambda r: ("/api/v1/charts" in r.url or "/api/v1/series" in r.url) and "x0=" in r.url
        ) as info:
            page.mouse.move(box["x"] + box["width"] * 0.2, y)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
            page.mouse.up()
        assert info.value.status == 200
        page.wait_for_function(
            "() => document.querySelector('.chart-card[data-key=\"train/loss\"] .chart-foot').textContent.includes('zoomed')"
        )
        assert "x0=" in page.get_attribute(card + " a:text('CSV')", "href")
        page.click(card + " button:text('reset zoom')")
        page.wait_for_function(
            "() => !document.querySelector('.chart-card[data-key=\"train/loss\"] .chart-foot').textContent.includes('zoomed')"
        )


def test_compare_overlays_runs(browser: Any, site: tuple[LiveServer, Ids], tmp_path: Path) -> None:
    server, ids = site
    runs = ",".join(ids[n] for n in ("alpha", "beta", "gamma", "<script>alert(1)</script>"))
    with guarded(browser) as (page, _guard):
        page.goto(server.url + f"/projects/mnist/compare?runs={runs}")
        card = show_chart(page, "train/loss")
        legend = page.locator(card + " .chart-legend .item .name").all_inner_texts()
        assert legend == ["alpha", "beta", "gamma", "<script>alert(1)</script>"]
        swatches = page.eval_on_selector_all(
            card + " .chart-legend .swatch", "els => els.map(e => e.style.background)"
        )
        assert len(set(swatches)) == 4, "each run has its own colour"
        assert painted_pixels(page, card) > 1000
        assert painted_pixels(page, "#parcoords") > 500
        assert painted_pixels(page, "#scatter") > 200
        assert page.locator("#config-diff tbody tr").count() == 3  # lr, optimizer.name, seed
        page.select_option("#c-group", "config.optimizer.name")
        page.wait_for_function(
            "() => document.querySelector('.chart-card[data-key=\"train/loss\"] .chart-legend').textContent.includes('mean of 2')"
        )
        page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)


def test_error_and_empty_pages_are_clean(
    browser: Any, site: tuple[LiveServer, Ids], tmp_path: Path
) -> None:
    server, _ = site
    with guarded(browser) as (page, _guard):
        response = page.goto(server.url + "/runs/missing-run")
        assert response.status == 404
        assert "Not found" in page.inner_text("h1")
    with live_server(tmp_path / "empty") as empty, guarded(browser) as (page, _guard):
        page.goto(empty.url + "/")
        page.wait_for_selector("#empty-state")
        assert "localtrack.init(" in page.inner_text("#empty-state")


def test_a_logging_process_shows_up_live(browser: Any, tmp_path: Path) -> None:
    root = tmp_path / "live"
    with live_server(root, poll_ms=300) as server, guarded(browser) as (page, _guard):
        page.goto(server.url + "/")
        page.wait_for_selector("#empty-state")
        page.evaluate("window.__noReload = true")
        gate = tmp_path / "go-on"  # the logger waits at step 80 until the page has shown it live
        logger = start_logger(root, "livep", "streamer", steps=160, delay=0.02, gate=gate)
        try:
            page.wait_for_selector("#projects-table a:text('livep')", timeout=60_000)
            assert page.evaluate("window.__noReload") is True
            page.click("text=livep")
            page.wait_for_selector("#runs-table .badge.state-running", timeout=60_000)
            page.click("text=streamer")
            show_chart(page, "train/loss")
            page.evaluate("window.__noReload = true")
            step = "Number(document.querySelector('[data-field=\"max_step\"]').textContent)"
            # outer bounds only: what is checked is that the page moves on its own, not how fast
            page.wait_for_function(f"() => {step} > 0", timeout=60_000)
            first = page.evaluate(f"() => {step}")
            assert first < 159, "the run ended before the page first showed it: nothing was live"
            gate.touch()
            page.wait_for_function(f"() => {step} > {first}", timeout=60_000)
            page.wait_for_selector("#run-state .state-finished", timeout=60_000)
            page.wait_for_function(
                "() => document.querySelector('.chart-card[data-key=\"train/loss\"] .chart-foot').textContent.startsWith('160 of 160')",
                timeout=60_000,
            )
            assert page.evaluate("window.__noReload") is True
        finally:
            gate.touch()
            assert logger.wait(timeout=30) == 0
