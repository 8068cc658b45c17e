"""Shared helpers for the web UI tests: real runs, a real waitress server, a guarded browser.

Imported by ``tests/test_webui_*.py`` (``from .webui_fixtures import ...``). Not a conftest: the
lead owns that file.
"""

from __future__ import annotations

import math
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .conftest import PYTHON, REPO, child_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def log_run(
    root: Path,
    project: str = "proj",
    name: str = "run",
    config: Mapping[str, Any] | None = None,
    tags: Sequence[str] = (),
    group: str | None = None,
    steps: int = 50,
    metrics: Callable[[int], Mapping[str, float]] | None = None,
    exit_code: int = 0,
    notes: str | None = None,
) -> str:
    """Log one finished run with the real client; returns its id."""
    import localtrack

    run = localtrack.init(
        project=project,
        name=name,
        config=dict(config or {}),
        tags=list(tags),
        group=group,
        notes=notes,
        dir=str(root),
    )
    fn = metrics or (lambda s: {"train/loss": math.exp(-s / 20), "val/acc": s / max(1, steps)})
    for step in range(steps):
        run.log(dict(fn(step)), step=step)
    run.finish(exit_code=exit_code)
    return str(run.id)


def small_store(root: Path) -> dict[str, str]:
    """Four runs in project "mnist" (one named like an XSS probe) and one in "other"."""
    ids = {}
    specs = [
        ("alpha", 1e-4, "adam", ["baseline"], "g1", 0),
        ("beta", 1e-3, "sgd", ["baseline", "v2"], "g1", 0),
        ("gamma", 1e-2, "adam", ["v2"], "g2", 1),
        ("<script>alert(1)</script>", 3e-3, "sgd", ["<b>tag</b>"], "g2", 0),
    ]
    for i, (name, lr, opt, tags, group, code) in enumerate(specs):
        ids[name] = log_run(
            root,
            "mnist",
            name,
            {"lr": lr, "optimizer": {"name": opt, "beta": 0.9}, "seed": i},
            tags,
            group,
            steps=60,
            metrics=lambda s, i=i: {
                "train/loss": math.exp(-s / (10 + 5 * i)),
                "val/acc": 1 - math.exp(-s / (15 + 5 * i)),
                "epoch": s // 10,
            },
            exit_code=code,
            notes="<img src=x onerror=alert(2)>",
        )
    ids["other"] = log_run(root, "other", "solo", {"lr": 0.1}, steps=5)
    return ids


@dataclass
class LiveServer:
    """The UI app served by a real waitress server on 127.0.0.1 in a thread."""

    root: Path
    poll_ms: int = 400
    app: Any = None
    server: Any = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.effective_port}"

    def start(self) -> LiveServer:
        from webui import create_app
        from webui.standalone import make_server

        self.app = create_app(self.root, poll_interval_ms=self.poll_ms, rescan_interval=1.0)
        self.server = make_server(self.app, "127.0.0.1", 0)
        self.thread = threading.Thread(target=self._run, name="webui-test-server", daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        # waitress's loop raises once its sockets are closed under it by stop(); that is the end.
        with suppress(OSError, ValueError):
            self.server.run()

    def stop(self) -> None:
        self.server.close()
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.app.extensions["localtrack"].close()


@contextmanager
def live_server(root: Path, poll_ms: int = 400) -> Iterator[LiveServer]:
    server = LiveServer(root, poll_ms).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Guard:
    """What a guarded page saw: requests that left loopback, page errors, CSP complaints."""

    external: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def check(self) -> None:
        assert self.external == [], f"requests left loopback: {self.external}"
        assert self.errors == [], f"page errors: {self.errors}"


def guard_page(page: Any) -> Guard:
    """Abort and record any request to a non-loopback host; record page errors and CSP reports."""
    guard = Guard()

    def route(r: Any) -> None:
        url = r.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or (parts.hostname or "") in LOOPBACK_HOSTS:
            r.continue_()
        else:
            guard.external.append(url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda exc: guard.errors.append(str(exc)))

    def console(msg: Any) -> None:
        if msg.type == "error" and "Content Security Policy" in msg.text:
            guard.errors.append(msg.text)

    page.on("console", console)
    return guard


def painted_pixels(page: Any, selector: str) -> int:
    """How many non-transparent pixels the canvases under `selector` hold (proof of painting)."""
    return int(
        page.evaluate(
            """(sel) => {
              let n = 0;
              for (const c of document.querySelectorAll(sel + ' canvas')) {
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
              }
              return n;
            }""",
            selector,
        )
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium under Playwright's sync API (never ``playwright install``)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} is missing: `apt-get install -y chromium` (scripts/test.sh does it)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@contextmanager
def guarded(browser: Any, width: int = 1400, height: int = 900) -> Iterator[tuple[Any, Guard]]:
    """A fresh page with the loopback guard; checks the guard when the block ends."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    guard = guard_page(page)
    try:
        yield page, guard
        guard.check()
    finally:
        context.close()


def start_logger(
    root: Path, project: str, name: str, steps: int, delay: float, gate: Path | None = None
) -> subprocess.Popen[bytes]:
    """A real process that logs `steps` steps `delay` seconds apart, then finishes.

    With `gate`, it stops after the first half of its steps (running, heartbeat going) until the
    test creates that file: a test then sees the run live for as long as it needs, however slow
    the machine, and no longer than it needs. It exits with 3 if the file never comes."""
    code = (
        "import os, sys, time, localtrack\n"
        f"run = localtrack.init(project={project!r}, name={name!r}, dir=sys.argv[1], config={{'lr': 0.01}})\n"
        f"gate = {str(gate or '')!r}\n"
        f"for step in range({steps}):\n"
        f"    if gate and step == {steps // 2}:\n"
        "        deadline = time.monotonic() + 300\n"
        "        while not os.path.exists(gate):\n"
        "            if time.monotonic() > deadline:\n"
        "                sys.exit(3)\n"
        "            time.sleep(0.05)\n"
        "    run.log({'train/loss': 1.0 / (step + 1), 'live/step': step}, step=step)\n"
        f"    time.sleep({delay})\n"
        "run.finish()\n"
    )
    return subprocess.Popen([PYTHON, "-c", code, str(root)], env=child_env(), cwd=str(REPO))


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0, interval: float = 0.05) -> bool:
    """Poll `predicate` until it is true or `timeout` passes (for other processes' effects)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.fixture(scope="module")
def ui_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A store with ``small_store``'s runs, shared by a module's tests (they only read it)."""
    root = tmp_path_factory.mktemp("store")
    return root, small_store(root)
