"""UI benchmarks against DESIGN.md §8. Run: python benchmarks/bench_ui.py [--quick] [--keep DIR]

1. chart API, one run, 1M points -> 1000 buckets            (budget 50 ms)
2. chart API, 100 runs x 100k points overlaid               (budget 500 ms)
3. runs table, 10,000 runs, first page                      (budget 300 ms)
4. browser: navigation -> first chart painted (chromium)   (no budget; reported)

API timings go through Flask's test client, so they include routing, JSON encoding and the
ETag check; "cold" is the first request after the app starts (files read from the page cache),
"warm" the median of repeated requests. Stores are built with the real logging client; the 100
and 10,000 run stores copy one logged run directory (new id, name and config in its run.json)
and rebuild the index with ``reindex``, because logging 10,000 runs one by one takes half an hour.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import localtrack  # noqa: E402
from localtrack.store.recovery import reindex  # noqa: E402
from localtrack.store.root import StoreRoot  # noqa: E402
from webui import create_app  # noqa: E402

QUIET = localtrack.Settings(capture_git=False, system_metrics=False)


def log_one(root: Path, project: str, name: str, steps: int, keys: int = 1) -> str:
    run = localtrack.init(
        project=project, name=name, dir=str(root), config={"lr": 1e-3}, settings=QUIET
    )
    rng = random.Random(0)
    for step in range(steps):
        base = math.exp(-step / (steps / 5)) + rng.gauss(0, 0.02)
        run.log(
            {f"train/m{j}": base * (j + 1) for j in range(keys)}
            if keys > 1
            else {"train/loss": base},
            step=step,
        )
    run.finish()
    return str(run.id)


def clone_runs(root: Path, template: str, count: int, project: str) -> list[str]:
    """Copy one run directory `count` times with new ids, names and configs; rebuild the index."""
    runs = root / "runs"
    ids = []
    rng = random.Random(1)
    for i in range(count):
        run_id = f"clone{i:06d}"
        shutil.copytree(runs / template, runs / run_id)
        meta_path = runs / run_id / "run.json"
        meta = json.loads(meta_path.read_text())
        meta.update(id=run_id, name=f"run-{i}", project=project, created_at=meta["created_at"] + i)
        meta["config"] = {
            "lr": 10 ** rng.uniform(-5, -1),
            "layers": rng.randint(2, 48),
            "opt": rng.choice(["adam", "sgd"]),
        }
        meta["summary_overrides"] = {"val/acc": rng.random()}
        meta_path.write_text(json.dumps(meta))
        ids.append(run_id)
    shutil.rmtree(runs / template)
    _, problems = reindex(StoreRoot(root))
    assert not problems, problems[:3]
    return ids


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """(first call, median of the next `repeat`) in milliseconds."""
    t0 = time.perf_counter()
    fn()
    cold = (time.perf_counter() - t0) * 1000
    warm = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        warm.append((time.perf_counter() - t0) * 1000)
    return cold, statistics.median(warm)


def get(client: Any, url: str) -> Callable[[], Any]:
    def call() -> Any:
        response = client.get(url)
        assert response.status_code == 200, response.data[:300]
        return response

    return call


def bench_series_1m(base: Path, points: int) -> tuple[dict[str, Any], Path, str]:
    root = base / "one"
    t0 = time.perf_counter()
    run_id = log_one(root, "bench", "million", points)
    built = time.perf_counter() - t0
    app = create_app(root, watch=False)
    client = app.test_client()
    url = f"/api/v1/series?runs={run_id}&key=train/loss&buckets=1000"
    cold, warm = timed(get(client, url), 10)
    body = client.get(url).json
    zoom = f"/api/v1/series?runs={run_id}&key=train/loss&buckets=1000&x0={points // 3}&x1={points // 3 + points // 20}"
    zcold, zwarm = timed(get(client, zoom), 10)
    return (
        {
            "case": f"series API, 1 run x {points:,} points -> 1000 buckets",
            "cold_ms": cold,
            "warm_ms": warm,
            "budget_ms": 50,
            "note": f"{body['label']}; zoomed 5% range: {zcold:.0f} / {zwarm:.1f} ms; store built in {built:.1f} s",
        },
        root,
        run_id,
    )


def bench_overlay(base: Path, runs: int, points: int) -> tuple[dict[str, Any], Path, list[str]]:
    root = base / "overlay"
    template = log_one(root, "overlay", "template", points)
    ids = clone_runs(root, template, runs, "overlay")
    app = create_app(root, watch=False)
    client = app.test_client()
    url = f"/api/v1/series?runs={','.join(ids)}&key=train/loss&buckets=1000"
    cold, warm = timed(get(client, url), 5)
    return (
        {
            "case": f"series API, {runs} runs x {points:,} points overlaid",
            "cold_ms": cold,
            "warm_ms": warm,
            "budget_ms": 500,
            "note": f"{len(client.get(url).data) / 1e6:.1f} MB of JSON",
        },
        root,
        ids,
    )


def bench_table(base: Path, runs: int) -> list[dict[str, Any]]:
    root = base / "table"
    template = log_one(root, "big", "template", 10)
    clone_runs(root, template, runs, "big")
    out = []
    cases = [
        ("newest first", "/api/v1/projects/big/runs"),
        ("sorted by summary.val/acc", "/api/v1/projects/big/runs?sort=-summary.val/acc"),
        (
            "filter lr < 1e-3 and val/acc > 0.5",
            "/api/v1/projects/big/runs?where=lr%20%3C%201e-3%20and%20val/acc%20%3E%200.5",
        ),
    ]
    for label, url in cases:
        app = create_app(root, watch=False)
        cold, warm = timed(get(app.test_client(), url), 10)
        out.append(
            {
                "case": f"runs table, {runs:,} runs, first page, {label}",
                "cold_ms": cold,
                "warm_ms": warm,
                "budget_ms": 300,
                "note": "",
            }
        )
    return out


def bench_browser(one: tuple[Path, str], overlay: tuple[Path, list[str]]) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(REPO))
    from tests.webui_fixtures import CHROMIUM, CHROMIUM_ARGS, guard_page, live_server

    out = []
    pages = [
        ("run page, 1M-point chart", one[0], f"/runs/{one[1]}"),
        (
            f"compare page, {len(overlay[1])} runs overlaid",
            overlay[0],
            f"/projects/overlay/compare?runs={','.join(overlay[1])}",
        ),
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        for label, root, path in pages:
            with live_server(root) as server:
                times = []
                for _ in range(3):
                    page = browser.new_page(viewport={"width": 1400, "height": 900})
                    guard = guard_page(page)
                    page.goto(server.url + path)
                    page.locator('.chart-card[data-key="train/loss"]').scroll_into_view_if_needed()
                    mark = "lt:painted:train/loss"
                    page.wait_for_function(
                        f"() => performance.getEntriesByName({mark!r}).length > 0", timeout=60_000
                    )
                    times.append(
                        page.evaluate(f"() => performance.getEntriesByName({mark!r})[0].startTime")
                    )
                    guard.check()
                    page.close()
            out.append(
                {
                    "case": f"browser: navigation -> painted chart, {label}",
                    "cold_ms": times[0],
                    "warm_ms": statistics.median(times[1:]),
                    "budget_ms": None,
                    "note": "performance.mark when uPlot has drawn; warm = median of 2 reloads",
                }
            )
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a tenth of the sizes, for a smoke test"
    )
    parser.add_argument("--keep", help="build the stores here and keep them")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    base = Path(args.keep or tempfile.mkdtemp(prefix="lt-bench-ui-"))
    base.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        row, one_root, one_id = bench_series_1m(base, 1_000_000 // scale)
        rows.append(row)
        row, ov_root, ov_ids = bench_overlay(base, 100, 100_000 // scale)
        rows.append(row)
        rows.extend(bench_table(base, 10_000 // scale))
        if not args.no_browser:
            rows.extend(bench_browser((one_root, one_id), (ov_root, ov_ids)))
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(
        f"\nlocaltrack UI benchmarks — {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}\n"
    )
    print("| case | cold ms | warm ms | budget ms | notes |\n|---|---:|---:|---:|---|")
    for r in rows:
        budget = "—" if r["budget_ms"] is None else r["budget_ms"]
        print(f"| {r['case']} | {r['cold_ms']:.1f} | {r['warm_ms']:.1f} | {budget} | {r['note']} |")


if __name__ == "__main__":
    main()
