"""The UI at laptop width (1280×800) in a real browser: wide runs tables scroll with the name
column in view and pinned columns beside it, summary columns say their summary mode, a system
chart with one sample still paints, and parallel coordinates show runs that lack a field.

Debian's chromium driven by Playwright against waitress on loopback; every page is guarded
(no request may leave loopback, no page error, no CSP complaint). Run serially (2 cores).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .webui_fixtures import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LiveServer,
    guarded,
    live_server,
    painted_pixels,
)

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1280, 800
Ids = dict[str, str]

# Enough long summary keys that the table is wider than 1280 px.
SUMMARY_KEYS = [
    "val/loss",
    "val/accuracy_top1",
    "val/accuracy_top5",
    "test/accuracy_top1",
    "test/accuracy_top5",
    "eval/perplexity_on_heldout",
    "eval/bleu_score_newstest",
    "train/throughput_samples_per_second",
]
COLUMNS = ",".join(
    ["config.learning_rate", "config.dropout", "config.optimizer.name"]
    + [f"summary.{k}" for k in SUMMARY_KEYS]
)


def _log(root: Path, name: str, config: dict[str, Any], seed: int, system_once: bool) -> str:
    import localtrack

    run = localtrack.init(project="wide", name=name, config=config, dir=str(root))
    run.define_metric("val/loss", summary="min")
    run.define_metric("val/accuracy*", summary="max")
    for step in range(20):
        row = {k: math.exp(-step / (5 + seed + i)) for i, k in enumerate(SUMMARY_KEYS)}
        if system_once and step == 3:
            row["system/one_sample"] = 42.0
        run.log(row, step=step)
    run.finish()
    return str(run.id)


def wide_store(root: Path) -> Ids:
    """Project "wide": three runs with many long summary keys; "partial" has no dropout."""
    ids = {}
    base = {"learning_rate": 1e-3, "optimizer": {"name": "adam"}, "batch_size": 64}
    ids["first-run-with-a-long-name"] = _log(
        root, "first-run-with-a-long-name", dict(base, dropout=0.1), 0, True
    )
    ids["second"] = _log(root, "second", dict(base, learning_rate=3e-4, dropout=0.3), 1, False)
    ids["partial"] = _log(root, "partial", dict(base, learning_rate=1e-2), 2, False)
    return ids


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium as the shared fixture starts it, but with scrollbars drawn (headless hides them
    by default), so a test can see that a scrollbar takes room and a screenshot shows it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            ignore_default_args=["--hide-scrollbars"],
        )
        try:
            yield b
        finally:
            b.close()


def scrollbar_height(locator: Any) -> float:
    """Room the horizontal scrollbar takes at the bottom of a scroll box (0 when none shows)."""
    return float(
        locator.evaluate(
            "el => el.offsetHeight - el.clientHeight - parseFloat(getComputedStyle(el).borderTopWidth) - parseFloat(getComputedStyle(el).borderBottomWidth)"
        )
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Ids]]:
    root = tmp_path_factory.mktemp("layout-store")
    ids = wide_store(root)
    with live_server(root) as server:
        yield server, ids


def open_table(page: Any, server: LiveServer, query: str = "") -> None:
    page.goto(server.url + "/projects/wide" + query)
    page.wait_for_selector("#runs-app[data-loaded=true] #runs-table tbody tr[data-run-id]")


def box(page: Any, selector: str) -> dict[str, float]:
    b = page.locator(selector).first.bounding_box()
    assert b is not None, f"{selector} is not rendered"
    return b


def in_view(page: Any, selector: str) -> bool:
    """Whether the element's box lies inside the table's scroll area (not clipped by it)."""
    wrap, b = box(page, "#runs-table-wrap"), box(page, selector)
    return b["x"] >= wrap["x"] - 1 and b["x"] + b["width"] <= wrap["x"] + wrap["width"] + 1


def scroll_table_right(page: Any) -> None:
    page.eval_on_selector("#runs-table-wrap", "el => { el.scrollLeft = el.scrollWidth; }")
    page.wait_for_function(
        "() => { const el = document.getElementById('runs-table-wrap'); return el.scrollLeft > 0 && el.scrollLeft + el.clientWidth >= el.scrollWidth - 1; }"
    )


def test_runs_table_scrolls_to_last_summary_column_with_name_in_view(
    browser: Any, site: tuple[LiveServer, Ids], tmp_path: Path
) -> None:
    server, ids = site
    last = f'#runs-table th[data-field="summary.{SUMMARY_KEYS[-1]}"]'
    name = f'#runs-table tr[data-run-id="{ids["second"]}"] .run-name'
    with guarded(browser, WIDTH, HEIGHT) as (page, _guard):
        open_table(page, server, "?columns=" + COLUMNS)
        wrap = page.locator("#runs-table-wrap")
        assert wrap.evaluate("el => el.scrollWidth > el.clientWidth"), "table should overflow"
        # the horizontal scrollbar is drawn inside the window, not below the fold
        assert scrollbar_height(wrap) > 0
        assert (
            box(page, "#runs-table-wrap")["y"] + box(page, "#runs-table-wrap")["height"] <= HEIGHT
        )
        assert not in_view(page, last)
        scroll_table_right(page)
        assert in_view(page, last)
        assert in_view(page, name)
        assert page.locator(name).is_visible()
        page.screenshot(path=str(tmp_path / "runs-scrolled.png"))


def test_runs_table_shows_summary_mode(browser: Any, site: tuple[LiveServer, Ids]) -> None:
    server, _ = site
    with guarded(browser, WIDTH, HEIGHT) as (page, _guard):
        open_table(page, server, "?columns=" + COLUMNS)
        head = '#runs-table th[data-field="summary.{}"] .summary-mode'
        assert page.inner_text(head.format("val/loss")) == "min"
        assert page.inner_text(head.format("val/accuracy_top1")) == "max"
        assert page.inner_text(head.format("test/accuracy_top1")) == "last"


def test_runs_table_pinned_column_stays_after_reload(
    browser: Any, site: tuple[LiveServer, Ids], tmp_path: Path
) -> None:
    server, _ = site
    field = "summary.val/loss"
    head = f'#runs-table th[data-field="{field}"]'
    with guarded(browser, WIDTH, HEIGHT) as (page, _guard):
        open_table(page, server, "?columns=" + COLUMNS)
        page.click(head + " .pin")
        page.wait_for_selector(head + ".pinned")
        page.reload()
        page.wait_for_selector("#runs-app[data-loaded=true] " + head + ".pinned")
        # pinned columns come right after the name
        fields = page.eval_on_selector_all(
            "#runs-table thead th[data-field]", "ths => ths.map(t => t.dataset.field)"
        )
        assert fields[:2] == ["name", field]
        scroll_table_right(page)
        assert in_view(page, head)
        assert in_view(page, '#runs-table th[data-field="name"]')
        cell = f'#runs-table tbody tr[data-run-id] td[data-field="{field}"]'
        assert in_view(page, cell) and page.locator(cell).first.inner_text() != ""
        page.screenshot(path=str(tmp_path / "runs-pinned.png"))
        # unpinning persists too
        page.click(head + " .pin")
        page.wait_for_selector(head + ":not(.pinned)")
        page.reload()
        page.wait_for_selector("#runs-app[data-loaded=true] #runs-table tbody tr[data-run-id]")
        assert page.locator(head + ".pinned").count() == 0


def test_compare_config_diff_scrolls_with_key_in_view(
    browser: Any, site: tuple[LiveServer, Ids], tmp_path: Path
) -> None:
    server, ids = site
    runs = ",".join(ids.values())
    with guarded(browser, WIDTH, HEIGHT) as (page, _guard):
        page.goto(server.url + f"/projects/wide/compare?runs={runs}")
        page.wait_for_selector("#parcoords[data-painted=true]")
        wrap = page.locator("#config-diff .table-wrap")
        if wrap.evaluate("el => el.scrollWidth > el.clientWidth"):
            assert scrollbar_height(wrap) > 0
            wrap.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
        last = box(page, f'#config-diff th[data-run-id="{ids["partial"]}"]')
        key = box(page, "#config-diff tbody th")
        w = box(page, "#config-diff .table-wrap")
        assert last["x"] + last["width"] <= w["x"] + w["width"] + 1
        assert key["x"] >= w["x"] - 1
        page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)


def test_parallel_coordinates_show_run_missing_a_field(
    browser: Any, site: tuple[LiveServer, Ids], tmp_path: Path
) -> None:
    server, ids = site
    runs = ",".join(ids.values())
    with guarded(browser, WIDTH, HEIGHT) as (page, _guard):
        page.goto(server.url + f"/projects/wide/compare?runs={runs}")
        page.wait_for_selector("#parcoords[data-painted=true]")
        axes = page.eval_on_selector("#parcoords", "el => el.dataset.axes")
        assert "config.dropout" in axes.split(",")
        assert page.eval_on_selector("#parcoords", "el => el.dataset.drawn") == "3"
        note = page.inner_text("#parcoords-missing")
        assert "1 run" in note and "dropout" in note and "missing" in note
        assert painted_pixels(page, "#parcoords") > 500
        page.locator("#parcoords-card").screenshot(path=str(tmp_path / "parcoords.png"))


def test_one_sample_system_chart_paints_and_says_so(
    browser: Any, site: tuple[LiveServer, Ids], tmp_path: Path
) -> None:
    server, ids = site
    card = '.chart-card[data-key="system/one_sample"]'
    with guarded(browser, WIDTH, HEIGHT) as (page, _guard):
        page.goto(server.url + f"/runs/{ids['first-run-with-a-long-name']}")
        page.wait_for_selector(card, state="attached")
        page.locator(card).scroll_into_view_if_needed()
        page.wait_for_selector(card + '[data-painted="true"]')
        assert "1 sample" in page.inner_text(card + " .chart-foot")
        # uPlot's canvas holds the axes too; a point adds pixels of the run's colour
        colour = page.eval_on_selector(
            card,
            """(el) => {
              const c = el.querySelector('canvas'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              let n = 0;
              for (let i = 0; i < d.length; i += 4) {
                const r = d[i], g = d[i + 1], b = d[i + 2], a = d[i + 3];
                if (a > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 60) n++;
              }
              return n;
            }""",
        )
        assert colour > 20, "the single sample is not drawn"
        page.locator(card).screenshot(path=str(tmp_path / "one-sample.png"))
