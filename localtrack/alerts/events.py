"""A project's alert events: ``<root>/alerts/<project>/events.jsonl``, appended, never rewritten.

Three kinds of line::

    {"kind": "fired", "id", "time", "run_id", "run_name", "rule", "rule_name", "condition",
     "level", "title", "text", "source": "rule" | "script" | "test"}
    {"kind": "delivery", "event", "time", "destination", "ok", "attempts", "detail"}
    {"kind": "problem", "id", "time", "rule", "run_id", "condition", "level", "title", "text"}

``fired`` and ``problem`` lines are also the evaluator's memory: a rule fires once per run and
condition, so ``fired_keys`` rebuilt from this file after a restart stops it firing again.
``feed`` joins each event with the latest delivery outcome per destination, newest first.
A server with a PostgreSQL index keeps the same records as rows (``stores.py``), each under its
identity (``event_key``), so a firing is recorded once whichever replica records it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from .config import EVENTS, project_dir

log = logging.getLogger(__name__)
MAX_LINE_BYTES = 64 * 1024
_LOCK = threading.Lock()


def new_id() -> str:
    return secrets.token_hex(8)


def _path(root: str | Path, project: str) -> Path:
    return project_dir(root, project) / EVENTS


def encode(record: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """(the event stamped with ``time`` when it has none, its JSON line without the newline);
    a text too long for a line is cut."""
    record = {"time": time.time(), **record}
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    if len(line.encode()) + 1 > MAX_LINE_BYTES:
        record["text"] = str(record.get("text", ""))[:2000]
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    return record, line


def append(root: str | Path, project: str, record: dict[str, Any]) -> dict[str, Any]:
    """Append one event (stamped with ``time`` when it has none); returns it."""
    record, line = encode(record)
    data = (line + "\n").encode()
    path = _path(root, project)
    with _LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    return record


def parse_lines(data: bytes) -> list[dict[str, Any]]:
    """The events of whole lines of an events log (a torn or bad line is left out)."""
    out = []
    for line in data[: data.rfind(b"\n") + 1].splitlines():
        try:
            value = json.loads(line)
        except (UnicodeDecodeError, ValueError):
            continue
        if isinstance(value, dict) and isinstance(value.get("kind"), str):
            out.append(value)
    return out


def read(root: str | Path, project: str) -> list[dict[str, Any]]:
    """Every whole, readable line, oldest first (a torn or bad line is left out)."""
    try:
        data = _path(root, project).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return []
    return parse_lines(data)


def dedup_key(rule: str, run_id: str, condition: str) -> str:
    return f"{rule}\x00{run_id}\x00{condition}"


def fired_keys(records: list[dict[str, Any]]) -> set[str]:
    """What has fired already (rule, run, condition), so it never fires twice."""
    return {
        dedup_key(str(r.get("rule")), str(r.get("run_id")), str(r.get("condition")))
        for r in records
        if r.get("kind") in ("fired", "problem")
    }


def event_key(record: dict[str, Any]) -> str:
    """An event's identity, which an alert store records once: a rule's firing is its rule, run
    and condition (however many evaluators see it); a delivery outcome is its event and
    destination (the latest one kept); any other event (a test alert) is its id."""
    if record.get("kind") == "delivery":
        parts = ["delivery", str(record.get("event")), str(record.get("destination"))]
    elif record.get("kind") in ("fired", "problem") and record.get("rule") is not None:
        parts = [
            "rule",
            str(record["rule"]),
            str(record.get("run_id")),
            str(record.get("condition")),
        ]
    else:
        parts = ["event", str(record.get("id"))]
    return json.dumps(parts, ensure_ascii=False, separators=(",", ":"))


def feed(
    records: list[dict[str, Any]], run_id: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Events newest first, each with ``deliveries``: the latest outcome per destination
    (``pending`` while none came back yet)."""
    outcomes: dict[str, dict[str, dict[str, Any]]] = {}
    for r in records:
        if r.get("kind") == "delivery":
            outcomes.setdefault(str(r.get("event")), {})[str(r.get("destination"))] = r
    items = []
    for r in reversed(records):
        if r.get("kind") not in ("fired", "problem"):
            continue
        if run_id is not None and r.get("run_id") != run_id:
            continue
        delivered = outcomes.get(str(r.get("id")), {})
        items.append(
            {
                **{k: v for k, v in r.items() if k != "destinations"},
                "deliveries": [
                    {
                        "destination": d,
                        "ok": bool(out.get("ok")),
                        "attempts": out.get("attempts"),
                        "detail": out.get("detail"),
                        "time": out.get("time"),
                    }
                    for d, out in delivered.items()
                ]
                + [
                    {"destination": d, "ok": None, "attempts": 0, "detail": "pending", "time": None}
                    for d in r.get("destinations") or ()
                    if d not in delivered
                ],
            }
        )
        if len(items) >= limit:
            break
    return items


def counts_by_run(records: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per run: how many alerts fired at each level (the run page's badge)."""
    counts: dict[str, dict[str, int]] = {}
    for r in records:
        if r.get("kind") == "fired" and r.get("run_id"):
            level = str(r.get("level") or "INFO")
            per = counts.setdefault(str(r["run_id"]), {})
            per[level] = per.get(level, 0) + 1
    return counts
