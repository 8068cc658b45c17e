"""Reports in a real browser (docs/reports.md): a report written in the editor previews live,
is saved, and its view follows a run that is still logging; its exported HTML, opened from a
file:// URL with every other request aborted, paints every chart, hovers and zooms, and runs no
script from the report's text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .webui_fixtures import (
    CHROMIUM,
    LiveServer,
    guarded,
    live_server,
    log_run,
    start_logger,
    wait_for,
)

pytestmark = pytest.mark.browser

REPORT = """---
title: Loss findings
---
# Loss findings

The loss falls <script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2">.

```panel
{"type": "line", "title": "Loss", "keys": ["train/loss", "val/acc"]}
```

```panel
{"type": "table", "fields": ["config.lr", "summary.val/acc"]}
```

```panel
{"type": "line", "title": "Old run", "runs": ["deleted0run"], "keys": ["train/loss"]}
```

```panel
{"type": "media", "runs": ["pictures"], "keys": ["samples"]}
```

```panel
{"type": "preset", "runs": ["pictures"], "keys": ["curve"]}
```

```panel
{"type": "parallel", "fields": ["config.lr"], "y": "summary.val/acc"}
```

```panel
{"type": "scatter", "x": "config.lr", "y": "summary.val/acc"}
```

```panel
{"type": "compare", "runs": ["run-0", "run-1"]}
```
"""
# every drawn canvas in the page: line charts, the preset chart, parallel coordinates, scatter
CANVASES = (".chart-card", ".report-preset .preset-box", ".report-parallel", ".report-scatter")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("reports")
    for r in range(2):
        log_run(root, "rep", f"run-{r}", config={"lr": 0.1 * (r + 1)}, steps=40)
    _pictures(root)
    with live_server(root, poll_ms=300) as srv:
        yield srv


def _pictures(root: Path) -> None:
    """A run with images and a preset chart (localtrack.plot), named "pictures"."""
    import numpy as np

    import localtrack

    run = localtrack.init(project="rep", name="pictures", dir=str(root), config={"lr": 0.5})
    pixels = (np.arange(32 * 32 * 3) % 251).astype("uint8").reshape(32, 32, 3)
    table = localtrack.Table(columns=["x", "y"], data=[[i, i * i] for i in range(20)])
    run.log({"samples": localtrack.Image(pixels, caption="a gradient")}, step=0)
    run.log({"curve": localtrack.plot.line(table, "x", "y", title="squares")}, step=1)
    run.finish()


PAINTED_EACH = """(sel) => [...document.querySelectorAll(sel)].map((el) => {
  let n = 0;
  for (const c of el.querySelectorAll('canvas')) {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
  }
  return n;
})"""


def _assert_all_painted(page: Any) -> None:
    """Every chart of every kind holds a canvas with paint on it."""
    for selector in CANVASES:
        counts = page.evaluate(PAINTED_EACH, selector)
        assert counts and all(n > 200 for n in counts), (selector, counts)
    image = page.locator(".report-media img")
    assert image.count() == 1
    assert page.evaluate("(img) => img.complete && img.naturalWidth", image.element_handle()) == 32


def test_a_report_written_in_the_browser_renders_live_and_exports(
    browser: Any, server: LiveServer, tmp_path: Path
) -> None:
    with guarded(browser) as (page, _):
        page.goto(f"{server.url}/projects/rep/reports")
        page.fill("#new-report-name", "findings")
        page.click("#new-report button[type=submit]")
        page.wait_for_selector("#report-text")
        page.fill("#report-text", REPORT)
        # the live preview draws the unsaved text: both charts, the table, the deleted-run note
        page.wait_for_function(
            "() => document.querySelectorAll('#report .chart-card[data-painted=\"true\"]').length >= 2",
            timeout=60_000,
        )
        assert page.locator("#report .report-table table tbody tr").count() == 3
        assert "deleted0run" in page.locator("#report .report-note").first.inner_text()
        page.click("#report-save")
        page.wait_for_selector("#report-status:text('saved')")
        assert page.evaluate("() => window.pwned") is None

        page.goto(f"{server.url}/projects/rep/reports/findings")
        page.wait_for_function(
            "() => document.querySelectorAll('#report .chart-card[data-painted=\"true\"]').length >= 2",
            timeout=60_000,
        )
        # a run that starts logging now shows up in the open report without a reload, and
        # while it logs its chart takes new data in place: a zoomed chart stays zoomed
        proc = start_logger(server.root, "rep", "live-run", steps=100_000, delay=0.02)
        try:
            page.wait_for_function(
                "() => [...document.querySelectorAll('#report .chart-legend .name')]"
                ".some((e) => e.textContent === 'live-run')",
                timeout=90_000,
            )
            _drag(page, ".chart-card[data-key='train/loss']")
            foot = page.locator(".chart-card[data-key='train/loss'] .chart-foot")
            assert wait_for(lambda: "zoomed" in foot.inner_text(), timeout=10)
            before = page.inner_text(".report-meta")
            page.wait_for_function(
                "(t) => document.querySelector('.report-meta').textContent !== t",
                arg=before,
                timeout=60_000,
            )
            assert "zoomed" in foot.inner_text()
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        assert page.evaluate("() => window.pwned") is None
        _assert_all_painted(page)
        with page.expect_download() as info:
            page.click("#report-export")
        exported = tmp_path / "findings.html"
        info.value.save_as(exported)
    _open_offline(browser, exported)


def _drag(page: Any, card: str) -> None:
    """Drag across the middle of a chart (uPlot's zoom gesture). A chart that has just taken a
    new run is rebuilt in its own task: a plot replaced under the scroll is looked up again."""
    from playwright.sync_api import Error as PlaywrightError

    over = page.locator(f"{card} .u-over")
    for attempt in range(5):
        try:
            over.scroll_into_view_if_needed()
            break
        except PlaywrightError as exc:
            if "not attached" not in str(exc) or attempt == 4:
                raise
    box = over.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + 20, steps=5)
    page.mouse.up()


def _open_offline(browser: Any, exported: Path) -> None:
    """The exported file from file://, every request that is not file:// aborted."""
    assert Path(CHROMIUM).exists()
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    blocked: list[str] = []
    errors: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(exported.as_uri())
        page.wait_for_function(
            "() => document.querySelectorAll('.chart-card[data-painted=\"true\"]').length >= 2",
            timeout=60_000,
        )
        assert page.locator(".chart-card").count() == 2  # the deleted run's panel: a note
        _assert_all_painted(page)
        compare = page.locator(".report-compare tbody").inner_text()
        assert "config.lr" in compare and "summary.val/acc" in compare
        assert "deleted0run" in page.locator(".report-note").first.inner_text()
        assert page.evaluate("() => window.pwned") is None
        # hover: the legend shows the values at the cursor
        over = page.locator(".chart-card[data-key='train/loss'] .u-over")
        box = over.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        legend = page.locator(".chart-card[data-key='train/loss'] .chart-legend")
        assert wait_for(lambda: legend.inner_text().startswith("step "), timeout=10)
        # zoom: a drag narrows the chart to the dragged range (from the embedded data)
        _drag(page, ".chart-card[data-key='train/loss']")
        foot = page.locator(".chart-card[data-key='train/loss'] .chart-foot")
        assert wait_for(lambda: "zoomed" in foot.inner_text(), timeout=10)
        assert blocked == [] and errors == []
    finally:
        context.close()
