"""The workspace in a real browser: a view saved in one browser context opens in another,
smoothing matches an independent numpy computation, 50 panels draw only near the viewport,
and no request leaves loopback (every page is guarded)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from .webui_fixtures import LiveServer, guarded, live_server, log_run

pytestmark = pytest.mark.browser

KEYS = [f"{prefix}/m{i}" for prefix in ("train", "val") for i in range(25)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("ws")
    for r in range(3):
        log_run(
            root,
            "ws",
            f"run-{r}",
            config={"lr": 0.01 * (r + 1), "opt": "ab"[r % 2]},
            steps=60,
            metrics=lambda s, r=r: {
                k: math.sin(s / 7 + j + r) + 0.01 * s for j, k in enumerate(KEYS)
            },
        )
    with live_server(root) as srv:
        yield srv


def _open(page: Any, server: LiveServer, suffix: str = "") -> None:
    page.goto(f"{server.url}/projects/ws/workspace{suffix}")
    page.wait_for_selector(".ws-body[data-painted='true']", timeout=60_000)


def test_a_view_saved_in_one_context_opens_in_another(browser: Any, server: LiveServer) -> None:
    with guarded(browser) as (page, _):
        _open(page, server)
        page.select_option("#ws-smoothing", "gaussian")
        page.check("#ws-logy")
        page.locator(".chart-card[data-key='val/m3'] [data-act='pin']").click()
        page.fill("#ws-view-name", "shared")
        page.check("#ws-view-default")
        page.click("#ws-save")
        page.wait_for_selector("#ws-app[data-saved='shared']")
    with guarded(browser) as (page, _):
        _open(page, server)
        state = page.evaluate("() => window.LT.workspace.state")
        assert state["smoothing"] == "gaussian" and state["log_y"] is True
        assert state["pinned"] == ["val/m3"]
        assert page.locator("details[data-section='_pinned'] .chart-card").count() == 1
        assert page.input_value("#ws-view") == "shared"
        # the URL carries the state: a link opens what this page shows
        link = page.url
    with guarded(browser) as (page, _):
        page.goto(link)
        page.wait_for_selector(".ws-body[data-painted='true']", timeout=60_000)
        assert page.evaluate("() => window.LT.workspace.state.smoothing") == "gaussian"


def _ema(ys: np.ndarray, w: float) -> np.ndarray:
    out, s, c = [], 0.0, 0.0
    for v in ys:
        s, c = w * s + (1 - w) * v, w * c + (1 - w)
        out.append(s / c)
    return np.array(out)


def _running(ys: np.ndarray, n: int) -> np.ndarray:
    return np.array([ys[max(0, i - n + 1) : i + 1].mean() for i in range(len(ys))])


def _gaussian(ys: np.ndarray, sigma: float) -> np.ndarray:
    r = math.ceil(3 * sigma)
    out = []
    for i in range(len(ys)):
        lo, hi = max(0, i - r), min(len(ys), i + r + 1)
        w = np.exp(-((np.arange(lo, hi) - i) ** 2) / (2 * sigma**2))
        out.append((w * ys[lo:hi]).sum() / w.sum())
    return np.array(out)


@pytest.mark.parametrize(
    ("kind", "amount", "twin"),
    [("ema", 0.8, _ema), ("running", 7, _running), ("gaussian", 2.5, _gaussian)],
)
def test_smoothing_matches_an_independent_computation(
    browser: Any, server: LiveServer, kind: str, amount: float, twin: Any
) -> None:
    ys = np.array([math.sin(i / 3) + (i % 5) * 0.1 for i in range(80)])
    with guarded(browser) as (page, _):
        _open(page, server)
        got = page.evaluate(
            "([ys, k, a]) => window.LT.smooth(ys, k, a)", [ys.tolist(), kind, amount]
        )
    assert np.allclose(np.array(got, dtype=float), twin(ys, amount), rtol=1e-9, atol=1e-12)


def test_fifty_panels_draw_only_near_the_viewport(browser: Any, server: LiveServer) -> None:
    with guarded(browser, height=800) as (page, _):
        charts = []
        page.on("request", lambda r: charts.append(r.url) if "/api/v1/charts" in r.url else None)
        _open(page, server)
        page.wait_for_timeout(300)
        total = page.locator(".chart-card").count()
        painted = page.locator(".ws-body[data-painted='true']").count()
        assert total >= 50 and 0 < painted < total / 2
        assert len(charts) <= 3  # one request per group of panels, not per chart
        page.locator(".chart-card").last.scroll_into_view_if_needed()
        page.wait_for_function(
            "() => [...document.querySelectorAll('.ws-body')].pop().dataset.painted === 'true'",
            timeout=60_000,
        )
        # the first panel, far above now, gave up its canvas; scrolled back to, it draws again
        first = "document.querySelector('.ws-body')"
        page.wait_for_function(f"() => !{first}.querySelector('canvas')", timeout=60_000)
        page.locator(".chart-card").first.scroll_into_view_if_needed()
        page.wait_for_function(f"() => {first}.querySelector('canvas')", timeout=60_000)
        assert page.locator(".ws-body").first.get_attribute("data-painted") == "true"


def test_the_run_picker_limits_the_charts_to_the_ticked_runs(
    browser: Any, server: LiveServer
) -> None:
    from urllib.parse import parse_qs, urlsplit

    with guarded(browser) as (page, _):
        _open(page, server)
        page.click("#ws-picker > summary")
        picks = page.locator("#ws-picker label[data-run]")
        assert picks.count() == 3
        dropped = picks.first.get_attribute("data-run")
        with page.expect_request(lambda r: "/api/v1/charts" in r.url, timeout=60_000) as req:
            picks.first.locator("input").uncheck()
        runs = parse_qs(urlsplit(req.value.url).query)["runs"][0].split(",")
        assert len(runs) == 2 and dropped not in runs
        state = page.evaluate("() => window.LT.workspace.state")
        assert state["runs"] == "selection" and sorted(state["selection"]) == sorted(runs)
        assert page.input_value("#ws-runs") == "selection"
        assert page.text_content("#ws-picker > summary") == "2 of 3 runs"
        # the choice is part of the link
        link = page.url
    with guarded(browser) as (page, _):
        page.goto(link)
        page.wait_for_selector(".ws-body[data-painted='true']", timeout=60_000)
        assert page.evaluate("() => window.LT.workspace.state.selection.length") == 2


def test_a_histogram_panel_draws_each_runs_histograms_over_time(
    browser: Any, server: LiveServer
) -> None:
    import json
    import urllib.parse
    import urllib.request

    import localtrack

    from .webui_fixtures import painted_pixels, wait_for

    rng = np.random.default_rng(0)
    for r in range(2):
        run = localtrack.init(project="hist", name=f"h{r}", dir=str(server.root))
        for step in range(6):
            run.log({"w": localtrack.Histogram(rng.normal(step * 0.3, 1, 500)), "loss": 1.0})
        run.finish()

    def listed() -> bool:
        url = f"{server.url}/api/v1/projects/hist/workspace"
        with urllib.request.urlopen(url, timeout=10) as reply:
            return len(json.loads(reply.read())["runs"]) == 2

    assert wait_for(listed, timeout=60)
    panel = {"id": "h1", "type": "histogram", "title": "w", "keys": ["w"]}
    state = urllib.parse.quote(json.dumps({"panels": [panel]}))
    with guarded(browser) as (page, _):
        page.goto(f"{server.url}/projects/hist/workspace#s={state}")
        page.wait_for_function(
            "() => document.querySelectorAll(\".ws-hist canvas.heatmap[data-painted='true']\").length === 2",
            timeout=60_000,
        )
        assert painted_pixels(page, ".ws-hist") > 1000
        assert page.locator("[data-panel='histogram'] select option[value='w']").count() == 1
