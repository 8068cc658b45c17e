"""The evaluator: checks every project's rules against its runs, now and then, in one thread.

``localtrack ui``, ``localtrack server`` and ``localtrack alerts watch`` each run one. A pass
reads each project's rules (``rules.json``, or PostgreSQL's ``alert_rules``: ``stores.py``),
walks the runs that could have changed (running ones, ones touched since the last pass; after a
start, all of them), and for each condition that holds and has not fired for that rule and run
before, records a ``fired`` event and hands it to the ``Dispatcher``. What fired is read back
from the events at start (and whenever the turn comes back), and the store records each firing
once by its identity, so neither a restart nor a turn changing hands fires anything twice. A rule
only looks at what happened after it was created (``created_at``): adding a "run finished" rule
does not page anyone about last year's runs. A project whose store did not change (the change
counter, its rules) and had no running run at its last pass is skipped: nothing there can fire,
and a big central store costs nothing between syncs.

Only one process per store evaluates at a time (an exclusive lock on ``alerts/.evaluator.lock``,
or, for the replicas of a server with a PostgreSQL index, an advisory lock); another one waits
its turn, checking again every pass, and takes over when the one evaluating stops or dies. On
taking the turn it first sends what the last holder recorded but left undelivered (an hour back
at most): delivery is at least once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import DocumentError, LocaltrackError
from ..store.reader import StoreReader
from ..store.runinfo import RunInfo
from . import config, events
from .conditions import Firing, check, missing_metric
from .config import ProjectAlerts, Rule
from .dispatch import Dispatcher
from .levels import LEVELS
from .stores import AlertStore, as_alert_store

log = logging.getLogger(__name__)
DEFAULT_INTERVAL_S = 5.0
RESEND_WITHIN_S = 3600.0  # a pending delivery older than this is not sent on a turn change


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _last_activity(run: RunInfo, arrived: float) -> float:
    """When the run last did something here: its own times, or when it arrived in this store
    (a run synced or imported today arrives today, whenever it ran)."""
    times = (run.updated_at, run.heartbeat_at, run.ended_at, run.created_at, arrived)
    return max(t or 0.0 for t in times)


class Evaluator:
    """Evaluates one store's alert rules every `interval_s` seconds in a background thread
    (``start``), or once (``evaluate_once``). The alert state is the dispatcher's (by default
    the store's: its files, or its PostgreSQL index database)."""

    def __init__(
        self,
        root: str | Path,
        dispatcher: Dispatcher | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        reader: StoreReader | None = None,
    ) -> None:
        self.root = Path(root)
        self.reader = reader or StoreReader(root)
        self.dispatcher = dispatcher or Dispatcher(root)
        self.alert_store: AlertStore = self.dispatcher.alert_store
        self.interval_s = interval_s
        self._fired: dict[str, set[str]] = {}  # project → dedup keys
        self._last_pass: float | None = None
        self._bad_files: dict[str, str] = {}
        self._last_seen: dict[str, tuple[str, float]] = {}  # run id → (state, last activity)
        self._keys: dict[str, tuple[str, ...]] = {}  # run id → its metric keys, as last read
        self._turn = False
        self._resend = False  # on taking the turn: deliveries the last holder left pending
        # project → (signature, whether a run was running)
        self._quiet: dict[str, tuple[tuple[int, float], bool]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the loop -------------------------------------------------------------------------------

    def start(self) -> Evaluator:
        self._thread = threading.Thread(target=self._loop, name="localtrack-alerts", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop evaluating (the turn is kept until ``close``: let the dispatcher finish first,
        or the next process to take the turn would send what is still in flight again)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self, timeout: float = 5.0) -> None:
        self.stop(timeout)
        self.alert_store.release_turn()
        self._turn = False

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.evaluate_once()
            except LocaltrackError as exc:  # PostgreSQL down, say: the next pass tries again
                log.warning(
                    "alert evaluation failed: %s; trying again in %gs", exc, self.interval_s
                )
            except Exception:  # one bad pass must not end alerting for the whole store
                log.exception("alert evaluation failed; trying again in %gs", self.interval_s)
            self._stop.wait(self.interval_s)

    def holds_lock(self) -> bool:
        """Take (or keep) the store's evaluator turn; False while another process has it. When
        the turn comes (back), the next pass starts afresh and reads what fired again: another
        process may have evaluated meanwhile."""
        held = self.alert_store.holds_turn()
        if held and not self._turn:
            log.info("evaluating alert rules for %s", self.alert_store.location)
            self._fired.clear()
            self._quiet.clear()
            self._last_seen.clear()
            self._last_pass = None
            self._resend = True
        self._turn = held
        return held

    def _send_pending(self, now: float) -> None:
        """Send again what the process that had the turn before recorded but did not deliver
        (it died between the two): each rule's or script's alert of the last hour with a
        destination that has no outcome yet, unless this process is sending it already."""
        for project in self.alert_store.projects():
            setup = self._load(project)
            if setup is None:
                continue
            records = self.alert_store.events(project)
            deliveries = [r for r in records if r.get("kind") == "delivery"]
            done = {(r.get("event"), r.get("destination")) for r in deliveries}
            for record in records:
                if (
                    record.get("kind") != "fired"
                    or record.get("source") == "test"
                    or str(record.get("id")) in self.dispatcher.submitted
                    or now - float(record.get("time") or 0) > RESEND_WITHIN_S
                ):
                    continue
                names = record.get("destinations") or ()
                pending = tuple(
                    d
                    for d in setup.destinations
                    if d.id in names and (record["id"], d.id) not in done
                )
                if pending:
                    log.info(
                        "alerts: sending %s again: its delivery was left pending", record["id"]
                    )
                    self.dispatcher.submit(project, pending, record)

    # -- one pass -------------------------------------------------------------------------------

    def evaluate_once(self, now: float | None = None) -> list[dict[str, Any]]:
        """Check every project's rules once; returns the events that fired."""
        if not self.holds_lock():
            return []
        now = time.time() if now is None else now
        if self._resend:
            self._send_pending(time.time())
            self._resend = False
        since = None if self._last_pass is None else self._last_pass - 2 * self.interval_s
        fired: list[dict[str, Any]] = []
        changes = self.reader.changes()
        for project in self.alert_store.projects():
            signature = (changes, self.alert_store.rules_stamp(project))
            if self._quiet.get(project) == (signature, False):
                continue  # no data landed, same rules, nothing was running: nothing can fire
            setup = self._load(project)
            running = True  # until a pass over its runs says otherwise
            if setup is not None and setup.active_rules:
                new, running = self._project(setup, now, since)
                fired += new
            self._quiet[project] = (signature, running)
        self._last_pass = now
        return fired

    def _load(self, project: str) -> ProjectAlerts | None:
        try:
            setup = self.alert_store.setup(project)
        except (DocumentError, OSError) as exc:
            if self._bad_files.get(project) != str(exc):
                self._bad_files[project] = str(exc)
                log.warning("alert rules of project %s are not used: %s", project, exc)
            return None
        self._bad_files.pop(project, None)
        return setup

    def _seen(self, project: str) -> set[str]:
        if project not in self._fired:
            self._fired[project] = events.fired_keys(self.alert_store.events(project))
        return self._fired[project]

    def _project(
        self, setup: ProjectAlerts, now: float, since: float | None
    ) -> tuple[list[dict[str, Any]], bool]:
        """(what fired, whether any run of the project is running)."""
        rules = list(setup.active_rules)
        oldest_rule = min(r.created_at for r in rules)
        try:
            runs = self.reader.runs(setup.project)
        except LocaltrackError as exc:
            log.warning("alerts: cannot list the runs of %s: %s", setup.project, exc)
            return [], True
        fired: list[dict[str, Any]] = []
        keys_seen: set[str] = set()
        arrivals = self.alert_store.arrivals([run.id for run in runs])
        for run in runs:
            arrived = arrivals.get(run.id) or _mtime(self.reader.store.paths.run(run.id).run_json)
            active = _last_activity(run, arrived)
            seen = (run.state, active)
            unchanged = self._last_seen.get(run.id) == seen
            self._last_seen[run.id] = seen
            if run.state != "running" and (
                active < oldest_rule or (since is not None and unchanged and active < since)
            ):
                if run.id not in self._keys:  # read once, for rules naming a missing metric
                    self._keys[run.id] = tuple(self._stats(run))
                keys_seen.update(self._keys[run.id])
                continue
            stats = self._stats(run)
            self._keys[run.id] = tuple(stats)
            keys_seen.update(stats)
            for rule in rules:
                if run.state != "running" and active < rule.created_at:
                    continue
                fired += self._rule_on_run(setup, rule, run, stats, now, active)
        if runs:
            for rule in rules:
                problem = missing_metric(rule, keys_seen)
                if problem is not None:
                    fired += self._fire(setup, rule, None, problem, now)
        return fired, any(run.state == "running" for run in runs)

    def _stats(self, run: RunInfo) -> dict[str, Any]:
        try:
            return self.reader.key_stats(run.id)
        except LocaltrackError:
            return {}

    def _rule_on_run(self, setup: ProjectAlerts, rule: Rule, run: RunInfo,
                     stats: dict[str, Any], now: float, active: float) -> list[dict[str, Any]]:  # fmt: skip
        if rule.type == "script":
            return self._script_alerts(setup, rule, run, active)
        try:
            found = check(rule, run, stats, now, lambda key: self.reader.points(run.id, key))
        except (LocaltrackError, OSError, ValueError) as exc:
            log.warning("alerts: rule %s on run %s could not be checked: %s", rule.id, run.id, exc)
            return []
        out: list[dict[str, Any]] = []
        for firing in found:
            out += self._fire(setup, rule, run, firing, now)
        return out

    def _script_alerts(
        self, setup: ProjectAlerts, rule: Rule, run: RunInfo, active: float
    ) -> list[dict[str, Any]]:
        """The run's run.alert() alerts; one raised before the rule existed counts only when the
        run has been active (or arrived) since."""
        out: list[dict[str, Any]] = []
        floor = LEVELS.index(rule.min_level)
        for alert in self.reader.alerts(run.id):
            if max(alert["time"], active) < rule.created_at:
                continue
            if LEVELS.index(alert["level"]) < floor:
                continue
            firing = Firing(f"script:{alert['id']}", alert["level"], alert["title"], alert["text"])
            out += self._fire(setup, rule, run, firing, alert["time"], event_id=alert["id"])
        return out

    def _fire(self, setup: ProjectAlerts, rule: Rule, run: RunInfo | None, firing: Firing,
              now: float, event_id: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
        run_id = run.id if run is not None else ""
        key = events.dedup_key(rule.id, run_id, firing.condition)
        seen = self._seen(setup.project)
        if key in seen:
            return []
        targets = () if firing.problem else setup.targets(rule)
        record = {
            "kind": "problem" if firing.problem else "fired",
            "id": event_id or events.new_id(),
            "time": now,
            "project": setup.project,
            "run_id": run_id,
            "run_name": run.name if run is not None else None,
            "rule": rule.id,
            "rule_name": rule.name,
            "condition": firing.condition,
            "level": firing.level,
            "title": firing.title,
            "text": firing.text,
            "source": "script" if rule.type == "script" else "rule",
            "destinations": [d.id for d in targets],
        }
        try:
            recorded = self.alert_store.record(setup.project, record)
        except (OSError, LocaltrackError) as exc:
            log.warning("alerts: cannot record %r: %s; not sent, tried again next pass", key, exc)
            return []
        seen.add(key)
        if recorded is None:  # another evaluator recorded (and sent) it first
            return []
        record = recorded
        if targets:
            self.dispatcher.submit(setup.project, targets, record)
        return [record]


def send_test_alert(where: str | Path | AlertStore, project: str, dispatcher: Dispatcher,
                    destination: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Send a test alert to the project's destinations (or the one named); returns its event.
    `where`: the store's root or its alert store. DocumentError when the project has no such
    destination."""
    alert_store = as_alert_store(where)
    setup = alert_store.setup(project)
    targets = tuple(d for d in setup.destinations if destination in (None, d.id))
    if not targets:
        what = f"no destination {destination!r}" if destination else "no destinations"
        raise DocumentError(f"project {project!r} has {what}; add one first", config.RULES)
    record = alert_store.record(
        project,
        {
            "kind": "fired",
            "id": events.new_id(),
            "project": project,
            "run_id": "",
            "run_name": None,
            "rule": None,
            "rule_name": None,
            "condition": "test",
            "level": "INFO",
            "title": "localtrack test alert",
            "text": f"A test alert from localtrack for project {project} on {os.uname().nodename}.",
            "source": "test",
            "destinations": [d.id for d in targets],
        },
    )
    if record is None:  # a new id is a new identity: only a store that lost its mind says so
        raise LocaltrackError(f"the test alert was not recorded in {alert_store.location}")
    dispatcher.submit(project, targets, record)
    return record
