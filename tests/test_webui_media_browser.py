"""Media, console and environment tabs in a real browser (Debian's chromium through Playwright).

Every page is guarded as in ``test_webui_browser``: no request may leave loopback, and no page
error or CSP violation may happen. Run serially (2 cores).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import webui_fixtures
from .media_fixtures import XSS, console_run, dirty_repo, legacy_run, rich_run, start_printer
from .webui_fixtures import LiveServer, guarded, live_server, painted_pixels

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, Any]]]:
    base = tmp_path_factory.mktemp("media-browser")
    root = base / "store"
    ids: dict[str, Any] = {"legacy": legacy_run(root)}
    ids["rich"] = rich_run(root)
    ids["repo"] = dirty_repo(base / "repo")
    ids["printer"] = console_run(root, ids["repo"], lines=40)
    ids["root"] = root
    with live_server(root, poll_ms=250) as server:
        yield server, ids


def natural_width(page: Any, selector: str) -> int:
    return int(page.eval_on_selector(selector, "img => img.complete ? img.naturalWidth : 0"))


def first_cells(page: Any) -> list[str]:
    return page.locator(".table-card tbody tr td:first-child").all_inner_texts()


def test_media_tab_paints_images_pages_tables_and_draws_histograms(
    browser: Any, site: tuple[LiveServer, dict[str, Any]], tmp_path: Path
) -> None:
    server, ids = site
    with guarded(browser) as (page, _guard):
        page.goto(f"{server.url}/runs/{ids['rich']}#media")
        digits = '.image-card[data-key="samples/digits"]'
        page.wait_for_selector(digits + " img[src]")
        page.wait_for_function(
            "(s) => { const i = document.querySelector(s); return i.complete && i.naturalWidth > 0 }",
            arg=digits + " img",
        )
        assert natural_width(page, digits + " img") == 28  # the logged 28×28 image, painted
        assert page.inner_text(digits + " .caption") == f"digit at 20 {XSS}"
        assert page.locator(digits + " figcaption img").count() == 0  # the caption is text
        # the slider picks another step: another image and its caption
        src = page.get_attribute(digits + " img", "src")
        page.locator(digits + " input[type=range]").fill("0")
        page.wait_for_function(
            "([s, old]) => document.querySelector(s).getAttribute('src') !== old",
            arg=[digits + " img", src],
        )
        assert page.inner_text(digits + " .caption") == f"digit at 0 {XSS}"
        assert "step 0" in page.inner_text(digits + " .step-label")

        # the table: 25 rows a page, thumbnails, next page, sort, filter
        page.wait_for_selector(".table-card tbody tr")
        assert first_cells(page)[:3] == ["0", "1", "2"]
        page.wait_for_function(
            "() => { const i = document.querySelector('.table-card img.thumb');"
            " return i && i.complete && i.naturalWidth > 0 }"
        )
        page.click(".table-card [data-act=next]")
        page.wait_for_function(
            "() => document.querySelector('.table-card tbody td').textContent === '25'"
        )
        assert "rows 26–50 of 100" in page.inner_text(".table-card .table-info")
        page.click('.table-card th[data-col="id"]')
        page.click('.table-card th[data-col="id"]')
        page.wait_for_function(
            "() => document.querySelector('.table-card tbody td').textContent === '99'"
        )
        page.fill(".table-card input[type=search]", "item 04")
        page.wait_for_function(
            "() => document.querySelector('.table-card tbody td').textContent === '49'"
        )
        assert "10 matching of 100" in page.inner_text(".table-card .table-info")
        assert page.locator(".table-card td", has_text=XSS).count() == 0  # filtered out

        # the histogram heatmap and the one-step bars are painted on canvases
        hist = '.hist-card[data-key="weights/layer1"]'
        page.locator(hist).scroll_into_view_if_needed()
        page.wait_for_selector(hist + ' canvas.heatmap[data-painted="true"]')
        page.wait_for_selector(hist + ' canvas.bars[data-painted="true"]')
        assert painted_pixels(page, hist + " .hist-heat") > 5000
        assert painted_pixels(page, hist + " .hist-bars") > 500
        page.locator(hist + " input[type=range]").fill("3")
        page.wait_for_function(
            "(s) => document.querySelector(s).textContent === 'step 3'",
            arg=hist + " .step-label",
        )
        page.screenshot(path=str(tmp_path / "media.png"), full_page=True)


def test_console_shows_subprocess_output_and_search_filters_it(
    browser: Any, site: tuple[LiveServer, dict[str, Any]], tmp_path: Path
) -> None:
    server, ids = site
    with guarded(browser) as (page, _guard):
        page.goto(f"{server.url}/runs/{ids['printer']}#console")
        page.wait_for_selector("#console-lines .line")
        texts = page.locator("#console-lines .tx").all_inner_texts()
        assert texts[0] == "hello from the child <b>not bold</b>"  # printed by the child, as text
        assert page.locator("#console-lines b").count() == 0
        assert texts[-2] == "coloured line"  # colour codes are not shown
        assert page.locator("#console-lines .ln").first.inner_text() == "1"
        page.fill("#console-search", "epoch 1")
        page.wait_for_function(
            "() => document.querySelectorAll('#console-lines .line').length === 11"
        )
        shown = page.locator("#console-lines .tx").all_inner_texts()
        assert shown[0] == "epoch 1 loss 0.500" and all("epoch 1" in t for t in shown)
        assert page.locator("#console-lines mark").first.inner_text() == "epoch 1"
        assert "11 matching of 43 lines" in page.inner_text("#console-info")
        page.screenshot(path=str(tmp_path / "console.png"))


def test_console_follows_a_running_run(
    browser: Any, site: tuple[LiveServer, dict[str, Any]]
) -> None:
    server, ids = site
    root: Path = ids["root"]
    before = {p.name for p in (root / "runs").iterdir()}
    proc = start_printer(root, ids["repo"], "follow-me", lines=30, delay=0.1)
    try:
        assert webui_fixtures.wait_for(
            lambda: any(
                (p / "files" / "output.log").is_file()
                for p in (root / "runs").iterdir()
                if p.name not in before
            ),
            20,
        )
        run_id = next(p.name for p in (root / "runs").iterdir() if p.name not in before)
        with guarded(browser) as (page, _guard):
            page.goto(f"{server.url}/runs/{run_id}#console")
            page.wait_for_selector("#console-lines .line")
            early = page.locator("#console-lines .line").count()
            page.wait_for_function(
                "() => [...document.querySelectorAll('#console-lines .tx')]"
                ".some((e) => e.textContent.startsWith('done '))",
                timeout=20_000,
            )
            lines = page.locator("#console-lines .tx").all_inner_texts()
            numbers = page.locator("#console-lines .ln").all_inner_texts()
        assert early < len(lines) == 33  # new lines were appended while it ran
        assert numbers == [str(n) for n in range(1, 34)]  # each line once, in order
    finally:
        proc.communicate(timeout=30)


def test_environment_tab_shows_packages_and_the_escaped_diff(
    browser: Any, site: tuple[LiveServer, dict[str, Any]], tmp_path: Path
) -> None:
    server, ids = site
    with guarded(browser) as (page, _guard):
        page.goto(f"{server.url}/runs/{ids['printer']}#environment")
        page.wait_for_selector("#env-diff-text")
        assert "+lr = 0.01  # <script>alert(4)</script>" in page.inner_text("#env-diff-text")
        assert page.locator("#env-diff-text script").count() == 0
        href = page.get_attribute("#env-diff-download", "href") or ""
        assert href.endswith("/files/diff.patch")
        assert "s3cret-token" not in page.content()
        assert "dirty" in page.inner_text("#env-code")
        page.click("#env-packages summary")
        page.fill("#env-packages input[type=search]", "numpy")
        visible = page.locator("#env-packages li:visible .pkg-name").all_inner_texts()
        assert "numpy" in visible and len(visible) < 5
        page.screenshot(path=str(tmp_path / "environment.png"), full_page=True)


def test_a_run_from_before_rich_data_shows_friendly_empty_states(
    browser: Any, site: tuple[LiveServer, dict[str, Any]]
) -> None:
    server, ids = site
    with guarded(browser) as (page, _guard):
        page.goto(f"{server.url}/runs/{ids['legacy']}")
        page.wait_for_selector('.chart-card[data-key="loss"]')
        page.click("#tab-media")
        page.wait_for_selector("#media-panel .empty-note")
        assert "no images, tables or histograms" in page.inner_text("#media-panel")
        page.click("#tab-console")
        page.wait_for_selector("text=No console output was captured")
        page.click("#tab-environment")
        page.wait_for_selector("#env-missing")
        assert "No environment was recorded" in page.inner_text("#env-missing")
        assert page.url.endswith("#environment")
