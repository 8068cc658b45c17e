"""localtrack.init(): create or resume a run and start its background writer."""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import shutil
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import RunExistsError, RunNotFoundError, UsageError
from ..naming import new_run_id, new_run_name
from ..settings import Settings, from_env, resolve_dir
from ..store.layout import RunPaths, is_valid_run_id
from ..store.root import StoreRoot
from ..store.runlock import WriterLock
from ..store.runmeta import MetaDocument
from ..store.writer import RunWriter, WriterOptions
from . import lifecycle, startmeta
from .disabled import DisabledRun
from .init_args import (
    as_settings,
    fill_from_environment,
    filter_config,
)
from .live import Run
from .wandb_names import check_init_arguments

log = logging.getLogger(__name__)
MODES = ("offline", "disabled", "online")
RESUME = (None, "allow", "must", "never")
ONLINE_SEAL_INTERVAL_S = 15.0


def _ddp_rank() -> int | None:
    # Environment facts set by the launcher (torchrun, SLURM), not settings.
    for var in ("RANK", "LOCAL_RANK", "SLURM_PROCID"):
        value = os.environ.get(var)
        if value is not None and value.strip().isdigit():
            if var == "SLURM_PROCID" and "WORLD_SIZE" not in os.environ:
                continue
            return int(value)
    return None


def init(
    project: str | None = None,
    name: str | None = None,
    id: str | None = None,
    config: Mapping[str, Any] | Any | None = None,
    tags: Sequence[str] | None = None,
    notes: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    entity: str | None = None,
    dir: str | os.PathLike[str] | None = None,
    mode: str | None = None,
    resume: str | bool | None = None,
    settings: Settings | Mapping[str, Any] | None = None,
    reinit: bool | str | None = None,
    config_exclude_keys: Sequence[str] | None = None,
    config_include_keys: Sequence[str] | None = None,
    allow_val_change: bool | None = None,
    save_code: bool | None = None,
    sync_tensorboard: bool | str | os.PathLike[str] | None = None,
    **unused: Any,
) -> Run | DisabledRun:
    """Start a run (or resume one) and return it. Logging never touches the network.

    Example::

        run = localtrack.init(project="mnist", config={"lr": 1e-3})
        for step in range(100):
            run.log({"train/loss": 1 / (step + 1)})
        run.finish()

    ``sync_tensorboard=True`` mirrors the scalars of every SummaryWriter created afterwards into
    the run (a folder instead of True: the event files below it); docs/import-export.md.

    W&B's other arguments are accepted (``reinit``, ``magic``...; see
    docs/wandb.md); any argument unknown to both is a UsageError naming the closest one.
    Arguments left out come from ``LOCALTRACK_*`` (else ``WANDB_*``) variables, e.g.
    ``WANDB_PROJECT``, ``WANDB_RUN_ID`` and ``WANDB_RESUME``.
    """
    if unused:
        check_init_arguments(unused, set(inspect.signature(init).parameters) - {"unused"})
    settings = as_settings(settings)
    given = {"project": project, "name": name, "id": id, "tags": tags, "notes": notes}
    given |= {"group": group, "job_type": job_type, "entity": entity, "resume": resume}
    given = fill_from_environment(dict(given, dir=dir), settings)
    project, name, id, tags, notes = (given[k] for k in ("project", "name", "id", "tags", "notes"))
    group, job_type, entity, resume, dir = (
        given[k] for k in ("group", "job_type", "entity", "resume", "dir")
    )
    config = filter_config(config, config_include_keys, config_exclude_keys)
    resolved = settings.resolved()
    if save_code is not None:
        resolved["save_code"] = bool(save_code)
    mode = mode or resolved["mode"]
    mode = {"dryrun": "offline", "run": "online"}.get(mode, mode)
    if mode not in MODES:
        raise UsageError(f"mode must be 'offline', 'online' or 'disabled', not {mode!r}")
    if resume is True or resume == "auto":
        resume = "allow"
    if resume is False:
        resume = None
    if resume not in RESUME:
        raise UsageError(f"resume must be None, 'allow', 'must' or 'never', not {resume!r}")
    if mode == "online" and settings.seal_interval is None and from_env("seal_interval") is None:
        resolved["seal_interval"] = ONLINE_SEAL_INTERVAL_S  # the server sees sealed data only
    trial = _sweep_trial()
    if trial is not None:  # started by `localtrack agent`: join its sweep (localtrack/sweeps)
        given = {"project": project, "id": id, "config": config, "group": group, "dir": dir}
        joined = trial.init_arguments(given)
        project, id, config, group, dir = (joined[k] for k in given)
    rank = _ddp_rank()
    if mode == "disabled" or (rank not in (None, 0) and not resolved["per_rank"]):
        return DisabledRun(project=project, name=name, config=config)
    previous = lifecycle.current()
    if previous is not None and reinit in (False, "return_previous"):
        return previous
    if previous is not None and reinit != "create_new":
        previous.finish()  # W&B's default, reinit=True and "finish_previous"
    if rank is not None and resolved["per_rank"]:
        name = f"{name or new_run_name()}-rank{rank}"
    run_id = id or new_run_id()
    if not isinstance(run_id, str) or not is_valid_run_id(run_id):
        raise UsageError(
            f"run id {run_id!r} is not usable: use 1-128 letters, digits, '_', '-' or '.'"
        )
    store = _open_store(dir, resolved["index"])
    fields = {
        "project": project,
        "name": name,
        "notes": notes,
        "tags": tags,
        "group": group,
        "job_type": job_type,
        "entity": entity,
    }
    lock = WriterLock(store.root, run_id)
    if not lock.acquire():
        raise RunExistsError(
            f"run {run_id!r} is being written right now by another process (or another run in "
            "this one); only one process may write a run. Wait for it to finish, or choose "
            "another id."
        )
    paths = store.run(run_id)
    created = run = None
    try:  # nothing is written before the lock is held; a failure undoes what this call made
        if paths.run_json.exists():
            if resume in (None, "never"):
                raise RunExistsError(
                    f"run {run_id!r} already exists in {store.root}. Pass resume='allow' to "
                    "continue it, or leave out id= to start a new run."
                )
            meta, stats, shards = startmeta.resume_meta(paths, fields, config, resolved)
        else:
            if resume == "must":
                raise RunNotFoundError(
                    f"resume='must' but there is no run {run_id!r} in {store.root} to resume"
                )
            meta, stats, shards = startmeta.new_meta(run_id, fields, config, resolved), {}, []
            created = not paths.dir.exists()
            paths.dir.mkdir(parents=True, exist_ok=True)
        run = _start(store, paths, meta, stats, shards, resolved, lock)
        locked = (trial.attempt.claim.get("config") or {}) if trial is not None else {}
        run.config._set_rules(bool(allow_val_change), locked)
        if mode == "online":
            from ..sync.online import start_online

            run.attach_background(start_online(run, settings))
        if sync_tensorboard:
            run.attach_background(_start_tensorboard_mirror(run, sync_tensorboard))
        if trial is not None:
            from ..sweeps.trial import StopWatcher

            run.attach_background(StopWatcher(trial, run._request_stop))
    except BaseException:
        _undo(store, paths, run, lock, bool(created))
        raise
    return run


def _sweep_trial() -> Any:
    """The sweep trial an agent started this process (or function call) for, if any."""
    if from_env("sweep_id") is None:
        return None
    from ..sweeps.trial import current_trial

    return current_trial()


def _open_store(dir: str | os.PathLike[str] | None, index_mode: str) -> StoreRoot:
    """The store at dir= (or its default), created if needed; UsageError if it cannot be one."""
    root = resolve_dir(dir)
    if root.exists() and not root.is_dir():
        raise UsageError(f"init(dir=...): {root} is a file, not a directory; pass a directory")
    try:
        # index_url="": a training process writes its store's own index.db, never a server's
        # PostgreSQL index (LOCALTRACK_INDEX_URL is a server setting)
        return StoreRoot(root, create=True, index_mode=index_mode, index_url="")
    except (NotADirectoryError, FileExistsError) as exc:
        raise UsageError(
            f"init(dir=...): cannot make a store at {root}: a part of that path is a file ({exc})"
        ) from None


def _undo(
    store: StoreRoot, paths: RunPaths, run: Run | None, lock: WriterLock, created: bool
) -> None:
    """After a failed init(): stop what started and remove a run directory this call made."""
    try:
        if run is not None:
            _abandon(run)
        if created:
            shutil.rmtree(paths.dir, ignore_errors=True)
            _forget_in_index(store, paths.run_id)
    finally:
        lock.release()


def _forget_in_index(store: StoreRoot, run_id: str) -> None:
    index = store.open_index()
    if index is None:
        return
    try:
        with index.transaction():
            index.delete_run(run_id)
            index.bump_changes()
    except sqlite3.Error as exc:
        log.warning("run %s: could not remove it from the index (%s)", run_id, exc)
    finally:
        index.close()


def _start(
    store: StoreRoot,
    paths: RunPaths,
    meta: dict[str, Any],
    stats: dict,
    shards: list,
    settings: dict[str, Any],
    lock: WriterLock | None = None,
) -> Run:
    meta.pop("failure", None)  # a resumed run is running again
    meta.pop("exit_reason", None)
    document = MetaDocument(paths.run_json, meta)
    document.save()
    dtypes = {key: s.dtype for key, s in stats.items()}
    options = WriterOptions(
        flush_interval_s=settings["flush_interval"],
        seal_scalars=settings["seal_scalars"],
        seal_interval_s=settings["seal_interval"],
    )
    segment = meta["segments"][-1]["segment"]
    writer = RunWriter(
        paths, segment, document, store.open_index, dtypes, dict(stats), shards, options
    )
    run = Run(paths, document, writer, settings, meta["segments"][-1]["first_step"], lock)
    try:
        writer.publish_meta()
        writer.start()
        if settings["system_metrics"]:
            run.attach_background(_start_sampler(paths, writer, stats, settings))
        from ..capture.console import start_for_run

        first = lifecycle.current() is None  # before the environment thread edits "system"
        run.attach_background(start_for_run(paths.files, settings["console"], first, document))
        run.attach_background(_start_environment(paths, document, settings))
        lifecycle.remember(run)
    except BaseException:
        _abandon(run)
        raise
    return run


def _abandon(run: Run) -> None:
    """Stop the writer and workers of a run whose init() failed; the lock stays with init()."""
    run._writer_lock = None
    with contextlib.suppress(Exception):
        run.finish(exit_code=1)


def _start_tensorboard_mirror(run: Run, target: bool | str | os.PathLike[str]) -> Any:
    """Hand the scalars of live TensorBoard event files to the run's writer, as system metrics
    are (localtrack/importers/tbwatch.py)."""
    from ..importers.tbwatch import TensorBoardMirror

    writer = run._writer

    def emit(step: int, wall: float, values: dict[str, float]) -> None:
        for key in values:
            writer.dtypes.setdefault(key, "float")
        writer.queue.append((step, wall, values))

    return TensorBoardMirror(emit, target, drain=run._drain_queued_rows).start()


def _start_environment(paths: RunPaths, document: MetaDocument, settings: dict[str, Any]):
    from ..capture.environment import EnvironmentCapture

    def record(environment: dict[str, Any]) -> None:
        system = document.get("system") or {}
        system["environment"] = environment
        document.update(system=system)

    return EnvironmentCapture(
        paths.files, settings["capture_packages"], settings["save_code"], record
    )


def _start_sampler(paths: RunPaths, writer: RunWriter, stats: dict, settings: dict[str, Any]):
    from ..capture.system_metrics import PREFIX, HostSampler, SystemMetricsThread, load_nvml

    try:
        sampler = HostSampler(paths.dir, load_nvml())
    except Exception as exc:  # psutil missing or unusable: the run goes on without it
        log.debug("no system metrics: %s", exc)
        return None
    done = [s.max_step for k, s in stats.items() if k.startswith(PREFIX) and s.max_step is not None]

    def emit(step: int, wall: float, values: dict[str, float]) -> None:
        for key in values:
            writer.dtypes.setdefault(key, "float")
        writer.queue.append((step, wall, values))

    interval = float(settings["system_metrics_interval"])
    return SystemMetricsThread(sampler.sample, emit, interval, max(done, default=-1) + 1).start()
