"""A sweep's state in PostgreSQL, for a server whose replicas share one index database.

``PgSweepFiles`` answers what ``state.SweepFiles`` answers (the controller and the server's
sweep API use either), from the rows of ``localtrack/store/pgsweeps.py``: a claim or a result is
made once by its primary key, the claim cursor moves only forward, an agent's heartbeat is a
time on PostgreSQL's clock, and claimers of one sweep take turns under an advisory lock. The run
files a settled trial is read from stay in the store directory (``store_root``).

``open_sweep_files`` picks the backend: PostgreSQL when an index URL is given, else the files.
"""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from ..errors import SweepError
from .state import (
    CONTROL_STATES,
    SWEEP_ID,
    Attempt,
    SweepFiles,
    local_process_gone,
    parse_key,
    sweep_ids,
)


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, allow_nan=True)


def _load(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    value = json.loads(text)
    return value if isinstance(value, dict) else None


class PgSweepFiles:
    """The state of one sweep in the PostgreSQL database at `url` (``SweepFiles``'s methods)."""

    def __init__(self, store_root: Path, sweep_id: str, url: str) -> None:
        if not SWEEP_ID.match(sweep_id):
            raise SweepError(f"{sweep_id!r} is not a sweep id (8 lowercase letters and digits)")
        self.store_root = Path(store_root)
        self.id = sweep_id
        from ..store.pgsweeps import PgSweepTables  # psycopg: only with an index URL

        self.tables = PgSweepTables(url)

    # -- the sweep ---------------------------------------------------------------------------

    def create(self, document: dict[str, Any], control: dict[str, Any] | None = None) -> None:
        control = control or {"state": "running", "updated_at": time.time()}
        project = str(document.get("project") or "uncategorized")
        at = float(control.get("updated_at") or 0)
        if not self.tables.create(self.id, project, _dump(document), _dump(control), at):
            raise FileExistsError(f"sweep {self.id} exists")

    def exists(self) -> bool:
        return self.tables.document(self.id) is not None

    def document(self) -> dict[str, Any]:
        doc = _load(self.tables.document(self.id))
        if doc is None:
            raise SweepError(
                f"no sweep {self.id!r} in this server's database (create one with localtrack "
                "sweep CONFIG --to URL)"
            )
        return doc

    def control(self) -> str:
        state = self.control_record().get("state")
        return state if state in CONTROL_STATES else "running"

    def control_record(self) -> dict[str, Any]:
        return _load(self.tables.control(self.id)) or {}

    def set_control(self, state: str) -> None:
        if state not in CONTROL_STATES:
            raise SweepError(f"sweep state must be one of {CONTROL_STATES}, not {state!r}")
        now = time.time()
        record = _dump({"state": state, "updated_at": now})
        self.tables.set_control(self.id, record, now, newer_only=False)

    def merge_control(self, record: dict[str, Any]) -> None:
        at = float(record.get("updated_at") or 0)
        self.tables.set_control(self.id, _dump(record), at, newer_only=True)

    def turn(self) -> AbstractContextManager[None]:
        return self.tables.turn(self.id)

    # -- trials ------------------------------------------------------------------------------

    def _attempts(self, open_only: bool) -> dict[int, list[Attempt]]:
        out: dict[int, list[Attempt]] = {}
        for number, attempt, claim, result, progress in self.tables.attempts(self.id, open_only):
            item = Attempt(
                number, attempt, _load(claim) or {}, _load(result), _load(progress) or {}
            )
            out.setdefault(number, []).append(item)
        return out

    def attempts(self, light: bool = False) -> dict[int, list[Attempt]]:
        """Every attempt so far, by trial number, in attempt order (one query: `light` is
        the same as full here)."""
        return self._attempts(open_only=False)

    def open_attempts(self) -> dict[int, list[Attempt]]:
        return self._attempts(open_only=True)

    def claim(self, number: int, attempt: int, record: dict[str, Any]) -> bool:
        return self.tables.insert_once("sweep_claims", self.id, number, attempt, _dump(record))

    def is_claimed(self, number: int, attempt: int = 0) -> bool:
        return self.tables.is_claimed(self.id, number, attempt)

    def cursor(self) -> int:
        return self.tables.cursor(self.id)

    def advance_cursor(self, claimed: int) -> None:
        self.tables.advance_cursor(self.id, claimed + 1)

    def attempt(self, key: str) -> Attempt:
        number, attempt = parse_key(key)
        for item in self._attempts(open_only=False).get(number, []):
            if item.attempt == attempt:
                return item
        raise SweepError(f"sweep {self.id}: trial {key} was never claimed")

    def record_result(self, key: str, result: dict[str, Any]) -> bool:
        number, attempt = parse_key(key)
        return self.tables.insert_once("sweep_results", self.id, number, attempt, _dump(result))

    def progress_of(self, key: str) -> dict[str, Any]:
        return _load(self.tables.progress_of(self.id, *parse_key(key))) or {}

    def progress(self) -> dict[str, dict[str, Any]]:
        out = {}
        for number, attempt, record in self.tables.progress(self.id):
            out[f"{number:06d}-{attempt}"] = _load(record) or {}
        return out

    def record_progress(self, key: str, progress: dict[str, Any]) -> None:
        self.tables.set_progress(self.id, *parse_key(key), _dump(progress))

    # -- stop requests and agents ------------------------------------------------------------

    def request_stop(self, key: str, reason: str) -> None:
        record = _dump({"reason": reason, "time": time.time()})
        self.tables.request_stop(self.id, *parse_key(key), record)

    def beat(self, agent: dict[str, Any]) -> None:
        self.tables.beat(self.id, str(agent["id"]), _dump(agent))

    def leave(self, agent_id: str) -> None:
        self.tables.leave(self.id, agent_id)

    def agent_alive(self, agent: dict[str, Any], stale_after: float) -> bool:
        """Whether the agent that made a claim still runs: its pid (same host), its heartbeat."""
        if local_process_gone(agent):
            return False
        silent = self.tables.agent_silent_for(self.id, str(agent.get("id")))
        return silent is not None and silent <= stale_after


def open_sweep_files(
    store_root: Path, sweep_id: str, index_url: str | None = None
) -> SweepFiles | PgSweepFiles:
    """The state of one sweep: in PostgreSQL when `index_url` is given, else in its files."""
    if index_url:
        return PgSweepFiles(store_root, sweep_id, index_url)
    return SweepFiles(store_root, sweep_id)


def all_sweep_ids(store_root: Path, index_url: str | None = None) -> list[str]:
    """The sweeps of a store: its PostgreSQL database's (with `index_url`), else its files'."""
    if index_url:
        from ..store.pgsweeps import PgSweepTables

        return PgSweepTables(index_url).ids()
    return sweep_ids(store_root)
