"""The Artifacts UI in a real browser (Debian's chromium through Playwright): the lineage graph
paints and navigates, the file browser previews text, an image and a Parquet table, the run page
lists its artifacts. Every page is guarded: no request leaves loopback, no page error or CSP
violation. Run serially (2 cores)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .artifact_ui_fixtures import artifact_store
from .webui_fixtures import LiveServer, guarded, live_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    base = tmp_path_factory.mktemp("artifacts-browser")
    ids = artifact_store(base / "store", base / "data")
    with live_server(base / "store", poll_ms=250) as server:
        yield server, ids


def test_lineage_graph_paints_nodes_and_a_click_navigates(
    browser: Any, site: tuple[LiveServer, dict[str, str]], tmp_path: Path
) -> None:
    server, ids = site
    with guarded(browser) as (page, _guard):
        page.goto(f"{server.url}/projects/p/artifacts/net/v0/lineage")
        page.wait_for_selector("#lineage[data-painted] svg .node rect")
        nodes = page.locator("#lineage svg .node")
        assert nodes.count() == 6  # prepare, ds:v0, train, net:v0, evaluate, net-registry:v0
        boxes = [nodes.nth(i).bounding_box() for i in range(nodes.count())]
        assert all(b is not None and b["width"] > 100 and b["height"] > 30 for b in boxes)
        assert len({(round(b["x"]), round(b["y"])) for b in boxes if b}) == 6  # laid out apart
        assert page.locator("#lineage svg path.edge").count() == 5
        assert page.locator("#lineage svg .node.focus").count() == 1
        fill = page.eval_on_selector(
            "#lineage svg .node-artifact rect", "r => getComputedStyle(r).fill"
        )
        assert fill not in ("", "none", "rgba(0, 0, 0, 0)")
        page.screenshot(path=str(tmp_path / "lineage.png"))
        page.locator(f'#lineage svg .node[data-id="run:{ids["prepare"]}"]').click()
        page.wait_for_url(f"**/runs/{ids['prepare']}")
        page.wait_for_selector("#run-artifacts:not([hidden]) #run-outputs a")
        assert page.inner_text("#run-outputs a") == "p/ds:v0"
        page.click("#run-outputs a")
        page.wait_for_url("**/projects/p/artifacts/ds/v0")
        page.click("#lineage-link")
        page.wait_for_selector("#lineage[data-painted] svg .node rect")
        assert page.locator("#lineage svg .node.focus").get_attribute("data-id") == (
            "artifact:p/ds:v0"
        )


def test_file_browser_previews_text_an_image_and_a_table(
    browser: Any, site: tuple[LiveServer, dict[str, str]], tmp_path: Path
) -> None:
    server, _ = site
    with guarded(browser) as (page, _guard):
        page.goto(f"{server.url}/projects/p/artifacts/ds/v0")
        page.click('.fb-file[data-path="readme.txt"]')
        page.wait_for_selector("#file-preview pre.fb-text")
        text = page.inner_text("#file-preview pre.fb-text")
        assert text.startswith("hello <b>artifact</b>")  # shown as text, never as HTML
        assert page.locator("#file-preview b").count() == 0
        page.click('.fb-file[data-path="pic.png"]')
        page.wait_for_function(
            "() => { const i = document.querySelector('#file-preview img.fb-image');"
            " return i && i.complete && i.naturalWidth > 0 }"
        )
        width = page.eval_on_selector("#file-preview img.fb-image", "i => i.naturalWidth")
        assert width == 4
        page.click('.fb-file[data-path="rows.parquet"]')
        page.wait_for_selector("#file-preview .fb-table tbody tr")
        assert page.locator("#file-preview .fb-table tbody tr").count() == 3
        page.screenshot(path=str(tmp_path / "files.png"))


def test_artifacts_section_lists_types_and_versions(
    browser: Any, site: tuple[LiveServer, dict[str, str]]
) -> None:
    server, _ = site
    with guarded(browser) as (page, _guard):
        page.goto(f"{server.url}/projects/p")
        page.click("#artifacts-link")
        page.wait_for_selector(".artifact-type[data-type=dataset]")
        assert page.locator(".artifact-type h2").all_inner_texts()[0].startswith("dataset")
        page.click(".artifact-type[data-type=model] a >> text=net")
        page.wait_for_selector("#versions tbody tr")
        assert "best" in page.inner_text("#versions tbody tr")
