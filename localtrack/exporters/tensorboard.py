"""localtrack runs → TensorBoard event files, written with the ``tensorboard`` package's writer.

Each run becomes one folder, ``<out>/<project>/<run id>``, that any TensorBoard opens:

=============  ===========================================================================
metrics        scalar summaries (float64 tensors of the ``scalars`` plugin, so no value
               is rounded to float32), with their steps and wall times
histograms     ``histograms`` plugin tensors (left edge, right edge, count per bucket)
images         ``images`` plugin tensors (width, height, the PNG bytes)
text           tables of one ``text`` column (what ``import-from tensorboard`` makes of
               text): ``text`` plugin tensors, one string per row
=============  ===========================================================================

Wall times are written as the stored microsecond plus half a microsecond, so a reader that
truncates to microseconds (``import-from tensorboard``) gets the stored time back exactly.
System metrics (``system/...``) are written like any other key. Other media kinds are counted.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import UsageError
from ..store.reader import StoreReader
from .runcontent import table_rows


@dataclass
class ExportReport:
    """What ``export_runs`` wrote: a folder per run, and what it could not write, by kind."""

    folders: dict[str, str] = field(default_factory=dict)  # run id → folder
    points: int = 0
    media: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


def export_runs(
    root: Path | str, run_ids: list[str], out: Path | str, report: ExportReport | None = None
) -> ExportReport:
    """Write each run's metrics and media as event files below `out`."""
    reader = StoreReader(root)
    report = report or ExportReport()
    for run_id in run_ids:
        info = reader.run(run_id)
        folder = Path(os.fspath(out)) / (info.project or "uncategorized") / info.id
        if folder.exists() and any(folder.iterdir()):
            raise UsageError(
                f"{folder} is not empty: export into a new folder (event files would repeat)"
            )
        _write_run(reader, info.id, folder, report)
        report.folders[info.id] = str(folder)
    return report


def _write_run(reader: StoreReader, run_id: str, folder: Path, report: ExportReport) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    folder.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(folder), max_queue_size=1024, flush_secs=3600)
    try:
        table = reader.long_table(run_id)
        for event in _scalar_events(table, event_pb2, summary_pb2):
            writer.add_event(event)
            report.points += 1
        for item in reader.media(run_id):
            value = _media_value(reader, run_id, item, summary_pb2)
            if value is None:
                report.skipped[f"tensorboard: {item.type} media"] += 1
                continue
            writer.add_event(
                event_pb2.Event(
                    wall_time=item.wall_time,
                    step=item.step,
                    summary=summary_pb2.Summary(value=[value]),
                )
            )
            report.media += 1
    finally:
        writer.close()


def _scalar_events(table: pa.Table, event_pb2: Any, summary_pb2: Any) -> Any:
    from tensorboard.plugins.scalar import metadata
    from tensorboard.util import tensor_util

    keys = table.column("key").to_pylist()
    steps = table.column("step").to_numpy()
    values = table.column("value").to_numpy(zero_copy_only=False)
    walls = table.column("wall_time").cast(pa.int64()).to_numpy()
    described: set[str] = set()
    for key, step, value, wall in zip(keys, steps, values, walls, strict=True):
        tensor = tensor_util.make_tensor_proto(np.float64(value))
        summary = summary_pb2.Summary.Value(tag=key, tensor=tensor)
        if key not in described:  # the plugin's metadata goes with a tag's first value
            summary.metadata.CopyFrom(metadata.create_summary_metadata(key, ""))
            described.add(key)
        yield event_pb2.Event(
            wall_time=(int(wall) + 0.5) / 1e6,
            step=int(step),
            summary=summary_pb2.Summary(value=[summary]),
        )


def _media_value(reader: StoreReader, run_id: str, item: Any, summary_pb2: Any) -> Any:
    from tensorboard.util import tensor_util

    if item.type == "histogram" and item.edges:
        from tensorboard.plugins.histogram import metadata

        edges = np.asarray(item.edges, dtype=np.float64)
        buckets = np.stack([edges[:-1], edges[1:], np.asarray(item.counts, np.float64)], axis=1)
        return summary_pb2.Summary.Value(
            tag=item.key,
            metadata=metadata.create_summary_metadata(item.key, ""),
            tensor=tensor_util.make_tensor_proto(buckets),
        )
    if item.type == "image" and item.file:
        from tensorboard.plugins.image import metadata

        path = reader.media_file(run_id, item.file.rsplit("/", 1)[-1])
        if path is None:
            return None
        cells = [str(item.width).encode(), str(item.height).encode(), path.read_bytes()]
        return summary_pb2.Summary.Value(
            tag=item.key,
            metadata=metadata.create_summary_metadata(item.key, "", converted_to_tensor=True),
            tensor=tensor_util.make_tensor_proto(np.array(cells, dtype=object)),
        )
    if item.type == "table" and item.columns == ("text",) and item.file:
        from tensorboard.plugins.text import metadata

        path = reader.media_file(run_id, item.file.rsplit("/", 1)[-1])
        if path is None:
            return None
        _, rows = table_rows(path)
        cells = [str(row[0]).encode() for row in rows]
        return summary_pb2.Summary.Value(
            tag=item.key,
            metadata=metadata.create_summary_metadata(display_name=None, description=None),
            tensor=tensor_util.make_tensor_proto(np.array(cells, dtype=object)),
        )
    return None
