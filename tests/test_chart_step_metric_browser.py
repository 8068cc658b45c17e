"""define_metric(step_metric=...) in the browser: a chart of a matching key uses that x axis by
default, and the X axis control switches it back to step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import localtrack

from .webui_fixtures import LiveServer, guarded, live_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    root: Path = tmp_path_factory.mktemp("step-metric-browser") / "store"
    run = localtrack.init(
        project="axes",
        dir=root,
        settings=localtrack.Settings(console=False, system_metrics=False),
    )
    run.define_metric("val/*", step_metric="epoch")
    for step in range(40):
        run.log({"train/loss": 1.0 / (step + 1)})
        if step % 10 == 9:
            run.log({"epoch": step // 10, "val/acc": 0.5 + step / 100}, commit=False)
    run.finish()
    with live_server(root) as server:
        yield server, run.id


def _legend(page: Any, key: str) -> str:
    return str(page.locator(f'.chart-card[data-key="{key}"] .chart-legend').inner_text())


def test_a_step_metric_is_the_default_x_axis_and_can_be_switched_off(
    browser: Any, site: tuple[LiveServer, str]
) -> None:
    server, run_id = site
    with guarded(browser) as (page, _guard):
        page.goto(f"{server.url}/runs/{run_id}")
        page.wait_for_selector('.chart-card[data-key="val/acc"]')
        page.locator('.chart-card[data-key="val/acc"]').scroll_into_view_if_needed()
        page.wait_for_function(
            "() => { const l = document.querySelector('.chart-card[data-key=\"val/acc\"] .chart-legend');"
            " return l && l.textContent.includes('last epoch'); }"
        )
        assert "last step" in _legend(page, "train/loss")  # no step metric: the step
        page.select_option("#chart-x", "step")
        page.wait_for_function(
            "() => { const l = document.querySelector('.chart-card[data-key=\"val/acc\"] .chart-legend');"
            " return l && l.textContent.includes('last step'); }"
        )
        assert "last epoch" not in _legend(page, "val/acc")
