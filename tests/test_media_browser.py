"""Audio, video, HTML, plotly, 3D, galleries and preset charts painted in a real browser.

Guarded like every browser test: no request leaves loopback, no page error or CSP complaint.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import localtrack

from .webui_fixtures import LiveServer, guarded, live_server, painted_pixels

pytestmark = pytest.mark.browser

SCRIPT_HTML = (
    "<h1 id=t>logged page</h1><script>document.title='ran';"
    "try{parent.document.body.dataset.pwned='1'}catch(e){};"
    "document.getElementById('t').textContent='scripts ran'</script>"
)


def media_run(root: Path) -> str:
    pytest.importorskip("av")
    pytest.importorskip("pandas")  # whole, before plotly peeks at a half-imported one
    go = pytest.importorskip("plotly.graph_objects")
    rng = np.random.default_rng(3)
    t = np.linspace(0, 1, 8000, endpoint=False)
    frames = rng.integers(0, 255, (8, 3, 32, 48), dtype=np.uint8)
    cloud = np.c_[rng.normal(size=(3000, 3)), rng.integers(0, 255, (3000, 3))]
    box = {
        "corners": [[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)],
        "color": [255, 0, 0],
    }
    y_true = rng.integers(0, 3, 100)
    probas = rng.dirichlet(np.ones(3), 100)
    run = localtrack.init(project="media", dir=root, settings=localtrack.Settings(console=False))
    table = localtrack.Table(
        columns=["x", "y", "name"], data=[[i, i * i, f"n{i}"] for i in range(10)]
    )
    for step in range(2):
        run.log(
            {
                "audio": localtrack.Audio(
                    np.sin(2 * np.pi * (440 + step * 100) * t), sample_rate=8000
                ),
                "video": localtrack.Video(frames, fps=4, format="webm"),
                "page": localtrack.Html(SCRIPT_HTML),
                "fig": go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2 + step])),
                "cloud": localtrack.Object3D(
                    {"type": "lidar/beta", "points": cloud, "boxes": [box]}
                ),
                "gallery": [
                    localtrack.Image(np.full((8, 8), v, dtype=np.uint8)) for v in (0, 120, 250)
                ],
                "roc": localtrack.plot.roc_curve(y_true, probas, labels=["a", "b", "c"]),
                "line": localtrack.plot.line(table, "x", "y", title="squares"),
                "bar": localtrack.plot.bar(table, "name", "y"),
                "cm": localtrack.plot.confusion_matrix(probs=probas, y_true=y_true),
                "hist": localtrack.plot.histogram(table, "y"),
            },
            step=step,
        )
    run.log({"mp4": localtrack.Video(frames, fps=4, format="mp4")}, step=2)
    run.finish()
    return run.id


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    root = tmp_path_factory.mktemp("media-kinds") / "store"
    run_id = media_run(root)
    with live_server(root, poll_ms=250) as server:
        yield server, run_id


def screenshot_ink(page: Any, selector: str, background: tuple[int, int, int]) -> int:
    """Pixels of an element's screenshot that differ from its background colour."""
    from PIL import Image as PILImage

    shot = np.asarray(
        PILImage.open(io.BytesIO(page.locator(selector).first.screenshot())).convert("RGB")
    )
    return int((np.abs(shot.astype(int) - background).sum(axis=2) > 30).sum())


def card(key: str) -> str:
    return f'.media-card[data-key="{key}"]'


def reveal(page: Any, key: str) -> None:
    """Scroll a card into view: cards build their items only when they come near the screen."""
    page.wait_for_selector(card(key))
    page.locator(card(key)).scroll_into_view_if_needed()


def test_audio_and_video_elements_load_with_a_duration(browser: Any, site, tmp_path: Path) -> None:
    server, run_id = site
    with guarded(browser) as (page, _guard):
        page.goto(f"{server.url}/runs/{run_id}#media")
        for key, tag in (("audio", "audio"), ("video", "video"), ("mp4", "video")):
            sel = f"{card(key)} {tag}"
            page.wait_for_selector(sel)
            page.locator(sel).scroll_into_view_if_needed()
            page.wait_for_function(
                "(s) => document.querySelector(s).readyState >= 1", arg=sel, timeout=20_000
            )
            duration = page.eval_on_selector(sel, "e => e.duration")
            assert duration == pytest.approx(1.0 if key == "audio" else 2.0, abs=0.3), key
        page.wait_for_selector(card("audio") + " canvas.waveform[data-drawn]")
        assert painted_pixels(page, card("audio")) > 500
        page.screenshot(path=str(tmp_path / "media-av.png"), full_page=True)


def test_html_is_sandboxed_and_its_scripts_stay_inert(browser: Any, site) -> None:
    server, run_id = site
    with guarded(browser) as (page, _guard):
        page.goto(f"{server.url}/runs/{run_id}#media")
        reveal(page, "page")
        frame_el = page.wait_for_selector(card("page") + " iframe")
        assert frame_el.get_attribute("sandbox") == ""
        frame = frame_el.content_frame()
        frame.wait_for_selector("#t")
        assert frame.inner_text("#t") == "logged page"  # the script did not run
        assert page.evaluate("document.body.dataset.pwned") is None
        src = frame_el.get_attribute("src")
        headers = page.request.get(server.url + src).headers
        assert headers["content-security-policy"].startswith("sandbox;")
        assert "scripts in this page do not run" in page.inner_text(card("page")).lower()


def test_plotly_and_three_draw(browser: Any, site, tmp_path: Path) -> None:
    server, run_id = site
    with guarded(browser) as (page, _guard):
        page.goto(f"{server.url}/runs/{run_id}#media")
        reveal(page, "fig")
        page.wait_for_selector(card("fig") + " .plotly-box[data-drawn]", timeout=30_000)
        assert page.locator(card("fig") + " .main-svg .scatterlayer path").count() >= 1
        assert screenshot_ink(page, card("fig") + " .plotly-box", (255, 255, 255)) > 500
        reveal(page, "cloud")
        page.wait_for_selector(card("cloud") + " .three-box[data-drawn]", timeout=30_000)
        assert page.inner_text(card("cloud") + " .three-note").startswith("3,000 points · 1 boxes")
        assert screenshot_ink(page, card("cloud") + " .three-box canvas", (0x11, 0x14, 0x18)) > 300
        page.screenshot(path=str(tmp_path / "media-3d.png"), full_page=True)


def test_gallery_and_preset_charts(browser: Any, site) -> None:
    server, run_id = site
    with guarded(browser) as (page, _guard):
        page.goto(f"{server.url}/runs/{run_id}#media")
        gallery = card("gallery")
        reveal(page, "gallery")
        page.wait_for_selector(gallery + " figure img")
        assert page.locator(gallery + " figure").count() == 3
        assert "3 items" in page.inner_text(gallery + " .step-label")
        page.locator(gallery + " input[type=range]").fill("0")
        page.wait_for_function("(s) => document.querySelector(s).dataset.step === '0'", arg=gallery)
        for key in ("roc", "line", "bar", "cm", "hist"):
            reveal(page, key)
            page.wait_for_selector(card(key) + "[data-drawn]")
            assert painted_pixels(page, card(key)) > 300, key
        # hover: uPlot's legend shows the values under the cursor; the matrix names the cell
        reveal(page, "roc")
        box = page.locator(card("roc") + " .u-over").bounding_box()
        page.mouse.move(box["x"] + 5, box["y"] + 5)
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=5)
        page.wait_for_function(
            "(s) => /\\d/.test(document.querySelector(s).textContent)",
            arg=card("roc") + " .u-legend",
        )
        reveal(page, "cm")
        cm = page.locator(card("cm") + " canvas").bounding_box()
        page.mouse.move(cm["x"] + 80, cm["y"] + 20)
        assert "actual" in page.inner_text(card("cm") + " .preset-tip")
