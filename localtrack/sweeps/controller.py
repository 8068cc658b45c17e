"""The controller, run inside every agent: which trial comes next, with which values.

There is no server: each agent asks the sweep's files. A claim is an exclusive-create file
(state.py), so no trial is ever claimed twice, on one disk or on a network filesystem; where the
store's SQLite index is usable, the whole look-then-claim step also runs inside one
``BEGIN IMMEDIATE`` transaction, so agents on one machine take turns instead of racing for the
same file (and bayes suggestions see every claim before theirs).

A trial whose agent died (its pid is gone on this host, or its heartbeat is stale) is settled
by the next agent that looks: a run that ended is adopted as it ended; a trial with no run, or a
crashed run, is recorded ``crashed`` and re-queued once as a new attempt with the same values.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SweepError
from ..store.root import StoreRoot
from ..store.runmeta import current_boot_id, effective_state, heartbeat_time, load, stale_after_s
from . import space
from .config import SweepConfig, check_config
from .hyperband import should_stop
from .pgstate import open_sweep_files
from .state import Attempt, trial_key

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 2
"""A trial whose agent died is tried this many times in all, then left ``crashed``."""
ENDED = ("finished", "failed", "stopped", "crashed")


@dataclass(frozen=True)
class AgentInfo:
    """Who claims: written into each claim so others can tell whether the claimer lives."""

    id: str
    host: str
    pid: int
    boot_id: str | None

    @classmethod
    def here(cls, tag: str) -> AgentInfo:
        host = socket.gethostname()
        return cls(f"{host}-{os.getpid()}-{tag}", host, os.getpid(), current_boot_id())

    def record(self) -> dict[str, Any]:
        return {"id": self.id, "host": self.host, "pid": self.pid, "boot_id": self.boot_id}


class Sweep:
    """One sweep in one store, as the agents and the CLI see it."""

    def __init__(self, store_root: Path, sweep_id: str, index_url: str | None = None) -> None:
        """index_url: a server's PostgreSQL database, where its sweeps are (pgstate.py)."""
        self.files = open_sweep_files(store_root, sweep_id, index_url)
        self.document = self.files.document()
        self.config: SweepConfig = check_config(self.document["config"])
        self.seed = int(self.document.get("seed") or 0)
        self.store_root = Path(store_root)
        self.bayes_cache: object = None  # bayes.py's study, kept between suggestions

    @property
    def id(self) -> str:
        return self.files.id

    @property
    def project(self) -> str:
        return str(self.document.get("project") or "uncategorized")

    def run_id(self, number: int, attempt: int) -> str:
        suffix = f"-r{attempt}" if attempt else ""
        return f"sweep-{self.id}-{number:04d}{suffix}"

    def capacity(self) -> int | None:
        """How many trials the sweep runs in all (None: until stopped)."""
        cap = self.config.run_cap
        if self.config.method == "grid":
            size = space.grid_size(self.config.params)
            return size if cap is None else min(cap, size)
        return cap

    # -- claiming ----------------------------------------------------------------------------

    def next_trial(self, agent: AgentInfo) -> Attempt | None:
        """Claim the next trial for `agent`, or None when there is nothing (left) to do."""
        for _ in range(100):  # a new scan only after losing every candidate to other agents
            if self.files.control() != "running":
                return None
            with self.files.turn():
                if self.config.method != "bayes":
                    found = self._next_fresh(agent)
                    if found is not None:
                        return found
                attempts = self.files.attempts(light=self.config.method != "bayes")
                found = self._claim_requeued(attempts, agent)
                if found is not None:
                    return found
                candidates = self._candidates(attempts)
                if not candidates:
                    return None
                for number in candidates:
                    record = self._claim_record(number, 0, agent, attempts)
                    if self.files.claim(number, 0, record):
                        self.files.advance_cursor(number)
                        return Attempt(number, 0, record)
        raise SweepError(f"sweep {self.id}: could not claim a trial after 100 scans")

    def held_by(self, agent: AgentInfo) -> Attempt | None:
        """The attempt `agent` claimed and has no result for, while the sweep runs. An agent
        works on one trial at a time, so one asking for a trial while it holds one never got
        the answer to its claim (the server failed after making it: PostgreSQL stopping, say);
        the server's claim route hands it that claim again rather than a second trial, which
        nobody would ever run."""
        if self.files.control() != "running":
            return None
        attempts = self.files.open_attempts()
        if attempts is None:
            attempts = self.files.attempts(light=True)
        for number in sorted(attempts):
            for item in attempts[number]:
                if item.result is None and (item.claim.get("agent") or {}).get("id") == agent.id:
                    return item
        return None

    def _next_fresh(self, agent: AgentInfo) -> Attempt | None:
        """Grid and random without reading every claim: settle the open attempts (their
        markers), then claim upward from the cursor. None when the numbers are used up (the
        caller then reads the sweep in full once, for claims no marker names)."""
        open_attempts = self.files.open_attempts()
        if open_attempts is None:
            return None
        found = self._claim_requeued(open_attempts, agent)
        if found is not None:
            return found
        capacity = self.capacity()
        number = self.files.cursor()
        while capacity is None or number < capacity:
            if not self.files.is_claimed(number):
                record = self._claim_record(number, 0, agent, open_attempts)
                if self.files.claim(number, 0, record):
                    self.files.advance_cursor(number)
                    return Attempt(number, 0, record)
            number += 1
        return None

    def _candidates(self, attempts: dict[int, list[Attempt]]) -> list[int]:
        """Trial numbers still free, in the order to try them (numbers stay below capacity)."""
        capacity = self.capacity()
        if self.config.method == "grid":
            assert capacity is not None
            return [n for n in range(capacity) if n not in attempts]
        start = max(attempts, default=-1) + 1
        return list(range(start, capacity if capacity is not None else start + 16))

    def _claim_record(
        self, number: int, attempt: int, agent: AgentInfo, attempts: dict[int, list[Attempt]]
    ) -> dict[str, Any]:
        suggested: dict[str, Any] | None = None
        if attempt and number in attempts:
            params = attempts[number][-1].params
            suggested = attempts[number][-1].claim.get("suggested")
        elif self.config.method == "grid":
            params = space.grid_point(self.config.params, number)
        elif self.config.method == "random":
            params = space.random_point(self.config.params, self.seed, number)
        else:
            from .bayes import suggest

            suggested = suggest(self, number, attempts)
            params = space.finish_point(self.config.params, suggested)
        return {
            "number": number,
            "attempt": attempt,
            "run_id": self.run_id(number, attempt),
            "params": params,
            "config": space.nested(self.config.params, params),
            "suggested": suggested,
            "agent": agent.record(),
            "claimed_at": time.time(),
        }

    def _claim_requeued(
        self, attempts: dict[int, list[Attempt]], agent: AgentInfo
    ) -> Attempt | None:
        """Settle attempts whose agent died; claim a re-run of the first one that may retry."""
        alive: dict[str, bool] = {}  # one look per agent, however many trials it holds
        for number, items in sorted(attempts.items()):
            last = items[-1]
            if last.result is not None:
                continue
            agent_id = str((last.claim.get("agent") or {}).get("id"))
            if agent_id not in alive:
                alive[agent_id] = self._agent_lives(last)
            if alive[agent_id]:
                continue
            state = self._run_state(last.run_id)
            if state == "running":
                continue  # its subprocess outlived the agent; it still reports
            result = self.result_from_run(last, state or "crashed")
            self.files.record_result(last.key, result)
            if result["state"] != "crashed" or last.attempt + 1 >= MAX_ATTEMPTS:
                continue
            record = self._claim_record(number, last.attempt + 1, agent, attempts)
            if self.files.claim(number, last.attempt + 1, record):
                log.warning(
                    "sweep %s: trial %d's agent died (%s); running it again",
                    self.id,
                    number,
                    (last.claim.get("agent") or {}).get("id"),
                )
                return Attempt(number, last.attempt + 1, record)
        return None

    def _agent_lives(self, attempt: Attempt) -> bool:
        return self.files.agent_alive(attempt.claim.get("agent") or {}, stale_after_s())

    def _run_state(self, run_id: str) -> str | None:
        paths = StoreRoot(self.store_root).run(run_id)
        try:
            meta = load(paths.run_json)
        except Exception:  # no run yet, or unreadable: nothing ran that we can adopt
            return None
        return effective_state(meta, heartbeat_time(paths.heartbeat))

    def result_from_run(self, attempt: Attempt, state: str | None = None) -> dict[str, Any]:
        """How an attempt ended, read from its run: state and the metric's summary value."""
        return result_from_run(self.store_root, self.config.metric_name, attempt, state)

    # -- what agents report --------------------------------------------------------------------

    def control(self) -> str:
        return self.files.control()

    def record_result(self, key: str, result: dict[str, Any]) -> bool:
        return self.files.record_result(key, result)

    def report_progress(
        self, key: str, rungs: dict[int, float], best: dict[int, float] | None = None
    ) -> str | None:
        """Record attempt `key`'s hyperband rungs (and its best value so far at each); why to
        stop it now, or None to let it go on. Every attempt's rungs count, as every run's do
        in W&B; the rungs reached since the last report are judged in order."""
        before = self.files.progress_of(key).get("rungs") or {}
        record: dict[str, Any] = {"rungs": {str(k): v for k, v in rungs.items()}}
        if best:
            record["best"] = {str(k): v for k, v in best.items()}
        self.files.record_progress(key, record)
        hyperband, name = self.config.hyperband, self.config.metric_name
        if hyperband is None or name is None or not rungs:
            return None
        others = []
        for other, progress in self.files.progress().items():
            values = progress.get("rungs") or {}
            if other != key and isinstance(values, dict):
                others.append({int(k): float(v) for k, v in values.items()})
        since = max((int(k) for k in before), default=0)
        rung = should_stop(hyperband, self.config.goal, rungs, others, best, since)
        if rung is None:
            return None
        judged = "" if hyperband.strict or not best else f" (best so far {best[rung]:.6g})"
        return (
            f"hyperband: {name}={rungs[rung]:.6g} at iteration {rung}{judged} is outside the "
            f"best 1/{hyperband.eta:g}"
        )

    def heartbeat(self, agent: AgentInfo) -> None:
        """The agent lives (other agents read its heartbeat)."""
        self.files.beat(agent.record())

    def leave(self, agent: AgentInfo) -> None:
        self.files.leave(agent.id)

    # -- reading -----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """State, counts and the best trial so far (the `localtrack sweeps` row)."""
        attempts = self.files.attempts()
        counts: dict[str, int] = {}
        best: Attempt | None = None
        best_value = 0.0
        for items in attempts.values():
            last = items[-1]
            state = (last.result or {}).get("state", "running")
            counts[state] = counts.get(state, 0) + 1
            value = (last.result or {}).get("value")
            if value is not None and (best is None or self._better(value, best_value)):
                best, best_value = last, float(value)
        control = self.files.control()
        capacity = self.capacity()
        done = all(items[-1].result is not None for items in attempts.values())
        if control == "running" and capacity is not None and len(attempts) >= capacity and done:
            control = "finished"
        if control == "stopped" and done:
            control = "finished"
        return {
            "id": self.id,
            "project": self.project,
            "method": self.config.method,
            "state": control,
            "metric": self.config.metric_name,
            "goal": self.config.goal,
            "trials": counts,
            "capacity": capacity,
            "best": None
            if best is None
            else {
                "number": best.number,
                "run_id": best.run_id,
                "value": best_value,
                "params": best.params,
            },
        }

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.config.goal == "maximize" else a < b


def create_sweep(
    store_root: Path,
    raw: dict[str, Any],
    project: str | None,
    entity: str | None,
    index_url: str | None = None,
) -> str:
    """Check `raw`, then write a new sweep into the store (or its PostgreSQL database); its id."""
    from .state import new_sweep_id

    config = check_config(raw)
    if config.method == "bayes":
        from .bayes import require_optuna

        require_optuna()
    StoreRoot(store_root, create=True)
    for _ in range(10):
        sweep_id = new_sweep_id()
        files = open_sweep_files(store_root, sweep_id, index_url)
        try:
            files.create(
                {
                    "id": sweep_id,
                    "project": project or raw.get("project") or "uncategorized",
                    "entity": entity or raw.get("entity"),
                    "config": raw,
                    "method": config.method,
                    "seed": raw.get("seed", int.from_bytes(os.urandom(4), "little")),
                    "created_at": time.time(),
                    "format": 1,
                }
            )
        except FileExistsError:
            continue
        return sweep_id
    raise SweepError("could not find a free sweep id")


def result_from_run(
    store_root: Path, metric: str | None, attempt: Attempt, state: str | None = None
) -> dict[str, Any]:
    """How an attempt ended, read from its run in `store_root`: state and `metric`'s value."""
    paths = StoreRoot(store_root).run(attempt.run_id)
    value = None
    try:
        meta = load(paths.run_json)
    except Exception:
        meta = {}
    if state is None:
        state = effective_state(meta, heartbeat_time(paths.heartbeat)) if meta else "failed"
    summary = meta.get("summary") or {}
    if metric is not None and isinstance(summary.get(metric), int | float):
        value = float(summary[metric])
    return {
        "state": state if state in ENDED else "crashed",
        "value": value,
        "ended_at": time.time(),
        "exit_code": meta.get("exit_code"),
    }


__all__ = ["AgentInfo", "Sweep", "create_sweep", "trial_key"]
