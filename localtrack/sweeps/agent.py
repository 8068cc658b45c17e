"""The agent: claim a trial, run it (a function in this process, or the sweep's program as a
subprocess), watch it for early termination, record how it ended; repeat.

Any number of agents, on any number of machines sharing the store, may run one sweep; each is
also its own controller (controller.py). An agent stops after `count` trials, when the sweep has
nothing left, when it is paused/stopped/cancelled, or after `max_failures` trials in a row failed
(W&B's rule: a broken program must not burn the whole grid).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import LocaltrackError, SweepError, TrialStopped
from ..settings import resolve_dir, spec
from ..store.root import StoreRoot
from ..store.runmeta import stale_after_s
from .command import build_command
from .config import SweepConfig
from .controller import AgentInfo, Sweep
from .hyperband import MetricFollower, best_at_rungs, rung_values
from .runmark import mark_run_stopped
from .state import Attempt, SweepFiles

log = logging.getLogger(__name__)
POLL_S = 0.25
REJUDGE_S = 2.0
"""Between rungs, a trial whose best value improved is judged again at most this often."""
STOP_GRACE_S = 10.0
"""A subprocess trial still running 1 s after its stop request gets SIGTERM (lifecycle.py flushes
and ends its run); still running STOP_GRACE_S after that, its process group gets SIGKILL."""
DEFAULT_MAX_FAILURES = 3
PAUSE_POLL_MIN_S = 0.25
PAUSE_POLL_MAX_S = 10.0
"""A paused sweep's agents look at its control this often: from 0.25 s, ×1.5 each time."""


class Controller(Protocol):
    """What an agent asks: the sweep in its store (``Sweep``) or on a server (``RemoteSweep``)."""

    id: str
    config: SweepConfig
    files: SweepFiles  # local: the trial's claim, its stop marker

    def next_trial(self, agent: AgentInfo) -> Attempt | None: ...
    def control(self) -> str: ...
    def status(self) -> dict[str, Any]: ...
    def result_from_run(self, attempt: Attempt, state: str | None = None) -> dict[str, Any]: ...
    def record_result(self, key: str, result: dict[str, Any]) -> bool: ...
    def report_progress(
        self, key: str, rungs: dict[int, float], best: dict[int, float] | None = None
    ) -> str | None: ...
    def heartbeat(self, agent: AgentInfo) -> None: ...
    def leave(self, agent: AgentInfo) -> None: ...


@dataclass
class AgentReport:
    """What an agent did: trials by end state, and why it stopped."""

    trials: dict[str, int] = field(default_factory=dict)
    reason: str = ""

    @property
    def failed_out(self) -> bool:
        return self.reason.startswith("stopped after")


class Agent:
    """One agent process's loop over a sweep."""

    def __init__(
        self,
        sweep_id: str,
        function: Callable[[], Any] | None = None,
        count: int | None = None,
        dir: str | os.PathLike[str] | None = None,
        max_failures: int = DEFAULT_MAX_FAILURES,
        base_url: str | None = None,
        api_key: str | None = None,
    ) -> None:
        self.root = Path(resolve_dir(dir)).absolute()
        self.base_url = base_url
        self.sweep: Controller
        if base_url is None:
            self.sweep = Sweep(self.root, sweep_id)
        else:
            from .remote import RemoteSweep

            self.sweep = RemoteSweep(base_url, sweep_id, self.root, api_key)
        self.function = function
        self.count = count
        self.max_failures = max_failures
        self.info = AgentInfo.here(secrets.token_hex(3))
        self._done = threading.Event()

    def run(self) -> AgentReport:
        report = AgentReport()
        beat = threading.Thread(target=self._heartbeat, name="localtrack-agent-beat", daemon=True)
        self._touch()
        beat.start()
        failures = 0
        try:
            while self.count is None or sum(report.trials.values()) < self.count:
                attempt = self.sweep.next_trial(self.info)
                if attempt is None and self._wait_while_paused():
                    continue
                if attempt is None:
                    report.reason = f"the sweep is {self.sweep.status()['state']}"
                    break
                state = self._run_trial(attempt)
                report.trials[state] = report.trials.get(state, 0) + 1
                failures = failures + 1 if state in ("failed", "crashed") else 0
                if failures >= self.max_failures:
                    report.reason = (
                        f"stopped after {failures} failed trials in a row; see their runs' "
                        "files/output.log (`localtrack runs`)"
                    )
                    log.error("sweep %s: agent %s", self.sweep.id, report.reason)
                    break
            else:
                report.reason = f"ran its count of {self.count} trials"
        finally:
            self._done.set()
            with contextlib.suppress(Exception):
                self.sweep.leave(self.info)
        return report

    def _wait_while_paused(self) -> bool:
        """While the sweep is paused, wait (polling its control with backoff) as W&B's agents
        do; True once it runs again, False when it is not paused (stopped, cancelled, done)."""
        delay = PAUSE_POLL_MIN_S
        waited = False
        while self.sweep.control() == "paused":
            if not waited:
                log.info("sweep %s is paused; waiting for it to be resumed", self.sweep.id)
                waited = True
            time.sleep(delay)
            delay = min(delay * 1.5, PAUSE_POLL_MAX_S)
        return waited and self.sweep.control() == "running"

    # -- liveness ----------------------------------------------------------------------------

    def _touch(self) -> None:
        self.sweep.heartbeat(self.info)

    def _heartbeat(self) -> None:
        interval = max(0.5, min(5.0, stale_after_s() / 4))
        while not self._done.wait(interval):
            try:
                self._touch()
            except (OSError, LocaltrackError) as exc:
                log.warning("sweep %s: agent heartbeat failed: %s", self.sweep.id, exc)

    # -- one trial ---------------------------------------------------------------------------

    def _environment(self, attempt: Attempt) -> dict[str, str]:
        env = {
            spec("sweep_id").env: self.sweep.id,
            spec("sweep_trial").env: attempt.key,
            spec("dir").env: str(self.root),
        }
        if self.base_url is not None:  # the trial's run streams to the server too
            env[spec("mode").env] = "online"
            env[spec("base_url").env] = self.base_url
        return env

    def _run_trial(self, attempt: Attempt) -> str:
        log.info("sweep %s: trial %s with %s", self.sweep.id, attempt.key, attempt.params)
        watch = TrialWatch(self.sweep, attempt)
        if self.function is not None:
            state = self._run_function(attempt, watch)
        else:
            state = self._run_program(attempt, watch)
        watch.final()
        result = self.sweep.result_from_run(attempt, state)
        if watch.stop_reason is not None and result["state"] in ("crashed", "failed", "finished"):
            mark_run_stopped(StoreRoot(self.root), attempt.run_id, watch.stop_reason)
            result["state"] = "stopped"
        result["stop_reason"] = watch.stop_reason
        result["rungs"] = watch.rungs
        self.sweep.record_result(attempt.key, result)
        return str(result["state"])

    def _run_function(self, attempt: Attempt, watch: TrialWatch) -> str | None:
        from ..liverun import lifecycle

        assert self.function is not None
        state: str | None = None
        with _environ(self._environment(attempt)), watch.running(None):
            try:
                self.function()
            except TrialStopped:
                state = "stopped"
            except Exception:
                log.exception("sweep %s: trial %s raised", self.sweep.id, attempt.key)
                state = "failed"
            finally:
                current = lifecycle.current()
                if current is not None and current.id == attempt.run_id:
                    with contextlib.suppress(Exception):
                        current.finish(exit_code=0 if state is None else 1)
        if state is None and not StoreRoot(self.root).run(attempt.run_id).run_json.exists():
            log.error(
                "sweep %s: trial %s never called localtrack.init()", self.sweep.id, attempt.key
            )
            state = "failed"
        return state

    def _run_program(self, attempt: Attempt, watch: TrialWatch) -> str | None:
        config = self.sweep.config
        with tempfile.TemporaryDirectory(prefix="localtrack-trial-") as tmp:
            argv = build_command(
                config.command, config.program, attempt.params, Path(tmp) / "args.json"
            )
            env = dict(os.environ, **self._environment(attempt))
            log.info("sweep %s: trial %s runs %s", self.sweep.id, attempt.key, argv)
            try:
                process = subprocess.Popen(
                    argv, env=env, start_new_session=True, preexec_fn=_die_with_agent()
                )
            except OSError as exc:
                log.error("sweep %s: cannot start %s: %s", self.sweep.id, argv[0], exc)
                return "failed"
            with watch.running(process):
                code = process.wait()
        if code != 0 and watch.stop_reason is None:
            run_json = StoreRoot(self.root).run(attempt.run_id).run_json
            if not run_json.exists():
                log.error(
                    "sweep %s: trial %s exited %d before init()", self.sweep.id, attempt.key, code
                )
                return "failed"
        return None  # the run's own state says how it ended


class TrialWatch:
    """Watches a running trial: hyperband rungs and a cancelled sweep; stops it when told."""

    def __init__(self, sweep: Controller, attempt: Attempt) -> None:
        self.sweep = sweep
        self.attempt = attempt
        self.stop_reason: str | None = None
        self.rungs: dict[int, float] = {}
        self._best: dict[int, float] = {}
        self._judged_at = 0.0
        metric = sweep.config.metric_name
        paths = StoreRoot(sweep.files.store_root).run(attempt.run_id)
        self._metric = None if metric is None else MetricFollower(paths, metric)

    @contextlib.contextmanager
    def running(self, process: subprocess.Popen[bytes] | None) -> Iterator[None]:
        done = threading.Event()
        thread = threading.Thread(
            target=self._loop, args=(done, process), name="localtrack-trial-watch", daemon=True
        )
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def _loop(self, done: threading.Event, process: subprocess.Popen[bytes] | None) -> None:
        asked_at: float | None = None
        while not done.wait(POLL_S):
            if asked_at is None:
                reason = self._check()
                if reason is not None:
                    self.stop_reason = reason
                    self.sweep.files.request_stop(
                        self.attempt.key, reason
                    )  # the trial's run sees it
                    asked_at = time.monotonic()
                    log.info(
                        "sweep %s: stopping trial %s: %s", self.sweep.id, self.attempt.key, reason
                    )
            elif process is not None:
                _escalate(process, time.monotonic() - asked_at)

    def final(self) -> None:
        """Record the rungs of a trial that ended between two looks (its peers compare them)."""
        if self.stop_reason is None:
            with contextlib.suppress(Exception):
                self._hyperband()

    def _check(self) -> str | None:
        try:
            if self.sweep.control() == "cancelled":
                return "the sweep was cancelled"
            return self._hyperband()
        except Exception as exc:  # a bad read must not take the trial down with it
            log.warning("sweep %s: watching trial %s: %s", self.sweep.id, self.attempt.key, exc)
            return None

    def _hyperband(self) -> str | None:
        """Judge the trial when it reaches a rung, and again every REJUDGE_S while its best
        value improves (the threshold moves as other trials reach the rung, as in W&B)."""
        hyperband = self.sweep.config.hyperband
        if hyperband is None or self._metric is None:
            return None
        values = self._metric.values()
        rungs = rung_values(hyperband, values)
        best = best_at_rungs(self.sweep.config.goal, hyperband, values)
        now = time.monotonic()
        if not rungs:
            return None
        if rungs == self.rungs and (best == self._best or now - self._judged_at < REJUDGE_S):
            return None
        self.rungs, self._best, self._judged_at = rungs, best, now
        return self.sweep.report_progress(self.attempt.key, rungs, best)


def _die_with_agent() -> Callable[[], None] | None:
    """On Linux, a trial subprocess gets SIGTERM when its agent dies (kill -9 included), so it
    does not train on unwatched; its run is then closed as the signal handler closes it."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None

    def set_parent_death_signal() -> None:
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return set_parent_death_signal


def _escalate(process: subprocess.Popen[bytes], waited: float) -> None:
    """A subprocess trial that did not end at its stop request: SIGTERM, later SIGKILL."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        if waited > 1.0 + STOP_GRACE_S:
            os.killpg(process.pid, signal.SIGKILL)
        elif waited > 1.0:
            process.send_signal(signal.SIGTERM)


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def agent(
    sweep_id: str,
    function: Callable[[], Any] | None = None,
    count: int | None = None,
    project: str | None = None,
    entity: str | None = None,
    dir: str | os.PathLike[str] | None = None,
    max_failures: int = DEFAULT_MAX_FAILURES,
    base_url: str | None = None,
    api_key: str | None = None,
) -> AgentReport:
    """Run trials of a sweep until it is done (or `count` trials ran); W&B's ``wandb.agent``.

    Example::

        def train():
            run = localtrack.init()
            for epoch in range(10):
                run.log({"loss": run.config["lr"] / (epoch + 1)})
            run.finish()

        localtrack.agent(sweep_id, function=train, count=5)

    base_url: a `localtrack server` that hosts the sweep (``localtrack sweep CONFIG --to URL``);
    the trials' runs are written to `dir` and stream to the server (``mode="online"``).
    """
    if sweep_id.count("/"):
        sweep_id = sweep_id.rsplit("/", 1)[-1]  # W&B's entity/project/id
    if max_failures < 1:
        raise SweepError("max_failures must be 1 or more")
    return Agent(sweep_id, function, count, dir, max_failures, base_url, api_key).run()
