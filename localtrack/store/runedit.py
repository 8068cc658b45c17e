"""Editing a finished run after the fact: ``ApiRun.update()`` and ``ApiRun.delete()``.

An edit changes run.json (the truth, DESIGN.md §4) and then the index row derived from it:
the new document is checked against ``runschema`` and replaced atomically; the index row is
rebuilt from the run directory in one transaction. A summary edit is stored as W&B-style
overrides on top of the summary computed from the metrics (``summary_overrides`` and
``summary_deleted`` in run.json), so the logged data stays as it was.

A delete drops the index rows first (a crash then leaves a run that is still whole, found again
by the next scan), renames the directory aside to a dot-name no reader lists, and removes it.
Both hold the run's writer lock and its commit lock, and refuse a run that a live process is
still writing (its writer would overwrite the edit with its own copy of run.json).

On a shared-nothing server (``--index`` + ``--blobs``, docs/deploy.md) a run lives in
PostgreSQL and the bucket: ``store.remote.edit_run`` applies the same ``edited_run_json`` in one
PostgreSQL transaction under the run's advisory lock (``ingest/pgcommits.py``), and refuses a run
whose synced heartbeat says its writer is still live, with the same message.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import DocumentError, RunNotFoundError, StoreError, UsageError
from .atomic import fsync_dir
from .indexbackend import INDEX_ERRORS
from .layout import RunPaths
from .recovery import index_run, scan_run
from .root import StoreRoot
from .runlock import WriterLock, run_lock
from .runmeta import compute_summary, effective_state, heartbeat_time, load, save
from .runschema import check_run_json
from .runstats import scan_stats

__all__ = ["EDITABLE", "delete_run", "edit_run", "edited_run_json", "refuse_live"]

EDITABLE = ("name", "notes", "tags", "group", "job_type", "config", "summary")
_INGEST_LOCKS = ("ingest", "locks")


@contextlib.contextmanager
def _held(store: StoreRoot, run_id: str) -> Iterator[None]:
    """The run's writer lock and commit lock, or StoreError when a live process writes it."""
    writer = WriterLock(store.root, run_id)
    if not writer.acquire():
        raise _live(run_id)
    try:
        with run_lock(store.root.joinpath(*_INGEST_LOCKS), run_id):
            yield
    finally:
        writer.release()


def _live(run_id: str) -> StoreError:
    return StoreError(
        f"run {run_id} is still being written by a live process; edit it after it finishes "
        "(or change it from the training script: run.tags, run.notes, run.summary)"
    )


def refuse_live(run_id: str, meta: Mapping[str, Any], paths: RunPaths) -> None:
    """StoreError when run.json and the synced heartbeat say the run's writer is still live
    (a run in the object store has no writer lock on this machine: its heartbeat is the sign)."""
    if effective_state(meta, heartbeat_time(paths.heartbeat)) == "running":
        raise _live(run_id)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(type(a) is type(b) and a == b) or (
        isinstance(a, int | float) and isinstance(b, int | float) and a == b
    )


def _summary_fields(paths: RunPaths, meta: Mapping[str, Any], wanted: Any) -> dict:
    """The overrides and deletions that make the run's summary read `wanted`."""
    if not isinstance(wanted, Mapping):
        raise UsageError(f"summary must be a mapping, not {type(wanted).__name__}")
    base_meta = {k: v for k, v in meta.items() if k not in ("summary_overrides", "summary_deleted")}
    base = compute_summary(base_meta, scan_stats(paths).stats)
    overrides = {str(k): v for k, v in wanted.items() if k not in base or not _same(base[k], v)}
    deleted = sorted(k for k in base if k not in wanted)
    return {"summary_overrides": overrides or None, "summary_deleted": deleted or None}


def _checked(run_id: str, name: str, value: Any, kind: type) -> Any:
    """`value` when it is a `kind` (tags: a list, tuple too; config: a mapping)."""
    if isinstance(value, kind) or (kind is list and isinstance(value, tuple)):
        return value
    what = "a list of strings" if kind is list else "a mapping of names to values"
    raise UsageError(
        f"cannot update run {run_id}: {name} must be {what}, not {type(value).__name__}"
    )


def edited_run_json(
    run_id: str, meta: Mapping[str, Any], changes: Mapping[str, Any], paths: RunPaths
) -> dict[str, Any]:
    """`meta` (a run's run.json) with `changes` applied and checked against ``runschema``;
    UsageError naming the field otherwise. `paths`: the run, for the summary computed from
    its metrics (a summary edit is kept as overrides over it)."""
    new = dict(meta)
    for name, value in changes.items():
        if name == "summary":
            new.update(_summary_fields(paths, meta, value))
        elif name == "tags":
            new["tags"] = None if value is None else list(_checked(run_id, name, value, list))
        elif name == "config":
            new["config"] = None if value is None else dict(_checked(run_id, name, value, Mapping))
        else:
            new[name] = value
    try:
        check_run_json(new, f"run {run_id}")
    except DocumentError as exc:
        raise UsageError(f"cannot update run {run_id}: {exc}") from None
    return new


def edit_run(store: StoreRoot, run_id: str, changes: Mapping[str, Any]) -> None:
    """Apply `changes` (fields of EDITABLE) to a run's run.json and index row."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise UsageError(f"cannot change {', '.join(unknown)}; editable: {', '.join(EDITABLE)}")
    if store.remote is not None and store.remote.view(run_id) is not None:

        def change(meta: dict[str, Any], paths: RunPaths) -> dict[str, Any]:
            refuse_live(run_id, meta, paths)
            return edited_run_json(run_id, meta, changes, paths)

        store.remote.edit_run(run_id, change)
        return
    paths = store.run(run_id)
    with _held(store, run_id):
        if not paths.run_json.is_file():
            raise RunNotFoundError(f"no run {run_id!r} in {store.root}")
        save(paths.run_json, edited_run_json(run_id, load(paths.run_json), changes, paths))
        _reindex(store, run_id)


def _reindex(store: StoreRoot, run_id: str) -> None:
    index = store.open_index()
    if index is None:
        return  # no usable index here (a network file system): readers scan run.json
    try:
        index_run(index, scan_run(store.run(run_id)))
    except INDEX_ERRORS as exc:
        raise StoreError(
            f"run {run_id} was changed, but the index could not be updated ({exc}); "
            "`localtrack reindex` repairs it"
        ) from exc
    finally:
        index.close()


def delete_run(store: StoreRoot, run_id: str) -> None:
    """Remove a run: its index rows, then its directory (never following a link out); on a
    shared-nothing server, its rows in PostgreSQL (``run_files`` and the index) for every replica."""
    if store.remote is not None and store.remote.view(run_id) is not None:
        store.remote.delete_run(run_id)
        if not store.paths.run(run_id).dir.is_dir():
            return  # else a directory from before the store moved goes too
    paths = store.run(run_id)
    if paths.dir.is_symlink():
        raise StoreError(f"{paths.dir} is a link, not a run directory; remove it by hand")
    if not paths.dir.is_dir():
        raise RunNotFoundError(f"no run {run_id!r} in {store.root}")
    with _held(store, run_id):
        index = store.open_index()
        if index is not None:
            try:
                with index.transaction():
                    index.delete_run(run_id)
                    index.bump_changes()
            finally:
                index.close()
        aside = paths.dir.with_name(f".{run_id}.deleting-{secrets.token_hex(4)}")
        os.rename(paths.dir, aside)
        fsync_dir(paths.dir.parent)
        shutil.rmtree(aside)
