"""A sweep's state as it travels to a server (sync, export/import) and the checks on receipt.

One JSON document per sweep::

    {"format": 1, "id": "k3v9x2qa",
     "sweep": <sweep.json>, "control": <control.json>,
     "claims":   [{"key": "000003-0", "record": <claims/000003-0.json>}, ...],
     "results":  [{"key": ..., "record": <results/...json>}, ...],
     "progress": [{"key": ..., "record": {"rungs": {"3": 0.41}}}, ...]}

The receiver checks every field (``check_state``: a ``DocumentError`` naming it) and the config
(every problem by its path), then merges: claims and results are made once (a file already there
is kept: the server's controller may have settled it first), rungs and the control are replaced
when the sender's are newer. The same checks guard the controller routes' bodies (``check_*``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import DocumentError, SweepError
from ..store import jsondoc
from .pgstate import PgSweepFiles, open_sweep_files
from .state import CONTROL_STATES, SweepFiles, sweep_ids

log = logging.getLogger(__name__)
DOCUMENT = "sweep state"
FORMAT = 1
MAX_TRIALS = 1_000_000
TRIAL_KEY = re.compile(r"^\d{6}-\d{1,3}$")
AGENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,159}$")
ENDED = ("finished", "failed", "stopped", "crashed")

_AGENT = {
    "id": jsondoc.text(160, min_chars=1),
    "host": jsondoc.text(256, nullable=True),
    "pid": jsondoc.integer(nullable=True, minimum=0),
    "boot_id": jsondoc.text(128, nullable=True),
}
CLAIM: dict[str, jsondoc.Check] = {
    "number": jsondoc.integer(minimum=0),
    "attempt": jsondoc.integer(minimum=0),
    "run_id": jsondoc.text(128, min_chars=1, forbid="/\\"),
    "params": jsondoc.mapping(),
    "config": jsondoc.mapping(),
    "suggested": jsondoc.mapping(nullable=True),
    "agent": jsondoc.mapping(),
    "claimed_at": jsondoc.number(),
}
RESULT: dict[str, jsondoc.Check] = {
    "state": jsondoc.one_of(ENDED),
    "value": jsondoc.number(nullable=True),
    "ended_at": jsondoc.number(nullable=True),
    "exit_code": jsondoc.integer(nullable=True),
    "stop_reason": jsondoc.text(2000, nullable=True, multiline=True),
    "rungs": jsondoc.mapping(nullable=True),
}
SWEEP: dict[str, jsondoc.Check] = {
    "id": jsondoc.text(32, min_chars=1),
    "project": jsondoc.text(256, min_chars=1),
    "entity": jsondoc.text(128, nullable=True),
    "config": jsondoc.mapping(),
    "method": jsondoc.one_of(("grid", "random", "bayes")),
    "created_at": jsondoc.number(nullable=True),
}
_ENTRY = {"key": jsondoc.text(16, min_chars=1), "record": jsondoc.mapping()}
STATE: dict[str, jsondoc.Check] = {
    "format": jsondoc.one_of((FORMAT,)),
    "id": jsondoc.text(32, min_chars=1),
    "sweep": jsondoc.mapping(),
    "control": jsondoc.mapping(),
    "claims": jsondoc.records(MAX_TRIALS, _ENTRY),
    "results": jsondoc.records(MAX_TRIALS, _ENTRY),
    "progress": jsondoc.records(MAX_TRIALS, _ENTRY),
}


def check_key(key: str) -> str:
    if not TRIAL_KEY.match(key):
        raise DocumentError(f"{key!r} is not a trial key (NNNNNN-A)", DOCUMENT, "key")
    return key


def check_agent(agent: Any) -> dict[str, Any]:
    jsondoc.check_fields("agent", agent, _AGENT, required=("id",))
    if not AGENT_ID.match(agent["id"]):
        raise DocumentError(f"agent id {agent['id']!r} has odd characters", "agent", "id")
    return dict(agent)


def check_claim(record: Any, key: str) -> dict[str, Any]:
    jsondoc.check_fields("claim", record, CLAIM, required=("number", "attempt", "run_id"))
    if f"{record['number']:06d}-{record['attempt']}" != key:
        raise DocumentError(f"claim {key} names another trial", "claim", "number")
    return dict(record)


def check_result(record: Any) -> dict[str, Any]:
    jsondoc.check_fields("result", record, RESULT, required=("state",))
    check_rungs(record.get("rungs") or {})
    return dict(record)


def check_rungs(rungs: Any, name: str = "rungs") -> dict[int, float]:
    """A progress record's {rung: value} (`rungs`), or {rung: best value so far} (`best`)."""
    if not isinstance(rungs, Mapping) or len(rungs) > 64:
        raise DocumentError(f"{name} must be an object of at most 64 entries", "progress", name)
    out = {}
    for k, v in rungs.items():
        if not (isinstance(k, str) and k.isdigit() and 0 < int(k) < 2**31):
            raise DocumentError(f"rung {k!r} is not an iteration", "progress", name)
        if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
            raise DocumentError(f"rung {k}'s value must be a finite number", "progress", name)
        out[int(k)] = float(v)
    return out


def check_sweep_document(doc: Any, sweep_id: str) -> dict[str, Any]:
    from .config import check_config

    jsondoc.check_fields("sweep.json", doc, SWEEP, required=("id", "project", "config"))
    if doc["id"] != sweep_id:
        raise DocumentError("sweep.json names another sweep", "sweep.json", "id")
    try:
        check_config(doc["config"])
    except SweepError as exc:
        raise DocumentError(f"sweep.json field 'config': {exc}", "sweep.json", "config") from None
    return dict(doc)


def check_state(data: Any) -> dict[str, Any]:
    """Every field of a received sweep state; DocumentError naming the first bad one."""
    jsondoc.check_depth(data, DOCUMENT)
    jsondoc.check_fields(DOCUMENT, data, STATE, required=("format", "id", "sweep", "control"))
    check_sweep_document(data["sweep"], data["id"])
    control = data["control"]
    if control.get("state") not in CONTROL_STATES:
        raise DocumentError(f"control state must be one of {CONTROL_STATES}", DOCUMENT, "control")
    for kind, check in (("claims", None), ("results", check_result), ("progress", None)):
        for entry in data.get(kind) or []:
            key = check_key(entry.get("key", ""))
            if kind == "claims":
                check_claim(entry.get("record"), key)
            elif check is not None:
                check(entry.get("record"))
            else:
                record = entry.get("record") or {}
                check_rungs(record.get("rungs") or {})
                check_rungs(record.get("best") or {}, "best")
    return data


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def sweep_state(files: SweepFiles | PgSweepFiles) -> dict[str, Any]:
    """The document that carries one sweep's files (NaN and infinities as null)."""
    claims, results, progress = [], [], []
    for items in files.attempts().values():
        for item in items:
            claims.append({"key": item.key, "record": item.claim})
            if item.result is not None:
                results.append({"key": item.key, "record": item.result})
            if item.progress:
                progress.append({"key": item.key, "record": item.progress})
    control = files.control_record() or {"state": files.control()}
    return _clean(
        {
            "format": FORMAT,
            "id": files.id,
            "sweep": files.document(),
            "control": control,
            "claims": claims,
            "results": results,
            "progress": progress,
        }
    )


def local_states(store_root: Path, sweep_filter: set[str] | None = None) -> list[dict[str, Any]]:
    """The state of each sweep in the store (those in `sweep_filter`, when given)."""
    out = []
    for sweep_id in sweep_ids(store_root):
        if sweep_filter is None or sweep_id in sweep_filter:
            out.append(sweep_state(SweepFiles(store_root, sweep_id)))
    return out


def apply_state(
    store_root: Path, data: dict[str, Any], index_url: str | None = None
) -> dict[str, int]:
    """Merge a checked sweep state into the store (or the server's PostgreSQL database, with
    `index_url`); how many records were new."""
    files = open_sweep_files(store_root, data["id"], index_url)
    if not files.exists():
        with contextlib.suppress(FileExistsError):
            sweep = {k: v for k, v in data["sweep"].items() if k != "server"}
            files.create(sweep, control=data["control"])
    elif files.document().get("project") != data["sweep"].get("project"):
        raise DocumentError(
            f"sweep {files.id} here belongs to another project", "sweep.json", "project"
        )
    counts = {"claims": 0, "results": 0, "progress": 0}
    for entry in data.get("claims") or []:
        number, attempt = (int(x) for x in entry["key"].split("-"))
        counts["claims"] += files.claim(number, attempt, entry["record"])
    for entry in data.get("results") or []:
        counts["results"] += files.record_result(entry["key"], entry["record"])
    for entry in data.get("progress") or []:
        old = files.progress_of(entry["key"]).get("rungs") or {}
        if len(entry["record"].get("rungs") or {}) > len(old):
            files.record_progress(entry["key"], entry["record"])
            counts["progress"] += 1
    files.merge_control(data["control"])
    return counts


def sweeps_of(run_ids: list[str] | tuple[str, ...] | Any) -> set[str]:
    """The sweeps whose trials are among `run_ids` (trial runs are ``sweep-<id>-<nnnn>``)."""
    found = set()
    for run_id in run_ids:
        parts = str(run_id).split("-")
        if len(parts) >= 3 and parts[0] == "sweep":
            found.add(parts[1])
    return found


def push_states(store_root: Path, remote: Any, run_ids: Any) -> list[str]:
    """Send the state of each sweep the synced runs belong to (``localtrack sync``); their ids.
    A sweep the server refuses is logged and left for the next sync, as a failed run would be."""
    from ..errors import LocaltrackError

    sent = []
    for state in local_states(store_root, sweeps_of(run_ids)):
        try:
            remote.request_json("POST", f"/api/v1/sweeps/{state['id']}/state", state)
        except LocaltrackError as exc:
            log.warning("sweep %s not synced: %s", state["id"], exc)
            continue
        sent.append(state["id"])
    return sent
