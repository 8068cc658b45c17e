"""A sweep hosted by a `localtrack server` (``localtrack agent ID --to URL``): the agent's side.

The server runs the controller (``webui/server/sweepctl.py``): it hands out claims, keeps the
results and rungs, decides hyperband stops and settles dead agents' trials. The agent keeps a
mirror of the sweep in its own store (``sweep.json``, its own claims and results), because the
trial process joins the sweep from there (trial.py) and watches the local stop marker; the
trials' runs are written locally and stream to the server (``mode="online"``).

Routes (all JSON, a write key scoped to the sweep's project)::

    POST /api/v1/sweeps                              create → {"id"}
    GET  /api/v1/sweeps/<id>/controller              the sweep document and its control
    POST /api/v1/sweeps/<id>/claim                   {"agent"} → {"attempt": claim | null}
    POST /api/v1/sweeps/<id>/trials/<key>/progress   {"rungs", "best"} → {"stop": reason | null}
    POST /api/v1/sweeps/<id>/trials/<key>/result     {"result"} → {"recorded"}
    POST /api/v1/sweeps/<id>/agents/<agent>          heartbeat ({"leave": true} at exit)
    POST /api/v1/sweeps/<id>/control                 {"state"}: pause, resume, stop, cancel
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ProtocolError, SweepError
from ..store.atomic import write_json_atomic
from .config import SweepConfig, check_config
from .controller import AgentInfo, result_from_run
from .state import CONTROL_STATES, Attempt, SweepFiles

log = logging.getLogger(__name__)
PREFIX = "/api/v1/sweeps"
CONTROL_MAX_AGE_S = 1.0
"""How old the control state an agent acts on may be (answers refresh it; else one GET)."""


def _remote(url: str, api_key: str | None) -> Any:
    from ..sync.config import resolve_target
    from ..sync.remote import connect

    target = resolve_target(url)
    return connect(target.url, api_key or target.api_key)


def _clean(value: Any) -> Any:
    """JSON without NaN or infinities (the server refuses them): those become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def create_remote_sweep(
    url: str, raw: dict[str, Any], project: str | None, entity: str | None, api_key: str | None
) -> str:
    """Create a sweep on the server at `url` (checked there, and here first); its id."""
    check_config(raw)
    remote = _remote(url, api_key)
    try:
        reply = remote.request_json(
            "POST", PREFIX, {"config": _clean(raw), "project": project, "entity": entity}
        )
    finally:
        remote.transport.close()
    if not isinstance(reply, dict) or not isinstance(reply.get("id"), str):
        raise ProtocolError("the server's answer to creating a sweep has no id")
    return str(reply["id"])


def set_remote_control(url: str, sweep_id: str, state: str, api_key: str | None) -> None:
    remote = _remote(url, api_key)
    try:
        remote.request_json("POST", f"{PREFIX}/{sweep_id}/control", {"state": state})
    finally:
        remote.transport.close()


class RemoteSweep:
    """The agent's view of a sweep on a server; the same methods as ``controller.Sweep``."""

    def __init__(
        self, base_url: str, sweep_id: str, local_root: Path, api_key: str | None = None
    ) -> None:
        self.remote = _remote(base_url, api_key)
        self.files = SweepFiles(local_root, sweep_id)
        try:
            reply = self._call("GET", "/controller")
        except BaseException:
            self.remote.transport.close()
            raise
        document = reply.get("document")
        if not isinstance(document, dict):
            raise ProtocolError(f"the server sent no document for sweep {sweep_id}")
        self.document: dict[str, Any] = {**document, "server": self.remote.url}
        self.config: SweepConfig = check_config(document["config"])
        self._mirror()

    @property
    def id(self) -> str:
        return self.files.id

    @property
    def store_root(self) -> Path:
        return self.files.store_root

    def _mirror(self) -> None:
        """The sweep's document in the local store, where the trial process reads it."""
        if not (self.files.dir / "sweep.json").exists():
            with contextlib.suppress(FileExistsError):
                self.files.create(self.document)

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        reply = self.remote.request_json(method, f"{PREFIX}/{self.id}{path}", body)
        if not isinstance(reply, dict):
            raise ProtocolError(f"{method} {PREFIX}/{self.id}{path}: the answer is not an object")
        control = reply.get("control")
        if control in (*CONTROL_STATES, "finished"):
            self._control = (str(control), time.monotonic())
        return reply

    # -- the controller's methods --------------------------------------------------------------

    def control(self) -> str:
        state, at = getattr(self, "_control", ("running", -math.inf))
        if time.monotonic() - at > CONTROL_MAX_AGE_S:
            state = str(self._call("GET", "/controller").get("control", "running"))
        return "running" if state == "finished" else state

    def status(self) -> dict[str, Any]:
        return dict(self._call("GET", "/controller").get("status") or {})

    def next_trial(self, agent: AgentInfo) -> Attempt | None:
        reply = self._call("POST", "/claim", {"agent": agent.record()})
        claim = reply.get("attempt")
        if claim is None:
            return None
        if not isinstance(claim, dict):
            raise ProtocolError("the server's claim is not an object")
        attempt = Attempt(int(claim["number"]), int(claim["attempt"]), claim)
        if not self.files.claim(attempt.number, attempt.attempt, claim):
            raise SweepError(
                f"sweep {self.id}: the server handed out trial {attempt.key} again; another "
                f"agent in this store ({self.store_root}) holds it"
            )
        return attempt

    def result_from_run(self, attempt: Attempt, state: str | None = None) -> dict[str, Any]:
        return result_from_run(self.store_root, self.config.metric_name, attempt, state)

    def record_result(self, key: str, result: dict[str, Any]) -> bool:
        self.files.record_result(key, result)
        reply = self._call("POST", f"/trials/{key}/result", {"result": _clean(result)})
        return bool(reply.get("recorded"))

    def report_progress(
        self, key: str, rungs: dict[int, float], best: dict[int, float] | None = None
    ) -> str | None:
        progress: dict[str, Any] = {"rungs": {str(k): v for k, v in rungs.items()}}
        if best:
            progress["best"] = {str(k): v for k, v in best.items()}
        write_json_atomic(self.files.dir / "progress" / f"{key}.json", progress, unique=True)
        reply = self._call("POST", f"/trials/{key}/progress", _clean(progress))
        stop = reply.get("stop")
        return None if stop is None else str(stop)

    def heartbeat(self, agent: AgentInfo) -> None:
        self._call("POST", f"/agents/{agent.id}", {"agent": agent.record()})

    def leave(self, agent: AgentInfo) -> None:
        try:
            self._call("POST", f"/agents/{agent.id}", {"agent": agent.record(), "leave": True})
        finally:
            self.remote.transport.close()
