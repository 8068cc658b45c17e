"""``init(mode="online")``: log locally exactly as offline, and push to a server in the background.

A daemon thread syncs the run every `interval` seconds (its sealed shards, run.json, media and
files; the unsealed tail follows once the writer seals it). Nothing here ever blocks or fails
training: every error is logged once and retried at the next tick. When the run finishes, one last
push runs after the writer has sealed everything, bounded by `finish_timeout` seconds; whatever it
could not send is left for ``localtrack sync``, and a warning says so.

The run's ``finish()`` calls ``stop()`` (``Run.attach_background``) before the writer seals the
last shard, so ``stop()`` hands the final push to a non-daemon thread that waits for run.json to
leave "running" first; the interpreter waits for that thread at exit, at most the bound.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import LocaltrackError
from .client import SyncClient
from .config import Target, resolve_target
from .remote import RetryPolicy, connect

log = logging.getLogger(__name__)
DEFAULT_INTERVAL_S = 5.0
DEFAULT_FINISH_TIMEOUT_S = 30.0


class OnlinePusher:
    """Pushes one run to one server from a background thread."""

    def __init__(
        self,
        root: Any,
        run_id: str,
        target: Target,
        interval: float = DEFAULT_INTERVAL_S,
        finish_timeout: float = DEFAULT_FINISH_TIMEOUT_S,
    ) -> None:
        self.run_id = run_id
        self.root = root
        self._run_json = Path(root) / "runs" / run_id / "run.json"
        self.target = target
        self.interval = interval
        self.finish_timeout = finish_timeout
        remote = connect(
            target.url, target.api_key, timeout=10.0, retry=RetryPolicy(attempts=2, cap_s=2.0)
        )
        self.client = SyncClient.for_store(root, remote, workers=2)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._warned = False
        self.last_error: str | None = None
        self.done = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"localtrack-online-{run_id}", daemon=True
        )
        self._final: threading.Thread | None = None

    def start(self) -> OnlinePusher:
        self._thread.start()
        return self

    def push(self, deadline_s: float | None = None, wait_s: float = -1) -> bool:
        """One sync of the run now; True if it is fully on the server. Never raises. With
        `wait_s`, gives up after that long if an earlier push still waits for the server (a
        server that accepts but never answers must not hold up ``finish()`` past its bound)."""
        if not self._lock.acquire(timeout=wait_s):
            return self._failed("an earlier push is still waiting for the server to answer")
        try:
            self.client.remote.retry.deadline_s = deadline_s
            try:
                [result] = self.client.sync([self.run_id]).runs
            except LocaltrackError as exc:
                return self._failed(str(exc))
            except OSError as exc:
                return self._failed(f"{exc.strerror or exc}")
            if result.outcome == "failed":
                return self._failed(result.message)
            if self._warned:
                log.warning("run %s: pushing to %s works again", self.run_id, self.target.url)
                self._warned = False
            self.last_error = None
            return True
        finally:
            self._lock.release()

    def _failed(self, message: str) -> bool:
        self.last_error = message
        if not self._warned:
            self._warned = True
            log.warning(
                "run %s: cannot push to %s (%s); logging goes on locally, will retry",
                self.run_id,
                self.target.url,
                message,
            )
        return False

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.push()

    def stop(self) -> None:
        """Stop the periodic pushes; hand the last push to a thread that runs once the run has
        finished writing (called by ``Run.finish`` before it seals)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._final = threading.Thread(
            target=self._final_push, name=f"localtrack-online-final-{self.run_id}", daemon=False
        )
        self._final.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the final push ended; True if everything reached the server."""
        self.done.wait(timeout)
        return self.done.is_set() and self.last_error is None

    def _final_push(self) -> None:
        deadline = time.monotonic() + self.finish_timeout
        try:
            self._thread.join(timeout=self.finish_timeout)
            while time.monotonic() < deadline:
                try:
                    if json.loads(self._run_json.read_bytes()).get("state") != "running":
                        break
                except (OSError, ValueError):
                    pass
                time.sleep(0.05)
            left = max(0.5, deadline - time.monotonic())
            if not self.push(deadline_s=left, wait_s=left):
                log.warning(
                    "run %s: not everything reached %s within %.0f s (%s); "
                    "`localtrack sync %s` sends the rest",
                    self.run_id,
                    self.target.url,
                    self.finish_timeout,
                    self.last_error,
                    self.run_id,
                )
        finally:
            self.client.remote.transport.close()
            self.done.set()


def start_online(
    run: Any, settings: Any = None, interval: float | None = None
) -> OnlinePusher | None:
    """Start pushing `run` to the configured server; None (with a warning) when none is set.

    The server and key come from ``Settings(base_url=, api_key=)``, ``LOCALTRACK_BASE_URL`` /
    ``LOCALTRACK_API_KEY`` or ``localtrack login``.
    """
    try:
        target = resolve_target(None, settings)
    except LocaltrackError as exc:
        log.warning("mode='online' but %s; logging offline only", exc)
        return None
    root = run.dir.parent.parent
    pusher = OnlinePusher(root, run.id, target, interval or DEFAULT_INTERVAL_S)
    return pusher.start()
