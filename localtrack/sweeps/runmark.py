"""Marking a trial's run ``stopped`` after its process ended some other way (SIGTERM, SIGKILL)."""

from __future__ import annotations

import logging

from ..store.recovery import index_run, repair_run, scan_run
from ..store.root import StoreRoot
from ..store.runmeta import load, save

log = logging.getLogger(__name__)


def mark_run_stopped(root: StoreRoot, run_id: str, reason: str) -> None:
    """Seal what the ended run left (as doctor --repair would), then record it ``stopped``."""
    paths = root.run(run_id)
    if not paths.run_json.exists():
        return
    try:
        repair_run(paths)
        meta = load(paths.run_json)
        if meta.get("state") == "running":
            return  # its writer still lives: it records its own end
        meta["state"] = "stopped"
        save(paths.run_json, meta)
        index = root.open_index()
        if index is not None:
            try:
                index_run(index, scan_run(paths))
            finally:
                index.close()
    except Exception as exc:  # the result file still says stopped
        log.warning("run %s: could not mark it stopped (%s): %s", run_id, reason, exc)
