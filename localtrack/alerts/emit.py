"""The training process's side of ``run.alert()``: check, rate-limit, print, record.

Nothing here touches a network. The alert is printed to stderr (``localtrack: ALERT ...``) and
appended to the run's ``alerts.jsonl`` (``store/alertlog.py``); whichever evaluator watches the
store (``localtrack ui``, ``localtrack server`` or ``localtrack alerts watch``) delivers it to the
project's destinations. A failure to record is a logged warning, never an exception in training.
"""

from __future__ import annotations

import logging
import secrets
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import DocumentError
from ..settings import resolve
from ..store.alertlog import MAX_TEXT_CHARS, MAX_TITLE_CHARS, append_alert
from .levels import parse_level, parse_wait

log = logging.getLogger(__name__)


class AlertEmitter:
    """One run's alerts: remembers when each title was last raised (W&B's ``wait_duration``:
    another alert with that title within the wait is dropped, and says so in the log)."""

    def __init__(self, run_dir: Path, run_id: str) -> None:
        self.run_dir = run_dir
        self.run_id = run_id
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def alert(
        self, title: str, text: str, level: Any, wait_duration: Any, step: int | None
    ) -> bool:
        """Raise one alert; False when `title` is still inside its wait (nothing recorded).
        A bad level or wait_duration is a UsageError, as in W&B."""
        name = parse_level(level)
        wait = parse_wait(wait_duration)
        title, text = (
            _clip(str(title), MAX_TITLE_CHARS) or "alert",
            _clip(str(text), MAX_TEXT_CHARS),
        )
        now = time.monotonic()
        with self._lock:
            last = self._last.get(title)
            if last is not None and now - last < wait:
                log.info(
                    "run %s: alert %r dropped: raised %.0fs ago", self.run_id, title, now - last
                )
                return False
            self._last[title] = now
        _print(f"ALERT [{name}] {title}: {text}")
        record = {
            "id": secrets.token_hex(8),
            "time": time.time(),
            "title": title,
            "text": text,
            "level": name,
            "step": step if isinstance(step, int) and step >= 0 else None,
        }
        try:
            append_alert(self.run_dir, record)
        except (OSError, DocumentError) as exc:
            log.warning("run %s: alert %r could not be recorded: %s", self.run_id, title, exc)
        return True


def _clip(value: str, limit: int) -> str:
    """Control characters (but line breaks in text) replaced, then cut to `limit`."""
    cleaned = "".join(c if c.isprintable() or c in "\n\t" else " " for c in value)
    return cleaned[:limit]


def _print(line: str) -> None:
    if resolve("silent"):
        return
    sys.stderr.write(f"localtrack: {line}\n")
    sys.stderr.flush()
