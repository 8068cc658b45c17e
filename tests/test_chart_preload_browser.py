"""The first screen's chart data is asked for from <head>, right after the page's stylesheets
and script (before any script ran): the run and compare pages preload their first chart
request, and the page's scripts use that reply instead of asking again. No request is
intercepted here (interception changes how the browser fetches); every request is recorded and
none may leave loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from .webui_fixtures import LOOPBACK_HOSTS, LiveServer, live_server, small_store

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    root: Path = tmp_path_factory.mktemp("preload-store")
    ids = small_store(root)
    with live_server(root) as server:
        yield server, ids


def _load(browser: Any, url: str) -> list[str]:
    """Open `url` (a 1400×900 window) and wait until each chart of its first chart request
    has painted; every request URL, in order."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        seen: list[str] = []
        page.on("request", lambda r: seen.append(r.url))
        page.goto(url)
        page.wait_for_selector(".chart-card[data-painted='true']", timeout=30_000)
        first = next(u for u in seen if urlsplit(u).path == "/api/v1/charts")
        for key in _chart_keys(first):  # those below the first screen when scrolled to
            card = f'.chart-card[data-key="{key}"]'
            page.locator(card).scroll_into_view_if_needed()
            page.wait_for_selector(card + '[data-painted="true"]', timeout=30_000)
        page.wait_for_load_state("load")
        return list(seen)
    finally:
        context.close()


def _chart_keys(url: str) -> list[str]:
    return parse_qs(urlsplit(url).query)["keys"][0].split(",")


@pytest.mark.parametrize("page_kind", ["run", "compare"])
def test_the_first_charts_are_requested_first_and_only_once(
    browser: Any, site: tuple[LiveServer, dict[str, str]], page_kind: str
) -> None:
    server, ids = site
    runs = ",".join(ids[n] for n in ("alpha", "beta", "gamma"))
    path = f"/runs/{ids['alpha']}" if page_kind == "run" else f"/projects/mnist/compare?runs={runs}"
    seen = _load(browser, server.url + path)  # and the first request's charts painted
    assert all(urlsplit(u).hostname in LOOPBACK_HOSTS for u in seen), seen
    document = seen[0]
    assert urlsplit(document).path == urlsplit(server.url + path).path
    # from <head>: the stylesheets and the script, then the chart data, before any script ran
    # (the server sends the files before it starts on the charts)
    at = next(i for i, u in enumerate(seen) if urlsplit(u).path == "/api/v1/charts")
    before = [urlsplit(u).path for u in seen[1:at]]
    assert "/bundle.js" in before and any(p.endswith(".css") for p in before), seen[: at + 1]
    assert all(p == "/bundle.js" or p.endswith(".css") for p in before), seen[: at + 1]
    first_keys = _chart_keys(seen[at])
    # and the scripts used that reply, also for a chart drawn only once scrolled to: no
    # second request for any of those charts
    charts = [u for u in seen if urlsplit(u).path == "/api/v1/charts"]
    asked = [k for u in charts for k in _chart_keys(u)]
    assert all(asked.count(k) == 1 for k in first_keys), charts
