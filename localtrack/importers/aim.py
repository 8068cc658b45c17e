"""Aim repositories → runs, read through the ``aim`` SDK (``pip install 'localtrack[aim]'``).

PATH is the folder holding an Aim repository (its ``.aim`` folder) or the ``.aim`` folder itself.

=====================  =====================================================================
run hash               the run's identity: importing again adds only what is new
experiment             project
name, description,     name, notes, tags, created and ended
tags, times
state                  finished (it has an end time), running (its lock is held), crashed
                       (no end time, and the process that held its lock is gone)
params (``run[k]``)    config (Aim's own ``__system_params`` left out, counted)
metrics                every point of each (name, context): the key is the name, with the
                       context as ``/k=v`` parts (``loss/subset=train``); steps, values
                       exactly as tracked (ints stay ints), wall times
images                 media images (PNG as Aim stored it; a list at one step: a gallery)
distributions          media histograms (Aim's bin counts over its range)
texts                  media tables with one ``text`` column
terminal logs          files/output.log
=====================  =====================================================================

Audio, figures, metric epochs and other sequences are counted in the report. A run whose
metadata is damaged is skipped, and a sequence whose data is damaged is skipped; the report says
which.

Aim keeps the list of runs in an index that only ``aim up`` and ``aim storage reindex`` build,
by writing into the repository; a run written by the SDK alone is not in it. The importer never
writes into the source: it copies the ``.aim`` folder to a temporary folder, indexes every run
there with Aim's own index manager, and reads the copy through ``aim.Repo``.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ImportSourceError
from ..media.png import png_size
from ..media.types import Histogram, Table
from ..store.media import blob_relpath
from .model import ImportReport, KeyPoints, MediaPoint, SourceRun

_METRIC_DTYPES = {"float": "float", "int": "int", "number": "float"}
_IMAGES = ("aim.image", "list(aim.image)")
_TEXTS = ("aim.text", "list(aim.text)")


def aim_folder(path: Path) -> Path:
    """The ``.aim`` folder at `path`; ImportSourceError when there is none."""
    for candidate in (path, path / ".aim"):
        if candidate.name == ".aim" and (candidate / "meta" / "chunks").is_dir():
            return candidate
    raise ImportSourceError(f"no Aim repository at {path}: pass the folder that holds .aim")


def read_runs(path: Path, report: ImportReport) -> Iterator[SourceRun]:
    from aim import Repo
    from aim.sdk.index_manager import RepoIndexManager
    from aim.sdk.lock_manager import LockManager

    source = aim_folder(path)
    with tempfile.TemporaryDirectory(prefix="localtrack-aim-") as tmp:
        copy = Path(tmp) / ".aim"
        shutil.copytree(source, copy, symlinks=True)
        hashes = sorted(p.name for p in (copy / "meta" / "chunks").iterdir() if p.is_dir())
        indexer = RepoIndexManager(Repo(str(copy.parent)))
        for run_hash in hashes:
            indexer.index(run_hash)
        indexer.repo.close()
        repo = Repo(str(copy.parent))
        locks = LockManager(copy)
        try:
            for run_hash in hashes:
                aim_run = repo.get_run(run_hash)
                if aim_run is None:
                    problem = "its metadata could not be read (damaged)"
                    report.damage.append(f"{source}: run {run_hash}: {problem}")
                    continue
                yield read_run(aim_run, str(source), _state(aim_run, locks))
        finally:
            repo.close()


def _state(aim_run: Any, locks: Any) -> str:
    """Aim's own reading of a run's lock: held by a live process, or left by a dead one."""
    if aim_run.end_time:
        return "finished"
    info = locks.get_run_lock_info(aim_run.hash)
    if not info.locked:
        return "crashed"
    lock = locks.locks_path / locks.softlock_fname(aim_run.hash)
    return "crashed" if lock.is_file() and locks.is_stalled_lock(lock) else "running"


def read_run(aim_run: Any, location: str, state: str) -> SourceRun:
    """One Aim run as a SourceRun."""
    end = aim_run.end_time
    run = SourceRun(
        source="aim",
        source_id=aim_run.hash,
        location=location,
        project=aim_run.experiment or None,
        name=aim_run.name or aim_run.hash,
        notes=aim_run.description or None,
        tags=[str(t) for t in aim_run.tags],
        created_at=aim_run.creation_time,
        ended_at=end,
        state=state,
    )
    params = aim_run.meta_run_attrs_tree.collect()
    run.config = {k: v for k, v in params.items() if not str(k).startswith("__")}
    if len(run.config) < len(params):
        run.unmapped["aim: system params (__system_params)"] += 1
    traces = aim_run.meta_run_tree.subtree("traces")
    for ctx_idx in traces.keys():  # noqa: SIM118 (an Aim TreeView, not a dict)
        context = aim_run.idx_to_ctx(ctx_idx)
        for name, info in traces[ctx_idx].items():
            problem = _read_sequence(aim_run, run, name, context, info)
            if problem is not None:
                key = _key(name, context)
                run.damage.append(f"{location}: run {aim_run.hash}, {key}: {problem}")
    return run


def _read_sequence(aim_run: Any, run: SourceRun, name: str, context: Any, info: Any) -> str | None:
    """Map one sequence into `run`; what was wrong with its data, if anything.

    Aim's metadata keeps each sequence's last step: data that ends sooner lost its end (RocksDB
    drops a damaged log's records without an error), which the report says."""
    from aimrocks.errors import Corruption, RocksIOError

    dtype = str(info.get("dtype", "float"))
    try:
        last = _sequence(aim_run, run, name, context, dtype)
    except (Corruption, RocksIOError) as exc:
        return f"its data is damaged ({type(exc).__name__})"
    expected = info.get("last_step")
    if last is not False and isinstance(expected, int) and last != expected:
        found = "no data" if last is None else f"data up to step {last}"
        return f"its data is damaged: Aim's metadata says it reached step {expected}, found {found}"
    return None


def _key(name: str, context: Any) -> str:
    parts = sorted(context.to_dict().items())
    return "/".join([name, *(f"{k}={v}" for k, v in parts)])


def _sequence(aim_run: Any, run: SourceRun, name: str, context: Any, dtype: str) -> Any:
    """Map one sequence into `run`: its last step (None: no data), False for a kind not mapped."""
    key = _key(name, context)
    if dtype in _METRIC_DTYPES:
        return _metric(aim_run.get_metric(name, context), run, key, _METRIC_DTYPES[dtype])
    if dtype == "aim.log_line" and name == "logs":
        items = list(_items(aim_run.get_terminal_logs()))
        run.files["output.log"] = "\n".join(str(v) for _, _, v in items).encode()  # Aim's lines
        return items[-1][0] if items else None
    if dtype in _IMAGES:
        items = list(_items(aim_run.get_image_sequence(name, context)))
        for step, wall, value in items:
            images = value if isinstance(value, list) else [value]
            for index, image in enumerate(images):
                _image(run, key, step, wall, image, index, len(images))
    elif dtype == "aim.distribution":
        items = list(_items(aim_run.get_distribution_sequence(name, context)))
        for step, wall, value in items:
            counts, edges = value.to_np_histogram()
            record, _ = Histogram(np_histogram=(counts, edges)).encode()
            run.media.append(MediaPoint(key, step, wall, record))
    elif dtype in _TEXTS:
        items = list(_items(aim_run.get_text_sequence(name, context)))
        for step, wall, value in items:
            texts = value if isinstance(value, list) else [value]
            record, blobs = Table(columns=["text"], data=[[t.data] for t in texts]).encode()
            run.media.append(MediaPoint(key, step, wall, record, tuple(blobs)))
    else:
        run.unmapped[f"aim: {dtype} sequences"] += 1
        return False
    return max(step for step, _, _ in items) if items else None


def _items(sequence: Any) -> Iterator[tuple[int, float, Any]]:
    """(step, wall time, value) of every item of an Aim sequence."""
    if sequence is None:
        return
    steps, (values, _epochs, walls) = sequence.data.items_list()
    yield from zip(steps, walls, values, strict=True)


def _metric(sequence: Any, run: SourceRun, key: str, dtype: str) -> int | None:
    if sequence is None:
        return None
    steps, (values, epochs, walls) = sequence.data.items_list()
    run.metrics.append(
        KeyPoints(
            key,
            np.asarray(steps, dtype=np.int64),
            np.asarray(values, dtype=np.float64),
            (np.asarray(walls, dtype=np.float64) * 1e6).astype(np.int64),
            dtype,
        )
    )
    if any(e is not None and e == e for e in epochs):  # NaN or None: no epoch
        run.unmapped["aim: metric epochs"] += 1
    return int(max(steps)) if steps else None


def _image(
    run: SourceRun, key: str, step: int, wall: float, image: Any, index: int, count: int
) -> None:
    data = bytes(image.storage["data"].load())
    size = png_size(data)
    if size is None:
        run.unmapped[f"aim: {image.format} images (only PNG is kept)"] += 1
        return
    sha = hashlib.sha256(data).hexdigest()
    record: dict[str, Any] = {
        "type": "image",
        "sha256": sha,
        "file": blob_relpath(sha, "png"),
        "width": size[0],
        "height": size[1],
        "caption": image.caption or None,
    }
    if count > 1:
        record.update(index=index, count=count)
    run.media.append(MediaPoint(key, step, wall, record, ((sha, "png", data),)))
