"""Inside a trial: ``localtrack.init()`` joins the sweep the agent started it for.

The agent says which trial through ``LOCALTRACK_SWEEP_ID`` and ``LOCALTRACK_SWEEP_TRIAL`` (and the
store through ``LOCALTRACK_DIR``). init() then takes the trial's run id, the sweep's project, the
sweep id as group, and the suggested values as config (over any defaults the script passes).
A watcher thread turns a stop request (a file the agent writes) into ``run.should_stop`` and a
TrialStopped at the next ``log()``; a subprocess trial that does not end by itself then gets
SIGTERM (lifecycle.py flushes and ends its run), and the agent records the run ``stopped``.

Imports nothing beyond the standard library and the store: it runs in every trial's start.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..settings import from_env, resolve_dir, spec
from .state import Attempt, SweepFiles

log = logging.getLogger(__name__)
WATCH_INTERVAL_S = 0.2


@dataclass(frozen=True)
class TrialContext:
    """The trial this process runs, read from the sweep's files."""

    files: SweepFiles
    attempt: Attempt
    project: str

    @property
    def key(self) -> str:
        return self.attempt.key

    def init_arguments(self, given: dict[str, Any]) -> dict[str, Any]:
        """init()'s arguments with the trial's id, project, group, store and config."""
        out = dict(given)
        if given.get("project") and given["project"] != self.project:
            log.warning(
                "sweep %s: init(project=%r) ignored; trials log to the sweep's project %r",
                self.files.id,
                given["project"],
                self.project,
            )
        out.update(
            project=self.project,
            id=self.attempt.run_id,
            group=self.files.id,
            dir=self.files.store_root,
            config=merged_config(given.get("config"), self.attempt.claim.get("config") or {}),
        )
        return out


def merged_config(defaults: Any, suggested: Mapping[str, Any]) -> dict[str, Any]:
    """The script's config with the suggested values over it (nested dicts merged)."""
    if defaults is None:
        base: dict[str, Any] = {}
    elif isinstance(defaults, Mapping):
        base = dict(defaults)
    elif hasattr(defaults, "__dict__"):
        base = dict(vars(defaults))
    else:
        base = {}
    for key, value in suggested.items():
        old = base.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            base[key] = merged_config(old, value)
        else:
            base[key] = value
    return base


def current_trial() -> TrialContext | None:
    """The trial the agent started this process (or this function call) for, if any."""
    sweep_id = from_env("sweep_id")
    if not sweep_id:
        return None
    key = from_env("sweep_trial")
    if not key:
        raise UsageError(
            f"{spec('sweep_id').env} is set but {spec('sweep_trial').env} is not: trials are "
            "started by `localtrack agent`, which sets both"
        )
    files = SweepFiles(Path(resolve_dir(None)).absolute(), sweep_id)
    document = files.document()
    return TrialContext(files, files.attempt(key), str(document.get("project") or "uncategorized"))


class StopWatcher:
    """Tells the run when the controller stops its trial (the agent writes a stop file)."""

    def __init__(self, context: TrialContext, request_stop: Any) -> None:
        self._marker = context.files.stop_marker(context.key)
        self._request_stop = request_stop
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, name="localtrack-sweep-stop", daemon=True
        )
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(WATCH_INTERVAL_S):
            if self._marker.exists():
                self._request_stop("the sweep controller stopped this trial")
                return

    def stop(self) -> None:
        self._done.set()
