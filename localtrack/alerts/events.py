"""A project's alert events: ``<root>/alerts/<project>/events.jsonl``, appended, never rewritten.

Three kinds of line::

    {"kind": "fired", "id", "time", "run_id", "run_name", "rule", "rule_name", "condition",
     "level", "title", "text", "source": "rule" | "script" | "test"}
    {"kind": "delivery", "event", "time", "destination", "ok", "attempts", "detail"}
    {"kind": "problem", "id", "time", "rule", "run_id", "condition", "level", "title", "text"}

``fired`` and ``problem`` lines are also the evaluator's memory: a rule fires once per run and
condition, so ``fired_keys`` rebuilt from this file after a restart stops it firing again.
``feed`` joins each event with the latest delivery outcome per destination, newest first.
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


def append(root: str | Path, project: str, record: dict[str, Any]) -> dict[str, Any]:
    """Append one event (stamped with ``time`` when it has none); returns it."""
    record = {"time": time.time(), **record}
    data = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    if len(data) > MAX_LINE_BYTES:
        record["text"] = str(record.get("text", ""))[:2000]
        data = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    path = _path(root, project)
    with _LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    return record


def read(root: str | Path, project: str) -> list[dict[str, Any]]:
    """Every whole, readable line, oldest first (a torn or bad line is left out)."""
    try:
        data = _path(root, project).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for line in data[: data.rfind(b"\n") + 1].splitlines():
        try:
            value = json.loads(line)
        except (UnicodeDecodeError, ValueError):
            continue
        if isinstance(value, dict) and isinstance(value.get("kind"), str):
            out.append(value)
    return out


def dedup_key(rule: str, run_id: str, condition: str) -> str:
    return f"{rule}\x00{run_id}\x00{condition}"


def fired_keys(records: list[dict[str, Any]]) -> set[str]:
    """What has fired already (rule, run, condition), so it never fires twice."""
    return {
        dedup_key(str(r.get("rule")), str(r.get("run_id")), str(r.get("condition")))
        for r in records
        if r.get("kind") in ("fired", "problem")
    }


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
