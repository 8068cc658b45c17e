"""The meta document (run.json) a new or resumed run starts with: its fields, config versions
and one segment per writing process. Used by ``init`` (``liverun/init.py``)."""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from ..capture import sysinfo
from ..errors import RunExistsError
from ..naming import new_run_name
from ..store.layout import RunPaths
from ..store.runmeta import current_boot_id, effective_state, heartbeat_time, load
from .init_args import check_arguments, config_dict

log = logging.getLogger(__name__)


def segment_record(segment: int, first_step: int) -> dict[str, Any]:
    """One writing process's segment of a run: where and since when it writes."""
    return {
        "segment": segment,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "boot_id": current_boot_id(),
        "started_at": time.time(),
        "first_step": first_step,
        "ended_at": None,
        "exit_code": None,
    }


def new_meta(
    run_id: str, fields: dict[str, Any], config: Any, settings: dict[str, Any]
) -> dict[str, Any]:
    """A new run's meta document (run.json) from init's checked arguments."""
    check_arguments(fields)
    now = time.time()
    cfg = config_dict(config)
    return {
        "id": run_id,
        "project": fields["project"] or "uncategorized",
        "entity": fields["entity"] or None,
        "name": fields["name"] or new_run_name(),
        "notes": fields["notes"],
        "tags": sorted({str(t) for t in (fields["tags"] or [])}),
        "group": fields["group"],
        "job_type": fields["job_type"],
        "state": "running",
        "created_at": now,
        "updated_at": now,
        "ended_at": None,
        "exit_code": None,
        "config": cfg,
        "config_versions": [{"version": 1, "segment": 0, "time": now, "config": cfg}],
        "summary_overrides": {},
        "metric_definitions": [],
        "segments": [segment_record(0, 0)],
        "system": sysinfo.capture(with_git=settings["capture_git"]),
    }


def resume_meta(
    paths: RunPaths, fields: dict[str, Any], config: Any, settings: dict[str, Any]
) -> tuple[dict[str, Any], Any, Any]:
    """A resumed run's meta document with a new segment, after its files were repaired and
    scanned: (meta, per-key stats, shards). Refuses a run another live process writes."""
    check_arguments(fields)
    meta = load(paths.run_json)
    if effective_state(meta, heartbeat_time(paths.heartbeat)) == "running":
        seg = (meta.get("segments") or [{}])[-1]
        raise RunExistsError(
            f"run {meta['id']!r} is being written right now (pid {seg.get('pid')} on "
            f"{seg.get('host')}); only one process may write a run. Stop it first, or wait "
            f"{settings['stale_after']:.0f} s after it died."
        )
    from ..store.recovery import repair_run, scan_run  # pyarrow: only a resume reads data

    report = repair_run(paths)
    for action in report.actions:
        log.info("run %s: %s", meta["id"], action)
    scan = scan_run(paths)
    meta = scan.meta
    steps = [s.max_step for s in scan.stats.values() if s.max_step is not None]
    first_step = max(steps) + 1 if steps else 0
    segments = list(meta.get("segments") or [])
    segments.append(segment_record(len(segments), first_step))
    if fields["project"] and fields["project"] != meta.get("project"):
        log.warning(
            "resuming run %s of project %r; project=%r ignored",
            meta["id"],
            meta.get("project"),
            fields["project"],
        )
    for key in ("name", "notes", "group", "job_type"):
        if fields[key]:
            meta[key] = fields[key]
    if fields["tags"]:
        meta["tags"] = sorted(set(meta.get("tags") or []) | {str(t) for t in fields["tags"]})
    old_cfg = dict(meta.get("config") or {})
    new_cfg = dict(old_cfg, **config_dict(config))
    versions = list(meta.get("config_versions") or [])
    if new_cfg != old_cfg:
        versions.append(
            {
                "version": len(versions) + 1,
                "segment": len(segments) - 1,
                "time": time.time(),
                "config": new_cfg,
            }
        )
    meta.update(
        state="running",
        ended_at=None,
        exit_code=None,
        segments=segments,
        config=new_cfg,
        config_versions=versions,
        updated_at=time.time(),
    )
    return meta, scan.stats, scan.shards
