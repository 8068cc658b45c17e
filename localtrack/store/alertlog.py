"""A run's alerts: ``<run>/alerts.jsonl``, one JSON line per ``run.alert()`` call.

The training process appends a line per alert it raises (never rewriting the file), sync and
export carry it like a media log (a snapshot cut after its last whole line), and the receiving
side checks every whole line with ``check_alert_log`` before it keeps the run. Each line::

    {"id": "9f2c...", "time": 1764490000.5, "title": "loss diverged", "text": "nan at step 30",
     "level": "ERROR", "step": 30}

``read_alerts`` skips a torn last line (a crash while appending) and any line that breaks the
schema, so one bad line never hides the others.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from ..errors import DocumentError
from .jsondoc import Check, check_fields, integer, loads, number, one_of, text

log = logging.getLogger(__name__)

ALERTS_FILE = "alerts.jsonl"
LEVELS = ("INFO", "WARN", "ERROR")
MAX_TITLE_CHARS = 256
MAX_TEXT_CHARS = 10_000
MAX_LINE_BYTES = 64 * 1024
FIELDS: dict[str, Check] = {
    "id": text(64, min_chars=1),
    "time": number(),
    "title": text(MAX_TITLE_CHARS, min_chars=1),
    "text": text(MAX_TEXT_CHARS, multiline=True),
    "level": one_of(LEVELS),
    "step": integer(nullable=True, minimum=0),
}
REQUIRED = ("id", "time", "title", "text", "level")


def check_alert(record: Any, document: str = "alert") -> dict[str, Any]:
    """`record` as a valid alert line (DocumentError naming the field otherwise)."""
    check_fields(document, record, FIELDS, required=REQUIRED)
    return dict(record)


def encode_alert(record: dict[str, Any]) -> bytes:
    """One checked line of the log, newline included."""
    line = json.dumps(check_alert(record), ensure_ascii=False, separators=(",", ":")) + "\n"
    data = line.encode("utf-8")
    if len(data) > MAX_LINE_BYTES:
        raise DocumentError(f"an alert line must be under {MAX_LINE_BYTES} bytes", "alert")
    return data


def append_alert(run_dir: str | Path, record: dict[str, Any]) -> None:
    """Append one alert to the run's log (a single write of a whole line; no fsync: an alert
    is not worth stalling training for, and a torn last line is skipped by readers)."""
    data = encode_alert(record)
    fd = os.open(Path(run_dir) / ALERTS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def parse_alert_lines(data: bytes, label: str) -> tuple[list[dict[str, Any]], list[str]]:
    """(valid alerts, problems) of a log's whole lines; a last line without its newline is a
    write torn by a crash and is left out without a problem."""
    alerts: list[dict[str, Any]] = []
    problems: list[str] = []
    whole = data[: data.rfind(b"\n") + 1]
    for number_, line in enumerate(whole.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{label} line {number_}"
        try:
            alerts.append(check_alert(loads(line, where, MAX_LINE_BYTES), where))
        except DocumentError as exc:
            problems.append(str(exc))
    return alerts, problems


def check_alert_log(data: bytes, label: str) -> None:
    """Refuse (DocumentError naming the line and field) a log with a line that breaks the
    schema: what a server or ``localtrack import`` checks before it keeps a run."""
    _, problems = parse_alert_lines(data, label)
    if problems:
        raise DocumentError(problems[0], label)


def read_alerts(run_dir: str | Path) -> list[dict[str, Any]]:
    """The run's alerts, oldest first (bad lines logged once and left out)."""
    path = Path(run_dir) / ALERTS_FILE
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return []
    alerts, problems = parse_alert_lines(data, f"{path.parent.name}/{ALERTS_FILE}")
    for problem in problems:
        log.warning("left out of the alerts read: %s", problem)
    return alerts
