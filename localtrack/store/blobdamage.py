"""What the last ``localtrack server check`` found wrong, per run: ``<root>/ingest/damage.json``.

A blob lost from the object store (deleted behind the server's back) leaves the server's own
copy of the run readable, so no read trips over it; ``check`` finds it and writes it here, and
every read that lists a run's damage (the run page and its JSON, ``localtrack show``,
``ApiRun.damage()``) names it, until a later check finds the run whole::

    {"checked_at": 1764510307.2, "location": "s3://tracker/prod",
     "runs": {"3k2x9q1m": {"metrics/0-0-99.parquet": "blob 5f1c… missing"}}}
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .atomic import read_json, write_json_atomic

log = logging.getLogger(__name__)
DAMAGE_FILE = Path("ingest") / "damage.json"


def write_damage(
    root: Path, location: str, runs: dict[str, dict[str, str]], checked_at: float
) -> None:
    """Replace the record with one check's findings (`runs`: run id → file → what is wrong)."""
    body = {"checked_at": checked_at, "location": location, "runs": runs}
    write_json_atomic(root / DAMAGE_FILE, body)


def run_damage(root: Path, run_id: str) -> list[str]:
    """One line per damaged file of `run_id` in the last check's record (none: [])."""
    record = _read(root)
    files = (record.get("runs") or {}).get(run_id)
    if not isinstance(files, dict):
        return []
    when = _iso(record.get("checked_at"))
    where = str(record.get("location") or "the blob store")
    found_by = f"`localtrack server check` at {when}"
    return [damage_line(name, problem, where, found_by) for name, problem in sorted(files.items())]


def damage_line(name: str, problem: str, where: str, found_by: str) -> str:
    """How every read names one damaged file of a run ("found by" says which check found it)."""
    return f"{name}: {problem} in {where} (found by {found_by}); the durable copy of this run is damaged"


def _read(root: Path) -> dict[str, Any]:
    try:
        record = read_json(root / DAMAGE_FILE)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring the unreadable %s: %s", DAMAGE_FILE, exc)
        return {}
    return record if isinstance(record, dict) else {}


def _iso(at: Any) -> str:
    if not isinstance(at, (int, float)):
        return "an unknown time"
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
