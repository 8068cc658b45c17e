"""Where a store's alert state lives: its files, or a server's PostgreSQL index database.

Both keep a project's rules document (no secrets), its destinations' secrets, its events (what
fired, test alerts, delivery outcomes) and the evaluator's turn (one evaluating process at a time),
and answer the same methods, so the evaluator, the dispatcher, the UI and ``server migrate`` use
either:

=====================  ==========================================  ===============================
                       ``DirAlertStore`` (``<root>/alerts/``)      ``PgAlertStore`` (``--index``)
=====================  ==========================================  ===============================
rules                  ``<project>/rules.json``                    table ``alert_rules``
secrets                ``<project>/secrets.json`` (mode 0600)      table ``alert_secrets``
events                 ``<project>/events.jsonl``, appended        table ``alert_events``, keyed
                                                                   by the event's identity
evaluator's turn       ``flock`` on ``.evaluator.lock``            advisory lock (pgalerts.py)
=====================  ==========================================  ===============================

An event is recorded once by its identity (``events.event_key``): ``record`` answers None for a
firing recorded before, so no alert is sent twice, even by two evaluators that overlap while the
turn changes hands. ``open_alert_store`` picks the backend.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import DocumentError
from ..settings import resolve
from . import config, events
from .config import Destination, ProjectAlerts

log = logging.getLogger(__name__)
LOCK_NAME = ".evaluator.lock"


class AlertStore:
    """The methods both backends answer; rules as values and secrets' lookup are shared."""

    location = ""  # where the state is, for messages

    def projects(self) -> list[str]:
        """Every project with a rules document."""
        raise NotImplementedError

    def rules_doc(self, project: str) -> dict[str, Any]:
        """The project's checked rules document (an empty one when it has none)."""
        raise NotImplementedError

    def rules_saved_at(self, project: str) -> float | None:
        """When the project's rules were last saved (None: never); moves on every save."""
        raise NotImplementedError

    def save_rules(self, project: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Check and keep the project's rules (``config.stamped_rules``); the stored document."""
        raise NotImplementedError

    def put_rules(self, project: str, doc: dict[str, Any], saved_at: float) -> bool:
        """Keep a document as it is (``server migrate``) unless the one here was saved at or
        after `saved_at`; True when it was kept."""
        raise NotImplementedError

    def secrets(self, project: str) -> dict[str, dict[str, str]]:
        """{destination id: {field: secret}} kept here (never served by the UI)."""
        raise NotImplementedError

    def set_secret(self, project: str, dest_id: str, field: str, value: str | None) -> None:
        """Keep (or, with None, forget) a destination's ``url`` or ``password``."""
        raise NotImplementedError

    def events(self, project: str) -> list[dict[str, Any]]:
        """The project's events, oldest first (``events.py`` describes them)."""
        raise NotImplementedError

    def record(self, project: str, record: dict[str, Any]) -> dict[str, Any] | None:
        """Record an event (stamped with ``time`` when it has none); None when its identity
        is recorded already (for a delivery outcome: the same outcome)."""
        raise NotImplementedError

    def arrivals(self, run_ids: list[str]) -> dict[str, float]:
        """{run id: when it arrived} for runs that have no directory here."""
        raise NotImplementedError

    def holds_turn(self) -> bool:
        """Take (or keep) the evaluator's turn; False while another process has it."""
        raise NotImplementedError

    def release_turn(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.release_turn()

    def rules_stamp(self, project: str) -> float:
        """What changes when the project's rules are saved (the evaluator's skip check)."""
        return float(self.rules_saved_at(project) or 0.0)

    def setup(self, project: str) -> ProjectAlerts:
        """The project's rules and destinations as values (DocumentError for a bad document)."""
        return config.setup_of(project, self.rules_doc(project))

    def secret_for(self, project: str, dest: Destination, field: str) -> str | None:
        """A destination's URL or password: from the environment variable it names, else from
        the store; None when neither has it."""
        env = config.env_name(dest, field)
        if env:
            return os.environ.get(env) or None
        return self.secrets(project).get(dest.id, {}).get(field) or None

    def secret_set(self, project: str, dest: Destination, field: str) -> bool:
        """Whether the secret is there (what the UI shows instead of the secret itself)."""
        return self.secret_for(project, dest, field) is not None


class _SeenLog:
    """The identities in one project's events.jsonl, read incrementally (the file only grows)."""

    def __init__(self) -> None:
        self.offset = 0
        self.keys: dict[str, str] = {}  # identity -> ``_remembered`` of its latest record


class DirAlertStore(AlertStore):
    """Alert state as files under ``<root>/alerts/`` (``config.py``, ``events.py``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.location = str(self.root / config.DIR)
        self._seen: dict[str, _SeenLog] = {}
        self._lock = threading.Lock()
        self._turn: BinaryIO | None = None
        self._turn_warned = False

    def projects(self) -> list[str]:
        return config.projects_with_rules(self.root)

    def rules_doc(self, project: str) -> dict[str, Any]:
        return config.read_rules_doc(self.root, project)

    def rules_saved_at(self, project: str) -> float | None:
        try:
            return (config.project_dir(self.root, project) / config.RULES).stat().st_mtime
        except OSError:
            return None

    def save_rules(self, project: str, doc: dict[str, Any]) -> dict[str, Any]:
        return config.save_rules(self.root, project, doc)

    def put_rules(self, project: str, doc: dict[str, Any], saved_at: float) -> bool:
        here = self.rules_saved_at(project)
        if here is not None and here >= saved_at:
            return False
        config.save_rules(self.root, project, config.check_rules(doc))
        path = config.project_dir(self.root, project) / config.RULES
        os.utime(path, (saved_at, saved_at))
        return True

    def secrets(self, project: str) -> dict[str, dict[str, str]]:
        return config.read_secrets(self.root, project)

    def set_secret(self, project: str, dest_id: str, field: str, value: str | None) -> None:
        config.set_secret(self.root, project, dest_id, field, value)

    def events(self, project: str) -> list[dict[str, Any]]:
        return events.read(self.root, project)

    def record(self, project: str, record: dict[str, Any]) -> dict[str, Any] | None:
        key = events.event_key(record)
        with self._lock:
            seen = self._refresh(project)
            known = seen.keys.get(key)
            if known is not None and known == _remembered(record):
                return None
            stored = events.append(self.root, project, record)
            seen.keys[key] = _remembered(stored)
            return stored

    def _refresh(self, project: str) -> _SeenLog:
        """The project's identities, with the lines appended since the last look (by any
        process) read in."""
        seen = self._seen.setdefault(project, _SeenLog())
        path = config.project_dir(self.root, project) / config.EVENTS
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        if size < seen.offset:  # replaced by a smaller file: read it again
            seen.offset, seen.keys = 0, {}
        if size == seen.offset:
            return seen
        with open(path, "rb") as handle:
            handle.seek(seen.offset)
            data = handle.read(size - seen.offset)
        whole = data[: data.rfind(b"\n") + 1]
        for item in events.parse_lines(whole):
            seen.keys[events.event_key(item)] = _remembered(item)
        seen.offset += len(whole)
        return seen

    def arrivals(self, run_ids: list[str]) -> dict[str, float]:
        return {}  # runs here have directories: their run.json says when they arrived

    def holds_turn(self) -> bool:
        if self._turn is not None:
            return True
        folder = self.root / config.DIR
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle = open(folder / LOCK_NAME, "ab")  # noqa: SIM115 - held open while evaluating
        except OSError as exc:
            if not self._turn_warned:
                self._turn_warned = True
                log.warning("alert rules of %s are not evaluated: %s", self.root, exc)
            return False
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._turn = handle
        return True

    def release_turn(self) -> None:
        if self._turn is not None:
            self._turn.close()
            self._turn = None


class PgAlertStore(AlertStore):
    """Alert state in the PostgreSQL index database at `url`, shared by every replica."""

    def __init__(self, url: str) -> None:
        from ..store.indexbackend import redacted
        from ..store.pgalerts import EvaluatorTurn, PgAlertTables  # psycopg: only with a URL

        self.tables = PgAlertTables(url)
        self.turn = EvaluatorTurn(url)
        self.location = redacted(url)

    def projects(self) -> list[str]:
        return self.tables.projects()

    def rules_doc(self, project: str) -> dict[str, Any]:
        config.project_dir("", project)  # the same check of the project name as the files'
        row = self.tables.rules(project)
        if row is None:
            return {"version": config.VERSION, "rules": [], "destinations": []}
        from ..store import jsondoc

        text = row[0].encode()
        return config.check_rules(
            jsondoc.loads(text, f"the rules of {project!r}", config.MAX_BYTES)
        )

    def rules_saved_at(self, project: str) -> float | None:
        row = self.tables.rules(project)
        return None if row is None else row[1]

    def save_rules(self, project: str, doc: dict[str, Any]) -> dict[str, Any]:
        try:
            old = self.rules_doc(project)
        except DocumentError:
            old = {}
        stored = config.stamped_rules(doc, old)
        self.tables.save_rules(project, _dumps(stored), time.time())
        return stored

    def put_rules(self, project: str, doc: dict[str, Any], saved_at: float) -> bool:
        config.project_dir("", project)
        text = _dumps(config.check_rules(doc))
        return self.tables.save_rules(project, text, saved_at, newer=True)

    def secrets(self, project: str) -> dict[str, dict[str, str]]:
        return self.tables.secrets(project)

    def set_secret(self, project: str, dest_id: str, field: str, value: str | None) -> None:
        config.project_dir("", project)
        self.tables.set_secret(project, dest_id, config.check_secret_field(field), value or None)

    def events(self, project: str) -> list[dict[str, Any]]:
        out = []
        for text in self.tables.events(project):
            value = json.loads(text)
            if isinstance(value, dict):
                out.append(value)
        return out

    def record(self, project: str, record: dict[str, Any]) -> dict[str, Any] | None:
        stored, line = events.encode(record)
        kind = str(stored.get("kind"))
        key = events.event_key(stored)
        at = float(stored.get("time") or 0.0)
        new = self.tables.add_event(project, key, kind, at, line, replace=kind == "delivery")
        return stored if new else None

    def arrivals(self, run_ids: list[str]) -> dict[str, float]:
        return self.tables.arrivals(run_ids)

    def holds_turn(self) -> bool:
        return self.turn.take()

    def release_turn(self) -> None:
        self.turn.release()


def _dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, sort_keys=True)


def _remembered(record: dict[str, Any]) -> str:
    """What the files backend remembers of a recorded event: a delivery's whole outcome (a
    different one is recorded too), nothing of another event (its identity is enough)."""
    if record.get("kind") != "delivery":
        return ""
    return json.dumps(record, ensure_ascii=False, sort_keys=True)


def open_alert_store(root: str | Path, index_url: str | None = None) -> AlertStore:
    """The alert state of the store at `root`: in its PostgreSQL index database when it has one
    (`index_url`; None: ``LOCALTRACK_INDEX_URL``; "": the files), else its files."""
    from ..store.root import check_index_url

    url = check_index_url(resolve("index_url") if index_url is None else index_url)
    if url:
        return PgAlertStore(url)
    return DirAlertStore(root)


def as_alert_store(where: str | Path | AlertStore) -> AlertStore:
    """`where` itself when it is an alert store, else the alert store of the store at that path."""
    if isinstance(where, AlertStore):
        return where
    return open_alert_store(where)
