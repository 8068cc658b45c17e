"""The compare page's Media section in a real browser (Debian's chromium through Playwright),
guarded as in ``test_webui_browser``: no request leaves loopback, no page error or CSP violation.

Two runs log the same image key at different steps: both are painted side by side, each labelled
with its own nearest step, and the one slider moves both; a run lacking the key says so. The
section asks for its data only after the first chart is painted. Run serially (2 cores).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .compare_media_fixtures import PROJECT, compare_runs
from .webui_fixtures import LiveServer, guarded, live_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    root = tmp_path_factory.mktemp("compare-media-browser") / "store"
    ids = compare_runs(root)
    with live_server(root, poll_ms=250) as server:
        yield server, ids


def panel(run_id: str) -> str:
    return f'#cm-panels .cm-panel[data-run-id="{run_id}"]'


def wait_painted(page: Any, selector: str) -> None:
    page.wait_for_function(
        "(s) => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth > 0 }",
        arg=selector,
    )


def open_media(page: Any, server: LiveServer, ids: list[str]) -> None:
    page.goto(f"{server.url}/projects/{PROJECT}/compare?runs={','.join(ids)}")
    page.wait_for_selector('#chart-sections [data-painted="true"]')
    page.locator("#compare-media").scroll_into_view_if_needed()
    page.wait_for_selector("#cm-panels .cm-panel")


def choose(page: Any, key: str, kind: str) -> None:
    page.click(f'#compare-media tr[data-key="{key}"][data-type="{kind}"] button.cm-key')
    page.wait_for_function(
        "([k, t]) => { const s = document.getElementById('compare-media');"
        " return s.dataset.key === k && document.querySelector(`#compare-media tr.chosen[data-type='${t}']`) }",
        arg=[key, kind],
    )


def test_images_side_by_side_one_slider_and_a_run_lacking_the_key(
    browser: Any, site: tuple[LiveServer, dict[str, str]], tmp_path: Path
) -> None:
    server, ids = site
    a, b, c = ids["a"], ids["b"], ids["c"]
    with guarded(browser) as (page, _guard):
        open_media(page, server, [a, b, c])
        # the charts came first: the media twin was asked for after the first chart painted
        order = page.evaluate(
            """() => {
              const painted = performance.getEntriesByType('mark').filter((m) => m.name.startsWith('lt:painted:'));
              const media = performance.getEntriesByType('resource').filter((r) => r.name.includes('/compare/media'));
              return [Math.min(...painted.map((m) => m.startTime)), Math.min(...media.map((r) => r.startTime))];
            }"""
        )
        assert order[0] <= order[1]
        # the key list says which runs lack a key
        row = '#compare-media tr[data-key="samples"][data-type="image"]'
        assert page.inner_text(row + " td:nth-child(3)") == "missing in gamma"
        only = '#compare-media tr[data-key="only_here"]'
        assert page.inner_text(only + " td:nth-child(3)") == "missing in beta, gamma"

        choose(page, "samples", "image")
        wait_painted(page, panel(a) + " img")
        wait_painted(page, panel(b) + " img")
        assert page.inner_text(panel(a) + " .cm-step") == "step 20"
        assert page.inner_text(panel(b) + " .cm-step") == "step 15"
        assert page.inner_text(panel(a) + " figcaption") == "alpha at 20"
        assert page.inner_text(panel(b) + " figcaption") == "beta at 15"
        width = "(s) => document.querySelector(s).naturalWidth"
        assert page.evaluate(width, panel(a) + " img") == 28
        assert page.evaluate(width, panel(b) + " img") == 28
        left = page.locator(panel(a)).bounding_box()
        right = page.locator(panel(b)).bounding_box()
        assert left and right and abs(left["y"] - right["y"]) < 2 and right["x"] > left["x"]
        assert page.inner_text(panel(c)).endswith("This run has no media “samples”.")
        assert page.locator(panel(c) + " img").count() == 0

        # one slider over both runs' steps (0 5 10 15 20): index 2 is step 10 → a at 10, b at 5
        srcs = [page.get_attribute(panel(r) + " img", "src") for r in (a, b)]
        page.locator("#cm-step").fill("2")
        page.wait_for_function(
            "(s) => document.querySelector(s).textContent === 'step 5'", arg=panel(b) + " .cm-step"
        )
        assert page.inner_text(panel(a) + " .cm-step") == "step 10"
        assert page.inner_text("#cm-step-label") == "step 10"
        wait_painted(page, panel(a) + " img")
        wait_painted(page, panel(b) + " img")
        assert page.inner_text(panel(a) + " figcaption") == "alpha at 10"
        assert page.inner_text(panel(b) + " figcaption") == "beta at 5"
        assert [page.get_attribute(panel(r) + " img", "src") for r in (a, b)] != srcs
        # before beta's first step: beta says so, alpha shows step 0
        page.locator("#cm-step").fill("0")
        page.wait_for_function(
            "(s) => document.querySelector(s).textContent === 'step 0'", arg=panel(a) + " .cm-step"
        )
        assert "first at step 5" in page.inner_text(panel(b))
        page.screenshot(path=str(tmp_path / "compare-media.png"), full_page=True)


def test_other_kinds_side_by_side(
    browser: Any, site: tuple[LiveServer, dict[str, str]], tmp_path: Path
) -> None:
    server, ids = site
    a, b = ids["a"], ids["b"]
    with guarded(browser) as (page, _guard):
        open_media(page, server, [a, b])
        # the default key is a gallery both runs have: every item of the step, in each run
        page.wait_for_function(
            "(s) => document.querySelectorAll(s).length === 4", arg="#cm-panels img.gallery-img"
        )
        choose(page, "preds", "table")
        page.wait_for_selector(panel(a) + " .table-card tbody tr")
        page.wait_for_selector(panel(b) + " .table-card tbody tr")
        cell = (
            "(s) => document.querySelector(s + ' .table-card tbody tr td:nth-child(2)').textContent"
        )
        assert page.evaluate(cell, panel(a)) == "20"
        assert page.evaluate(cell, panel(b)) == "15"

        choose(page, "clip", "audio")
        for r in (a, b):
            page.wait_for_function(
                "(s) => { const e = document.querySelector(s); return e && e.duration > 0 }",
                arg=panel(r) + " audio",
            )

        choose(page, "page", "html")
        for r, text in ((a, "alpha at 20"), (b, "beta at 15")):
            frame = page.locator(panel(r) + " iframe.html-frame")
            assert frame.get_attribute("sandbox") == ""  # no scripts, no same-origin
            assert (
                page.frame_locator(panel(r) + " iframe.html-frame").locator("p").inner_text()
                == text
            )

        choose(page, "curve", "chart")
        for r in (a, b):
            page.wait_for_selector(panel(r) + ' .preset-card[data-drawn="1"]')
        page.screenshot(path=str(tmp_path / "compare-media-kinds.png"), full_page=True)
