"""Charts in a real browser (issue 15, DESIGN.md §8). Run: python benchmarks/bench_browser.py

Headless Debian chromium under Playwright, a fresh browser context (so a cold HTTP cache) for
every load, median of 3 loads:

1. one run's first chart painted: ``/runs/<id>`` of a store of 20 DISTINCT runs × 5 metrics ×
   20,000 steps (each run its own random curves: decay, noise, spikes — not copies), from
   navigation start to the ``lt:painted:<key>`` performance mark (goal ≤ 300 ms);
2. the 20-run overlay: ``/projects/<p>/compare`` of those 20 runs, navigation → every chart of
   the first screen painted, and the bytes transferred (compressed, headers included) for the
   whole load (goal ≤ 500 ms and ≤ 300 KB);
3. a workspace of 50 line panels over 100 runs scrolled top to bottom and every panel drawn:
   the longest main-thread task (PerformanceObserver ``longtask`` entries, which chromium reports
   for tasks > 50 ms; wall time) while loading and while scrolling (goal: never > 100 ms), the
   CPU time of the longest task from a chromium trace (what the task cost, without the time a
   loaded machine gave the CPU to other processes); and, as its own row, navigation → the
   workspace's first panel painted (goal ≤ 300 ms).

The timed loads run without a tracer (a chromium trace costs the browser CPU of its own and
moved the times it measured); one more load per case runs under a chromium trace, which gives
the CPU time the page's main thread spent from navigation to the chart measured: on a shared
machine wall times move 2-3x with the load of the moment, CPU times far less, so they compare
code across runs. Each server is first warmed by one load of a page that is not measured (a run
page of another run: the first request after a server start pays for imports and the first
reads of its code paths). Then each measured page is loaded once on its own and reported as its
own row, "first load since the server started": the server computes that page's charts. The
timed loads follow; they find the server's reply cache holding those charts (as any page opened
again does: a reload, another tab, another user, while its runs did not change), and the
browser's cache cold (a fresh context per load).

No request is intercepted (interception adds latency to every request); instead every request
is recorded and the run fails if one left loopback. The floor: a fresh context opening the
server's /healthz. Prints a Markdown table and the load average, since on a shared machine the
numbers move with it.
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
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import localtrack  # noqa: E402

QUIET = localtrack.Settings(capture_git=False, system_metrics=False)
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
METRICS = ["train/loss", "train/acc", "val/loss", "val/acc", "train/lr"]

LONGTASKS = """
window.__lt_long = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__lt_long.push([e.startTime, e.duration]);
}).observe({ type: "longtask", buffered: true });
"""


TRACE = ["devtools.timeline", "disabled-by-default-devtools.timeline", "blink.user_timing"]


def longest_cpu(trace: bytes) -> float:
    """The most CPU time (thread time, ms) the renderer's main thread spent in one task: on a
    loaded machine a task's wall time (what longtask entries report) includes the time the OS
    gave the CPU to others."""
    events = json.loads(trace)["traceEvents"]
    main = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain"
    }
    return max(
        (
            e.get("tdur", 0) / 1000
            for e in events
            if e.get("name") == "RunTask" and e.get("ph") == "X" and (e["pid"], e["tid"]) in main
        ),
        default=0.0,
    )


def page_thread(events: list[dict[str, Any]]) -> tuple[Any, Any, float] | None:
    """(pid, tid, navigation start) of the renderer main thread that loaded a page from the
    server (the trace also holds the browser's own UI renderers)."""
    for e in events:
        url = (e.get("args", {}).get("data") or {}).get("documentLoaderURL", "")
        if e.get("name") == "navigationStart" and str(url).startswith("http://127.0.0.1"):
            return e["pid"], e["tid"], e["ts"]
    return None


def cpu_until(trace: bytes, ms: float) -> float:
    """The CPU time (ms) the page's main thread spent from navigation start until `ms` later
    (a chart's paint mark): what the page cost its main thread on the way to that chart,
    without the time a loaded machine gave the CPU to other processes."""
    events = json.loads(trace)["traceEvents"]
    found = page_thread(events)
    if found is None:
        return float("nan")
    pid, tid, start = found
    end = start + ms * 1000
    return sum(
        e.get("tdur", 0) / 1000
        for e in events
        if e.get("name") == "RunTask"
        and e.get("ph") == "X"
        and (e["pid"], e["tid"]) == (pid, tid)
        and start <= e["ts"] <= end
    )


def log_distinct(root: Path, project: str, runs: int, steps: int) -> list[str]:
    """`runs` runs, each with its own random curves for the five METRICS."""
    ids = []
    for r in range(runs):
        rng = random.Random(1000 + r)
        lr = 10 ** rng.uniform(-4, -1)
        tau = steps * rng.uniform(0.05, 0.4)
        noise = rng.uniform(0.005, 0.05)
        floor = rng.uniform(0.01, 0.3)
        run = localtrack.init(
            project=project,
            name=f"run-{r:02d}",
            dir=str(root),
            config={"lr": lr, "tau": tau, "opt": rng.choice(["adam", "sgd"])},
            settings=QUIET,
        )
        gauss, log = rng.gauss, run.log
        for s in range(steps):
            d = math.exp(-s / tau)
            spike = 0.5 if rng.random() < 0.0005 else 0.0
            log(
                {
                    "train/loss": floor + d + gauss(0, noise) + spike,
                    "train/acc": 1 - floor - 0.8 * d + gauss(0, noise),
                    "val/loss": floor * 1.1 + d + gauss(0, noise * 2),
                    "val/acc": 1 - floor * 1.1 - 0.8 * d + gauss(0, noise * 2),
                    "train/lr": lr * (0.5 + 0.5 * math.cos(math.pi * s / steps)),
                },
                step=s,
            )
        run.finish()
        ids.append(str(run.id))
    return ids


def log_wide(root: Path, project: str, runs: int, keys: int, steps: int) -> list[str]:
    """`runs` runs × `keys` metrics (train/ and val/ halves), each run its own curves."""
    names = [f"{'train' if k % 2 == 0 else 'val'}/m{k:02d}" for k in range(keys)]
    ids = []
    for r in range(runs):
        rng = random.Random(5000 + r)
        rates = [rng.uniform(0.5, 5) for _ in names]
        run = localtrack.init(
            project=project,
            name=f"w-{r:03d}",
            dir=str(root),
            config={"seed": r, "width": rng.choice([64, 128, 256])},
            settings=QUIET,
        )
        for s in range(steps):
            x = s / steps
            run.log(
                {
                    n: math.exp(-x * k) + rng.gauss(0, 0.02)
                    for n, k in zip(names, rates, strict=True)
                },
                step=s,
            )
        run.finish()
        ids.append(str(run.id))
    return ids


class Recorder:
    """Every request a page made; the ones that left loopback."""

    def __init__(self, page: Any) -> None:
        self.external: list[str] = []
        page.on("request", self.seen)

    def seen(self, request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.scheme not in ("data", "blob") and (parts.hostname or "") not in LOOPBACK:
            self.external.append(request.url)


def transfer(page: Any) -> dict[str, float]:
    """Bytes on the wire (compressed bodies + headers) by the navigation and every resource."""
    return page.evaluate(
        """() => {
          const nav = performance.getEntriesByType('navigation')[0];
          let total = nav ? nav.transferSize : 0, charts = 0, n = 0;
          for (const r of performance.getEntriesByType('resource')) {
            total += r.transferSize; n++;
            if (/\\/api\\/v1\\/(charts|series)/.test(r.name)) charts += r.transferSize;
          }
          return { total, charts, requests: n + 1 };
        }"""
    )


def marks(page: Any) -> dict[str, float]:
    return page.evaluate(
        """() => Object.fromEntries(performance.getEntriesByType('mark')
              .filter((m) => m.name.startsWith('lt:painted:'))
              .map((m) => [m.name.slice(11), m.startTime]))"""
    )


def load(
    browser: Any, url: str, want: int, timeout_ms: int = 120_000, trace: bool = False
) -> tuple[dict[str, float], dict[str, float], Any, Any, Recorder]:
    """Open `url` in a fresh context; wait until `want` charts have painted. With `trace`, a
    chromium trace runs from before the navigation (``browser.stop_tracing()`` ends it)."""
    settle()
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(LONGTASKS)
    page = context.new_page()
    rec = Recorder(page)
    if trace:
        browser.start_tracing(page=page, categories=TRACE)
    page.goto(url)
    page.wait_for_function(
        f"() => performance.getEntriesByType('mark').filter((m) => m.name.startsWith('lt:painted:')).length >= {want}",
        timeout=timeout_ms,
    )
    page.wait_for_timeout(300)  # let trailing resource entries land
    return marks(page), transfer(page), context, page, rec


def settle(limit_s: float = 30.0) -> None:
    """Wait until this process (the server runs in it, on threads) has gone idle: a closed
    page's later chart requests are still being answered when its context closes, and the next
    load must not queue behind them (on a real server a closed tab's requests finish too, but
    not on the timed path of the next user)."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        before = time.process_time()
        time.sleep(0.1)
        if time.process_time() - before < 0.01:
            return


def traced_cpu(browser: Any, url: str, want: int = 1) -> float:
    """One more load of `url` under a chromium trace: the page's main-thread CPU time from
    navigation to its `want`-th chart painted (the timed loads run untraced)."""
    got, _, ctx, _page, _ = load(browser, url, want, trace=True)
    cpu = cpu_until(browser.stop_tracing(), sorted(got.values())[min(want, len(got)) - 1])
    ctx.close()
    return cpu


def first_visit(browser: Any, url: str, want: int = 1) -> float:
    """Navigation → the `want`-th chart painted on the first load of `url` since the server
    started: the server computes its charts (nothing of them cached yet). Reported as its own
    row; the timed loads that follow find the server's reply cache filled, as any page opened
    again (another tab, another user) does, with the browser's cache still cold."""
    got, _, ctx, page, _ = load(browser, url, want)
    if want > 1:
        page.wait_for_timeout(300)
        got = marks(page)
    ctx.close()
    times = sorted(got.values())
    return times[min(want, len(times)) - 1]


def cold_row(case: str, ms: float) -> dict[str, Any]:
    return {
        "case": f"{case}: first load since the server started (charts computed, not cached)",
        "ms": ms,
        "all": [ms],
        "goal": "—",
        "note": "one load; the rows above and below are the median of the loads after it",
    }


def wide_run(server_url: str) -> str:
    """One run id of the workspace's project, from the runs API (the kept store saves none)."""
    with urllib.request.urlopen(f"{server_url}/api/v1/projects/wide/runs?per_page=1") as reply:
        return json.load(reply)["rows"][0]["id"]


def warm(browser: Any, server_url: str, run_id: str) -> None:
    """Warm a freshly started server with one run page that is not measured (imports, first
    reads of its code paths); the browser context is thrown away, so no cache carries over."""
    _, _, ctx, _, _ = load(browser, f"{server_url}/runs/{run_id}", 1)
    ctx.close()


def visible_charts(page: Any) -> int:
    return int(
        page.evaluate(
            """() => [...document.querySelectorAll('.chart-card')].filter((c) => {
                 const r = c.getBoundingClientRect();
                 return r.bottom > 0 && r.top < innerHeight && r.height > 0; }).length"""
        )
    )


def floor(browser: Any, url: str, repeat: int) -> dict[str, Any]:
    """The floor: a fresh context opening the server's /healthz (no script, no store read),
    navigation start to its load event: what any page costs this browser, server and machine."""
    times = []
    for _ in range(repeat):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto(f"{url}/healthz")
        times.append(
            page.evaluate("() => performance.getEntriesByType('navigation')[0].loadEventEnd")
        )
        context.close()
    return {
        "case": "floor: a fresh context opening /healthz (navigation → load event)",
        "ms": statistics.median(times),
        "all": times,
        "goal": "—",
        "note": "no script, no store read",
    }


def bench(base: Path, steps: int, wide_steps: int, repeat: int) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    from tests.webui_fixtures import CHROMIUM, CHROMIUM_ARGS, live_server

    t0 = time.perf_counter()
    distinct, wide, saved = base / "distinct", base / "wide", base / "ids.json"
    if saved.is_file():  # a kept store from an earlier run (--keep)
        ids = json.loads(saved.read_text())
    else:
        ids = log_distinct(distinct, "overlay", 20, steps)
        log_wide(wide, "wide", 100, 50, wide_steps)
        saved.write_text(json.dumps(ids))
    print(f"stores ready in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    rows: list[dict[str, Any]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        with live_server(distinct, poll_ms=1000) as server:  # the UI's default polling
            rows.append(floor(browser, server.url, repeat))
            warm(browser, server.url, ids[-1])
            run_url = f"{server.url}/runs/{ids[0]}"
            cold = [cold_row("one run's first chart", first_visit(browser, run_url))]
            first, first_kb = [], []
            for _ in range(repeat):
                got, sent, ctx, page, rec = load(browser, run_url, 1)
                first.append(min(got.values()))
                first_kb.append(sent["total"] / 1024)
                assert not rec.external, rec.external
                ctx.close()
            first_cpu = [traced_cpu(browser, run_url)]
            rows.append(
                {
                    "case": f"one run's first chart painted (run page, 5 metrics × {steps:,} steps)",
                    "ms": statistics.median(first),
                    "all": first,
                    "goal": "≤ 300 ms",
                    "note": f"{statistics.median(first_kb):.0f} KB transferred for the page; "
                    f"main-thread CPU to it {first_cpu[0]:.0f} ms (one more load, traced)",
                }
            )
            every, firsts, kb, chart_kb, reqs = [], [], [], [], []
            url = f"{server.url}/projects/overlay/compare?runs={','.join(ids)}"
            cold.append(cold_row("20-run overlay, 3 charts", first_visit(browser, url, 3)))
            for _ in range(repeat):
                got, sent, ctx, page, rec = load(browser, url, 1)
                want = max(1, visible_charts(page))  # the first screen's charts
                page.wait_for_function(
                    f"() => performance.getEntriesByType('mark').filter((m) => m.name.startsWith('lt:painted:')).length >= {want}",
                    timeout=120_000,
                )
                page.wait_for_timeout(300)
                got, sent = marks(page), transfer(page)
                times = sorted(got.values())
                firsts.append(times[0])
                every.append(times[want - 1])
                kb.append(sent["total"] / 1024)
                chart_kb.append(sent["charts"] / 1024)
                reqs.append(sent["requests"])
                assert not rec.external, rec.external
                ctx.close()
            every_cpu = [traced_cpu(browser, url, want)]
            rows.append(
                {
                    "case": f"20-run overlay (compare page, {want} charts on the first screen)",
                    "ms": statistics.median(every),
                    "all": every,
                    "goal": "≤ 500 ms",
                    "note": f"first chart {statistics.median(firsts):.0f} ms; main-thread CPU "
                    f"to the last {every_cpu[0]:.0f} ms (one more load, traced)",
                }
            )
            rows.append(
                {
                    "case": "20-run overlay, bytes transferred (whole page load)",
                    "ms": None,
                    "kb": statistics.median(kb),
                    "all": kb,
                    "goal": "≤ 300 KB",
                    "note": f"chart data {statistics.median(chart_kb):.0f} KB; "
                    f"{statistics.median(reqs):.0f} requests",
                }
            )
        with live_server(wide, poll_ms=1000) as server:
            worst_load, worst_scroll, first_ws, painted, cpu = [], [], [], [], []
            url = f"{server.url}/projects/wide/workspace"
            warm(browser, server.url, wide_run(server.url))
            cold.append(cold_row("workspace's first panel", first_visit(browser, url)))
            for _ in range(repeat):
                got, _, ctx, page, rec = load(browser, url, 1)
                first_ws.append(min(got.values()))
                page.wait_for_timeout(1500)
                browser.start_tracing(page=page, categories=TRACE)
                before = page.evaluate("() => performance.now()")
                height = page.evaluate("() => document.documentElement.scrollHeight")
                y = 0
                while y < height:
                    y += 450
                    page.mouse.wheel(0, 450)
                    page.wait_for_timeout(120)
                    height = page.evaluate("() => document.documentElement.scrollHeight")
                # then until every panel scrolled past has painted: its drawing counts too
                page.wait_for_function(
                    "() => performance.getEntriesByType('mark').filter((m) => m.name.startsWith('lt:painted:')).length >= 50",
                    timeout=180_000,
                )
                page.wait_for_timeout(500)
                cpu.append(longest_cpu(browser.stop_tracing()))
                long = page.evaluate("() => window.__lt_long")
                worst_load.append(max([d for s, d in long if s < before] or [0.0]))
                worst_scroll.append(max([d for s, d in long if s >= before] or [0.0]))
                painted.append(len(marks(page)))
                assert not rec.external, rec.external
                ctx.close()
            ws_cpu = [traced_cpu(browser, url)]
            rows.append(
                {
                    "case": "workspace, 50 line panels × 100 runs: first panel painted",
                    "ms": statistics.median(first_ws),
                    "all": first_ws,
                    "goal": "≤ 300 ms",
                    "note": f"main-thread CPU to it {ws_cpu[0]:.0f} ms (one more load, traced)",
                }
            )
            rows.append(
                {
                    "case": "workspace, 50 line panels × 100 runs: longest main-thread task while "
                    "scrolling to the bottom and drawing every panel",
                    "ms": statistics.median(worst_scroll),
                    "all": worst_scroll,
                    "goal": "≤ 100 ms",
                    "note": f"max over the {repeat} loads {max(worst_scroll):.0f} ms; the main "
                    f"thread's CPU time in its longest task {statistics.median(cpu):.0f} ms (trace); "
                    f"while loading {statistics.median(worst_load):.0f} ms; {min(painted)} panels "
                    "drawn (0 ms = no task over 50 ms)",
                }
            )
        browser.close()
    return rows + cold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--wide-steps", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", help="build the stores here and keep them (reused next time)")
    args = parser.parse_args()
    base = Path(args.keep or tempfile.mkdtemp(prefix="lt-bench-browser-"))
    base.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    try:
        rows = bench(base, args.steps, args.wide_steps, args.repeat)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    load_after = os.getloadavg()
    print(
        f"\nlocaltrack browser benchmarks — {time.strftime('%Y-%m-%d %H:%M')}, "
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{platform.machine()}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after\n"
    )
    print("| case | median | goal | the 3 loads | notes |\n|---|---:|---|---|---|")
    for r in rows:
        if r["ms"] is None:
            value, each = f"{r['kb']:.0f} KB", ", ".join(f"{v:.0f}" for v in r["all"])
        else:
            value, each = f"{r['ms']:.0f} ms", ", ".join(f"{v:.0f}" for v in r["all"])
        print(f"| {r['case']} | {value} | {r['goal']} | {each} | {r['note']} |")


if __name__ == "__main__":
    main()
