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
from .recovery import index_run, scan_run
from .root import StoreRoot
from .runlock import WriterLock, run_lock
from .runmeta import compute_summary, load, save
from .runschema import check_run_json
from .runstats import scan_stats

__all__ = ["EDITABLE", "delete_run", "edit_run"]

EDITABLE = ("name", "notes", "tags", "group", "job_type", "config", "summary")
_INGEST_LOCKS = ("ingest", "locks")


@contextlib.contextmanager
def _held(store: StoreRoot, run_id: str) -> Iterator[None]:
    """The run's writer lock and commit lock, or StoreError when a live process writes it."""
    writer = WriterLock(store.root, run_id)
    if not writer.acquire():
        raise StoreError(
            f"run {run_id} is still being written by a live process; edit it after it finishes "
            "(or change it from the training script: run.tags, run.notes, run.summary)"
        )
    try:
        with run_lock(store.root.joinpath(*_INGEST_LOCKS), run_id):
            yield
    finally:
        writer.release()


def _refuse_shared(store: StoreRoot, run_id: str) -> None:
    """UsageError for a run a shared-nothing server reads from the object store: such runs
    cannot be edited yet (docs/deploy.md)."""
    if store.remote is not None and store.remote.view(run_id) is not None:
        raise UsageError(
            f"run {run_id} lives in the object store (a server with --index and --blobs): it "
            "cannot be edited through the server yet; change it where it was logged and sync again"
        )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(type(a) is type(b) and a == b) or (
        isinstance(a, int | float) and isinstance(b, int | float) and a == b
    )


def _summary_fields(store: StoreRoot, run_id: str, meta: Mapping[str, Any], wanted: Any) -> dict:
    """The overrides and deletions that make the run's summary read `wanted`."""
    if not isinstance(wanted, Mapping):
        raise UsageError(f"summary must be a mapping, not {type(wanted).__name__}")
    base_meta = {k: v for k, v in meta.items() if k not in ("summary_overrides", "summary_deleted")}
    base = compute_summary(base_meta, scan_stats(store.run(run_id)).stats)
    overrides = {str(k): v for k, v in wanted.items() if k not in base or not _same(base[k], v)}
    deleted = sorted(k for k in base if k not in wanted)
    return {"summary_overrides": overrides or None, "summary_deleted": deleted or None}


def edit_run(store: StoreRoot, run_id: str, changes: Mapping[str, Any]) -> None:
    """Apply `changes` (fields of EDITABLE) to a run's run.json and index row."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise UsageError(f"cannot change {', '.join(unknown)}; editable: {', '.join(EDITABLE)}")
    _refuse_shared(store, run_id)
    paths = store.run(run_id)
    with _held(store, run_id):
        if not paths.run_json.is_file():
            raise RunNotFoundError(f"no run {run_id!r} in {store.root}")
        meta = load(paths.run_json)
        new = dict(meta)
        for name, value in changes.items():
            if name == "summary":
                new.update(_summary_fields(store, run_id, meta, value))
            elif name == "tags":
                new["tags"] = list(value) if value is not None else None
            elif name == "config":
                new["config"] = dict(value) if value is not None else None
            else:
                new[name] = value
        try:
            check_run_json(new, f"run {run_id}")
        except DocumentError as exc:
            raise UsageError(f"cannot update run {run_id}: {exc}") from None
        save(paths.run_json, new)
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
