"""TensorBoard event files → runs, read with the ``tensorboard`` package's own loader.

Every folder that holds ``events.out.tfevents.*`` files is one run (its path below the imported
folder is the run's name; the folder imported is the project). Records are read with
tensorboard's ``RawEventFileLoader`` and passed through the same compatibility steps as its
``EventFileLoader`` (``data_compat``, ``dataclass_compat``), so any writer's summaries —
PyTorch, tensorboardX, Keras, TensorFlow 1 and 2 — arrive in one shape:

=============  ==========================================================================
scalars        metric points: the tag is the key, values as written (float32 → float64
               exactly), steps, wall times (to the microsecond)
histograms     media histograms (bucket edges and counts)
images         media images (the PNG bytes as written; several per step make a gallery)
text           media tables with one ``text`` column
hparams        the session's hyperparameters → config
anything else  counted per plugin in the report (graphs, audio, PR curves, ...)
=============  ==========================================================================

A run's identity is its folder's own name and the name of its first event file (time, host,
and for PyTorch and TensorFlow 2 the process and a counter), so importing the log folder again,
moved or not, finds the same run; the folder's name keeps apart the runs of one writer whose
files share a name (tensorboardX names them by second and host only, and ``add_scalars`` writes
one folder per key at once). An event file whose end is
truncated or corrupt is read up to the last whole record, and the report says how many bytes
were skipped.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ImportSourceError
from ..media.png import png_size
from ..media.types import Histogram, Table
from ..store.media import blob_relpath
from ..store.mediaschema import MAX_BINS
from .model import ImportReport, KeyPoints, MediaPoint, SourceRun

log = logging.getLogger(__name__)

EVENT_FILE_MARK = "tfevents"
_RECORD_OVERHEAD = 16  # length (8) + its crc (4) + data crc (4)


def event_files(folder: Path) -> list[Path]:
    """The event files directly in `folder`, in the order they were written."""
    return sorted(
        p for p in folder.iterdir() if p.is_file() and EVENT_FILE_MARK in p.name.split(".")
    )


def run_folders(path: Path) -> list[Path]:
    """Every folder at or below `path` that holds event files."""
    if path.is_file():
        return [path.parent]
    found = [path] if event_files(path) else []
    found += sorted(d for d in path.rglob("*") if d.is_dir() and event_files(d))
    return found


def read_runs(path: Path, report: ImportReport) -> Iterator[SourceRun]:
    """One run per folder of event files at or below `path`."""
    folders = run_folders(path)
    if not folders:
        raise ImportSourceError(
            f"no TensorBoard event files (events.out.tfevents.*) at or below {path}"
        )
    root = path if path.is_dir() else path.parent
    for folder in folders:
        name = folder.relative_to(root).as_posix()
        project = root.name if name != "." else root.parent.name
        yield read_run(folder, name if name != "." else folder.name, project or None)


def read_run(folder: Path, name: str, project: str | None) -> SourceRun:
    """The run one folder of event files holds."""
    files = event_files(folder)
    run = SourceRun(
        source="tensorboard",
        source_id=f"{folder.name}/{files[0].name}",
        earlier_ids=(files[0].name,),  # before 2026-11-30: the first event file's name alone
        location=str(folder),
        project=project,
        name=name,
    )
    collector = _Collector(run)
    initial_metadata: dict[str, Any] = {}  # per run, as tensorboard keeps it
    for file in files:
        for event in _events(file, run, initial_metadata):
            collector.add(event)
    collector.finish()
    return run


def _events(file: Path, run: SourceRun, initial_metadata: dict[str, Any]) -> Iterator[Any]:
    """Every event of one file, migrated to today's summary shape; damage noted in `run`."""
    from tensorboard import data_compat, dataclass_compat
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto import event_pb2

    size = file.stat().st_size
    consumed = 0
    for record in RawEventFileLoader(str(file)).Load():
        consumed += len(record) + _RECORD_OVERHEAD
        try:
            event = event_pb2.Event.FromString(record)
        except Exception:  # protobuf's DecodeError; one bad record only
            run.damage.append(f"{file}: a record that is no event, skipped")
            continue
        if _plain_scalars(event):
            yield event  # what the migration would turn into a float32 scalar tensor: as is
            continue
        yield from dataclass_compat.migrate_event(
            data_compat.migrate_event(event), initial_metadata
        )
    if consumed < size:
        run.damage.append(
            f"{file}: the last {size - consumed} of {size} bytes are truncated or corrupt "
            "and were skipped"
        )


def _plain_scalars(event: Any) -> bool:
    """An event of legacy ``simple_value`` scalars only (PyTorch's add_scalar, tensorboardX)."""
    if event.WhichOneof("what") != "summary":
        return False
    values = event.summary.value
    return bool(values) and all(v.WhichOneof("value") == "simple_value" for v in values)


class _Collector:
    """Gathers one run's events into metric columns, media and config."""

    def __init__(self, run: SourceRun) -> None:
        self.run = run
        self.scalars: dict[str, tuple[list[int], list[float], list[float]]] = {}
        self.plugins: dict[str, str] = {}  # a tag's plugin, from its first value's metadata

    def add(self, event: Any) -> None:
        kind = event.WhichOneof("what")
        if event.wall_time:
            if self.run.created_at is None:
                self.run.created_at = float(event.wall_time)
            self.run.ended_at = max(self.run.ended_at or 0.0, float(event.wall_time))
        if kind == "summary":
            for value in event.summary.value:
                self._value(event, value)
        elif kind in ("graph_def", "meta_graph_def", "tagged_run_metadata"):
            self.run.unmapped[f"tensorboard: {kind.replace('_', ' ')}s"] += 1

    def _value(self, event: Any, value: Any) -> None:
        if value.WhichOneof("value") == "simple_value":
            self._scalar(event, value.tag, value.simple_value)
            return
        plugin = value.metadata.plugin_data.plugin_name or self.plugins.get(value.tag, "")
        if plugin:
            self.plugins.setdefault(value.tag, plugin)
        if plugin == "scalars" and value.HasField("tensor"):
            self._scalar(event, value.tag, _scalar_of(value.tensor))
        elif plugin == "histograms" and value.HasField("tensor"):
            self._histogram(event, value)
        elif plugin == "images" and value.HasField("tensor"):
            self._images(event, value)
        elif plugin == "text" and value.HasField("tensor"):
            texts = [_text(t) for t in _array(value).reshape(-1)]
            record, blobs = Table(columns=["text"], data=[[t] for t in texts]).encode()
            self._media(event, value.tag, record, blobs)
        elif plugin == "hparams":
            self._hparams(value)
        else:
            self.run.unmapped[f"tensorboard: {plugin or 'untyped'} summaries"] += 1

    def _scalar(self, event: Any, tag: str, number: float) -> None:
        steps, walls, values = self.scalars.setdefault(tag, ([], [], []))
        steps.append(event.step)
        walls.append(event.wall_time)
        values.append(number)

    def _histogram(self, event: Any, value: Any) -> None:
        buckets = _array(value).astype(np.float64)
        if buckets.ndim != 2 or buckets.shape[0] == 0 or buckets.shape[1] != 3:
            self.run.unmapped["tensorboard: empty histograms"] += 1
            return
        edges = np.concatenate([buckets[:1, 0], buckets[:, 1]])
        counts = buckets[:, 2]
        if len(counts) > MAX_BINS:
            self.run.unmapped[f"tensorboard: histograms of over {MAX_BINS} buckets, merged"] += 1
            edges, counts = _merge_buckets(edges, counts)
        item = Histogram(np_histogram=(counts, edges))
        if item.error:
            self.run.unmapped["tensorboard: histograms with non-finite edges"] += 1
            return
        record, blobs = item.encode()
        self._media(event, value.tag, record, blobs)

    def _images(self, event: Any, value: Any) -> None:
        encoded = list(_array(value).reshape(-1)[2:])
        for index, data in enumerate(encoded):
            size = png_size(bytes(data))
            if size is None:
                self.run.unmapped["tensorboard: images that are not PNG"] += 1
                continue
            sha = hashlib.sha256(data).hexdigest()
            record = {
                "type": "image",
                "sha256": sha,
                "file": blob_relpath(sha, "png"),
                "width": size[0],
                "height": size[1],
                "caption": None,
            }
            if len(encoded) > 1:
                record.update(index=index, count=len(encoded))
            self._media(event, value.tag, record, [(sha, "png", bytes(data))])

    def _media(self, event: Any, key: str, record: dict[str, Any], blobs: list[Any]) -> None:
        if "sha256" in record:
            record.setdefault("file", blob_relpath(record["sha256"], blobs[0][1]))
        self.run.media.append(
            MediaPoint(key, int(event.step), float(event.wall_time), record, tuple(blobs))
        )

    def _hparams(self, value: Any) -> None:
        from tensorboard.plugins.hparams import plugin_data_pb2

        data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
        if data.WhichOneof("data") != "session_start_info":
            return  # the experiment's declared domains, and session ends: nothing to keep
        config = dict(self.run.config or {})
        for name, item in data.session_start_info.hparams.items():
            kind = item.WhichOneof("kind")
            config[name] = None if kind is None else getattr(item, kind)
        self.run.config = config

    def finish(self) -> None:
        for key, (steps, walls, values) in self.scalars.items():
            self.run.metrics.append(
                KeyPoints(
                    key,
                    np.asarray(steps, dtype=np.int64),
                    np.asarray(values, dtype=np.float64),
                    (np.asarray(walls, dtype=np.float64) * 1e6).astype(np.int64),
                )
            )


def _merge_buckets(edges: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Adjacent buckets joined so at most MAX_BINS remain (counts summed, outer edges kept)."""
    width = -(-len(counts) // MAX_BINS)
    starts = np.arange(0, len(counts), width)
    return np.append(edges[starts], edges[-1]), np.add.reduceat(counts, starts)


def _scalar_of(tensor: Any) -> float:
    """A scalar tensor's value (float32 widened exactly); the common encodings read directly."""
    if len(tensor.float_val) == 1 and not tensor.tensor_content:
        return float(tensor.float_val[0])
    if len(tensor.double_val) == 1 and not tensor.tensor_content:
        return float(tensor.double_val[0])
    from tensorboard.util import tensor_util

    return float(np.asarray(tensor_util.make_ndarray(tensor)).reshape(()))


def _array(value: Any) -> np.ndarray:
    from tensorboard.util import tensor_util

    return np.asarray(tensor_util.make_ndarray(value.tensor))


def _text(item: Any) -> str:
    return item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
