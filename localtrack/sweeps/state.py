"""A sweep's state in the store: plain JSON files under ``<root>/sweeps/<id>/``.

::

    sweep.json                 id, project, the config as given, method, seed (written once)
    control.json               running | paused | stopped | cancelled (replaced atomically)
    claims/<n>-<a>.json        attempt a of trial n: params, run id, agent (exclusive-create)
    results/<n>-<a>.json       how that attempt ended: state, value (exclusive-create)
    progress/<n>-<a>.json      the metric at each hyperband rung so far (its agent replaces it)
    stop/<n>-<a>               a stop request for a running trial (its run watches for it)
    agents/<agent>.json        one per agent; its mtime is the agent's heartbeat
    open/<n>-<a>~<token>       made before claiming attempt n-a, removed once it has a result:
                               the attempts still open, listed without reading every claim
    cursor.json                {"next": n}: every trial below n is claimed (a hint, never ahead)

Claim and result files are published with a hard link from a partial file (``os.link`` fails
when the name exists, also on NFS), so each is made exactly once, whole, by one process. The
open markers and the cursor only make the next claim cheap; the claims alone decide who holds
a trial (a sweep made before they existed has no ``open/`` and is read in full).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SweepError
from ..settings import resolve
from ..store.atomic import partial_path, publishing, write_json_atomic
from ..store.layout import is_partial_name
from ..store.root import StoreRoot
from ..store.runmeta import current_boot_id, pid_alive

log = logging.getLogger(__name__)
SWEEPS_DIR = "sweeps"
CONTROL_STATES = ("running", "paused", "stopped", "cancelled")
_ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
_KEY = re.compile(r"^(\d{6})-(\d+)\.json$")
SWEEP_ID = re.compile(r"^[a-z0-9]{1,32}$")


def new_sweep_id() -> str:
    return "".join(secrets.choice(_ID_CHARS) for _ in range(8))


def trial_key(number: int, attempt: int) -> str:
    return f"{number:06d}-{attempt}"


def parse_key(key: str) -> tuple[int, int]:
    number, attempt = key.split("-")
    return int(number), int(attempt)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


@dataclass
class Attempt:
    """One attempt at a trial: its claim, and its result once it ended."""

    number: int
    attempt: int
    claim: dict[str, Any]
    result: dict[str, Any] | None = None
    progress: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return trial_key(self.number, self.attempt)

    @property
    def run_id(self) -> str:
        return str(self.claim.get("run_id"))

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.claim.get("params") or {})


class SweepFiles:
    """The files of one sweep."""

    def __init__(self, store_root: Path, sweep_id: str) -> None:
        if not SWEEP_ID.match(sweep_id):
            raise SweepError(f"{sweep_id!r} is not a sweep id (8 lowercase letters and digits)")
        self.store_root = Path(store_root)
        self.id = sweep_id
        self.dir = self.store_root / SWEEPS_DIR / sweep_id
        # claims and results are made once and never change; progress is keyed by its stat
        self._seen: dict[str, dict[str, tuple[Any, dict[str, Any]]]] = {}

    # -- the sweep ---------------------------------------------------------------------------

    def create(self, document: dict[str, Any], control: dict[str, Any] | None = None) -> None:
        """A new sweep, running (or with `control`, the record of a copy from elsewhere)."""
        self.dir.mkdir(parents=True)
        for sub in ("claims", "results", "progress", "stop", "agents", "open"):
            (self.dir / sub).mkdir()
        control = control or {"state": "running", "updated_at": time.time()}
        write_json_atomic(self.dir / "control.json", control)
        write_json_atomic(self.dir / "sweep.json", document)

    def document(self) -> dict[str, Any]:
        doc = _read(self.dir / "sweep.json")
        if doc is None:
            raise SweepError(
                f"no sweep {self.id!r} in {self.store_root} (create one with localtrack sweep "
                "CONFIG, or pass the store's --dir)"
            )
        return doc

    def exists(self) -> bool:
        return (self.dir / "sweep.json").exists()

    def control(self) -> str:
        state = self.control_record().get("state")
        return state if state in CONTROL_STATES else "running"

    def control_record(self) -> dict[str, Any]:
        """The control record as stored: {"state": …, "updated_at": …} ({} when unreadable)."""
        return _read(self.dir / "control.json") or {}

    def set_control(self, state: str) -> None:
        if state not in CONTROL_STATES:
            raise SweepError(f"sweep state must be one of {CONTROL_STATES}, not {state!r}")
        write_json_atomic(self.dir / "control.json", {"state": state, "updated_at": time.time()})

    def merge_control(self, record: dict[str, Any]) -> None:
        """Take another copy's control record when it was changed later than this one."""
        here = float(self.control_record().get("updated_at") or 0)
        if float(record.get("updated_at") or 0) > here:
            write_json_atomic(self.dir / "control.json", record)

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Take turns with the other agents through the index, where it is usable (the
        store's own index.db: its write lock is the turn, which a PostgreSQL transaction is not)."""
        root = StoreRoot(self.store_root, index_mode=resolve("index"), index_url="")
        index = root.open_index()
        if index is None:
            yield
            return
        try:
            with index.transaction():
                yield
        finally:
            index.close()

    # -- trials ------------------------------------------------------------------------------

    def attempts(self, light: bool = False) -> dict[int, list[Attempt]]:
        """Every attempt so far, by trial number, in attempt order.

        light: read only the claims of attempts still open (no result yet); an ended attempt
        comes with an empty claim and result (``{}``). Enough to pick the next grid or random
        trial and to settle dead agents' trials, without reading thousands of finished ones.
        """
        out: dict[int, list[Attempt]] = {}
        if light:
            ended = {n[: -len(".json")] for n, _ in self._listing("results")}
            results: dict[str, dict[str, Any]] = {key: {} for key in ended}
            progress: dict[str, dict[str, Any]] = {}
        else:
            results = self._scan("results")
            progress = self._scan("progress")
        for name, path in self._listing("claims"):
            match = _KEY.match(name)
            if match is None:
                continue
            ended_here = light and name[: -len(".json")] in results
            claim = {} if ended_here else self._read_once("claims", name, path)
            if claim is None:
                continue
            number, attempt = int(match[1]), int(match[2])
            key = trial_key(number, attempt)
            item = Attempt(number, attempt, claim, results.get(key), progress.get(key) or {})
            out.setdefault(number, []).append(item)
        for items in out.values():
            items.sort(key=lambda a: a.attempt)
        return out

    def _listing(self, sub: str) -> list[tuple[str, Path]]:
        try:
            entries = list(os.scandir(self.dir / sub))
        except FileNotFoundError:
            return []
        return [(e.name, Path(e.path)) for e in entries if not is_partial_name(e.name)]

    def _scan(self, sub: str) -> dict[str, dict[str, Any]]:
        out = {}
        for name, path in self._listing(sub):
            if _KEY.match(name) and (doc := self._read_once(sub, name, path)) is not None:
                out[name[: -len(".json")]] = doc
        return out

    def _read_once(self, sub: str, name: str, path: Path) -> dict[str, Any] | None:
        """A claim or result read before is not read again (it never changes); a progress
        record is read again when its size or mtime changed."""
        seen = self._seen.setdefault(sub, {})
        stamp: Any = None
        if sub == "progress":
            try:
                st = path.stat()
            except OSError:
                return None
            stamp = (st.st_mtime_ns, st.st_size)
        if name in seen and seen[name][0] == stamp:
            return seen[name][1]
        doc = _read(path)
        if doc is not None:
            seen[name] = (stamp, doc)
        return doc

    def claim(self, number: int, attempt: int, record: dict[str, Any]) -> bool:
        """Publish the claim of attempt `attempt` of trial `number`; False if taken already.

        The attempt's open marker is made first, so a claimer killed right after publishing
        leaves its trial listed as open (and re-queued once its death is seen)."""
        key = trial_key(number, attempt)
        marker = self._mark_open(key)
        made = self._publish_once(self.dir / "claims" / f"{key}.json", record)
        if not made and marker is not None:
            marker.unlink(missing_ok=True)
        return made

    def is_claimed(self, number: int, attempt: int = 0) -> bool:
        return (self.dir / "claims" / f"{trial_key(number, attempt)}.json").exists()

    def _mark_open(self, key: str) -> Path | None:
        if not (self.dir / "open").is_dir():
            return None  # a sweep from before open markers: read in full
        marker = self.dir / "open" / f"{key}~{os.getpid()}-{secrets.token_hex(4)}"
        marker.touch()
        return marker

    def open_attempts(self) -> dict[int, list[Attempt]] | None:
        """The attempts with no result yet, from the open markers (None: this sweep has none).

        A marker whose attempt has a result (its recorder died before removing it) is removed;
        one with no claim is a claim in the making, or one that lost: not an attempt."""
        if not (self.dir / "open").is_dir():
            return None
        markers = self._listing("open")
        by_key: dict[str, list[Path]] = {}
        for name, path in markers:
            by_key.setdefault(name.split("~", 1)[0], []).append(path)
        out: dict[int, list[Attempt]] = {}
        for key, paths in sorted(by_key.items()):
            if not _KEY.match(f"{key}.json"):
                continue
            if (self.dir / "results" / f"{key}.json").exists():
                for path in paths:
                    path.unlink(missing_ok=True)
                continue
            claim = _read(self.dir / "claims" / f"{key}.json")
            if claim is not None:
                number, attempt = parse_key(key)
                out.setdefault(number, []).append(Attempt(number, attempt, claim))
        return out

    def _close_open(self, key: str) -> None:
        for name, path in self._listing("open"):
            if name.split("~", 1)[0] == key:
                path.unlink(missing_ok=True)

    def cursor(self) -> int:
        """The first trial number that may be free: every one below it is claimed."""
        value = (_read(self.dir / "cursor.json") or {}).get("next")
        return value if isinstance(value, int) and value >= 0 else 0

    def advance_cursor(self, claimed: int) -> None:
        """After claiming trial `claimed` and every one below it (a race may move it back:
        harmless, the next claimer steps over claimed numbers with one stat each)."""
        if claimed + 1 <= self.cursor():
            return
        path = self.dir / "cursor.json"
        tmp = partial_path(path, unique=True)
        try:  # no fsync: a cursor lost to a power cut reads as 0, which is only slower
            tmp.write_text(json.dumps({"next": claimed + 1}) + "\n", encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            log.debug("sweep %s: cursor not advanced: %s", self.id, exc)

    def attempt(self, key: str) -> Attempt:
        number, attempt = parse_key(key)
        claim = _read(self.dir / "claims" / f"{key}.json")
        if claim is None:
            raise SweepError(f"sweep {self.id}: trial {key} was never claimed")
        return Attempt(number, attempt, claim, _read(self.dir / "results" / f"{key}.json"))

    def record_result(self, key: str, result: dict[str, Any]) -> bool:
        """Publish how attempt `key` ended; False when someone recorded it first."""
        made = self._publish_once(self.dir / "results" / f"{key}.json", result)
        self._close_open(key)
        return made

    def progress_of(self, key: str) -> dict[str, Any]:
        return _read(self.dir / "progress" / f"{key}.json") or {}

    def progress(self) -> dict[str, dict[str, Any]]:
        """Every attempt's progress record (its hyperband rungs so far), by attempt key."""
        return self._scan("progress")

    def record_progress(self, key: str, progress: dict[str, Any]) -> None:
        write_json_atomic(self.dir / "progress" / f"{key}.json", progress, unique=True)

    def _publish_once(self, path: Path, record: dict[str, Any]) -> bool:
        data = json.dumps(record, sort_keys=True, allow_nan=True).encode() + b"\n"
        try:
            with publishing(path, exclusive=True) as f:
                f.write(data)
        except FileExistsError:
            return False
        return True

    # -- stop requests and agents ------------------------------------------------------------

    def stop_marker(self, key: str) -> Path:
        return self.dir / "stop" / key

    def request_stop(self, key: str, reason: str) -> None:
        write_json_atomic(
            self.stop_marker(key), {"reason": reason, "time": time.time()}, unique=True
        )

    def agent_file(self, agent_id: str) -> Path:
        return self.dir / "agents" / f"{agent_id}.json"

    def beat(self, agent: dict[str, Any]) -> None:
        """The agent lives: its file's mtime is its heartbeat (other agents read it)."""
        self.agent_file(str(agent["id"])).write_text(json.dumps(agent) + "\n")

    def leave(self, agent_id: str) -> None:
        self.agent_file(agent_id).unlink(missing_ok=True)

    def agent_alive(self, agent: dict[str, Any], stale_after: float) -> bool:
        """Whether the agent that made a claim still runs: its pid (same host), its heartbeat."""
        if local_process_gone(agent):
            return False
        try:
            beat = (self.agent_file(str(agent.get("id")))).stat().st_mtime
        except OSError:
            return False
        return time.time() - beat <= stale_after


def local_process_gone(agent: dict[str, Any]) -> bool:
    """Whether an agent on this host has no process any more (its pid is dead, or it ran before
    the machine last booted). An agent on another host is never known gone here."""
    pid = agent.get("pid")
    if agent.get("host") != socket.gethostname() or not isinstance(pid, int):
        return False
    if not pid_alive(pid):
        return True
    return bool(agent.get("boot_id")) and agent.get("boot_id") != current_boot_id()


def sweeps_dir(store_root: Path) -> Path:
    return Path(store_root) / SWEEPS_DIR


def sweep_ids(store_root: Path) -> list[str]:
    try:
        entries = os.scandir(sweeps_dir(store_root))
    except FileNotFoundError:
        return []
    with entries:
        return sorted(e.name for e in entries if e.is_dir() and SWEEP_ID.match(e.name))
