"""W&B offline runs → runs, from their ``.wandb`` record logs (``wandb_log``), no network.

PATH is a ``wandb/`` folder (every ``offline-run-*`` and ``run-*`` folder in it), one run
folder, or one ``run-<id>.wandb`` file. ``pip install 'localtrack[wandb]'``.

=====================  =====================================================================
run id, project        the run's identity (``project/id``): a resumed run's second log file
                       adds to the same run
display name, notes,   name, notes, tags, group, job type
tags, group, job type
config                 config (``_wandb`` left out)
history                metric points at ``_step``, wall time from ``_timestamp``, values
                       exactly as logged; nested dicts flatten to ``a/b``
images, histograms,    media images (the PNG the run folder kept; a list: a gallery),
tables, audio, video,  media histograms, tables, audio, video, HTML, Plotly figures and 3D
html, plotly, 3D       objects (the files as kept)
summary                values that are no metric's last value → summary overrides
system metrics         ``system/<name>`` rows at the sampler's counter and time
console output         files/output.log
saved files            files/ (``run.save()``), requirements.txt too
artifacts              artifact versions of the run, from the files wandb staged for upload
                       (the run's own table artifacts are its tables)
exit code              finished (0) or failed; a log with no exit record: crashed
=====================  =====================================================================

Other media, artifact files no longer staged and other record kinds are counted in the report.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ImportSourceError
from ..media.audio import Audio
from ..media.html import Html
from ..media.object3d import Object3D
from ..media.plotly import Plotly
from ..media.png import png_size
from ..media.types import Histogram, Media, Table
from ..media.video import Video
from ..store.media import blob_relpath
from ..store.metrics import merge_dtype
from .model import ArtifactFolder, ImportReport, KeyPoints, MediaPoint, SourceRun
from .wandb_log import LogRead, records

# W&B media kept as a file in the run folder → localtrack's own media type, read from that file
_FILE_MEDIA: dict[str, Callable[[Path, dict[str, Any]], Media]] = {
    "audio-file": lambda path, value: Audio(path, caption=value.get("caption")),
    "video-file": lambda path, value: Video(path, caption=value.get("caption")),
    "html-file": lambda path, value: Html(path),
    "object3D-file": lambda path, value: Object3D(path, caption=value.get("caption")),
    "plotly-file": lambda path, value: Plotly(_json_or_none(path)),  # None: an error it says
}


def _json_or_none(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


_IGNORED = {"header", "telemetry", "environment", "metric", "final", "footer"}
_WANDB_FILE = 1  # FilesItem.FileType.WANDB: a file wandb writes itself (requirements, metadata)


def log_files(path: Path) -> list[Path]:
    """The run logs at `path`: a file, a run folder, or a wandb/ folder of run folders."""
    if path.is_file():
        return [path]
    found = sorted(path.glob("run-*.wandb"))
    found += sorted(path.glob("*run-*/run-*.wandb"))
    found += sorted(path.glob("wandb/*run-*/run-*.wandb"))
    return found


def read_runs(path: Path, report: ImportReport) -> Iterator[SourceRun]:
    files = log_files(path)
    if not files:
        raise ImportSourceError(f"no W&B run logs (run-*.wandb) at {path}")
    for file in files:
        with tempfile.TemporaryDirectory(prefix="localtrack-wandb-") as staging:
            yield read_run(file, Path(staging))


def read_run(file: Path, staging: Path) -> SourceRun:
    """The run one record log holds; offline artifacts' files are copied below `staging`."""
    run = SourceRun(source="wandb", source_id="", location=str(file.parent))
    state = _RunState(run, file.parent / "files", staging)
    read = LogRead()
    for record in records(file, read):
        state.add(record)
    if read.problem:
        run.damage.append(
            f"{file}: {read.problem}; the last {read.size - read.good_bytes} of {read.size} "
            "bytes were skipped"
        )
    state.finish()
    if not run.source_id:
        run.source_id = f"?/{file.name}"
    return run


def _artifact_name(name: str) -> str:
    """A W&B artifact name as a collection name (letters, digits, '_', '-', '.')."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", name).strip(".-")[:128]
    return cleaned or "wandb-artifact"


class _RunState:
    """Folds one log's records into a SourceRun."""

    def __init__(self, run: SourceRun, files: Path, staging: Path) -> None:
        self.run = run
        self.files = files
        self.staging = staging
        self.points: dict[str, tuple[list[int], list[float], list[int], str]] = {}
        self.summary: dict[str, Any] = {}
        self.config: dict[str, Any] = {}
        self.console: list[str] = []
        self.stats_step = 0
        self.saved: list[str] = []  # files the run saved (run.save()), below files/
        self.exited: int | None = None

    def add(self, record: Any) -> None:
        kind = record.WhichOneof("record_type")
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(getattr(record, kind))
        elif kind not in _IGNORED:
            self.run.unmapped[f"wandb: {kind} records"] += 1

    def _on_run(self, rec: Any) -> None:
        run = self.run
        run.source_id = f"{rec.project}/{rec.run_id}"
        run.project = rec.project or None
        run.name = rec.display_name or rec.run_id
        run.notes = rec.notes or None
        run.tags = list(rec.tags)
        run.group = rec.run_group or None
        run.job_type = rec.job_type or None
        run.host = rec.host or None
        if rec.HasField("start_time"):
            run.created_at = rec.start_time.seconds + rec.start_time.nanos / 1e9
        for item in rec.config.update:
            self._set(self.config, item)

    def _on_config(self, rec: Any) -> None:
        for item in rec.update:
            self._set(self.config, item)
        for item in rec.remove:
            self.config.pop(item.key, None)

    def _on_summary(self, rec: Any) -> None:
        for item in rec.update:
            self._set(self.summary, item)

    def _on_history(self, rec: Any) -> None:
        row: dict[str, Any] = {}
        for item in rec.item:
            self._set(row, item)
        step = int(row.pop("_step", rec.step.num))
        wall = float(row.pop("_timestamp", 0.0))
        row.pop("_runtime", None)
        self._values(step, wall, row, "")

    def _on_stats(self, rec: Any) -> None:
        wall = rec.timestamp.seconds + rec.timestamp.nanos / 1e9
        for item in rec.item:
            value = json.loads(item.value_json)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._point(f"system/{item.key}", self.stats_step, wall, float(value), "float")
        self.stats_step += 1

    def _on_output_raw(self, rec: Any) -> None:
        self.console.append(rec.line)

    def _on_output(self, rec: Any) -> None:
        self.console.append(rec.line)

    def _on_files(self, rec: Any) -> None:
        for item in rec.files:
            if item.type != _WANDB_FILE and not item.path.startswith("media/"):
                self.saved.append(item.path)

    def _on_exit(self, rec: Any) -> None:
        self.exited = int(rec.exit_code)
        if self.run.created_at is not None and rec.runtime:
            self.run.ended_at = self.run.created_at + rec.runtime

    def _on_artifact(self, rec: Any) -> None:
        """An artifact logged offline: its files, from where wandb staged them, into a folder
        that becomes an artifact version of the run. A table's own artifact is the table."""
        if rec.type == "run_table":
            return
        folder = self.staging / f"artifact-{len(self.run.artifacts)}"
        for entry in rec.manifest.contents:
            source = Path(entry.local_path) if entry.local_path else None
            target = (folder / entry.path).resolve()
            if source is None or not source.is_file() or folder.resolve() not in target.parents:
                self.run.unmapped["wandb: artifact files no longer staged"] += 1
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        if folder.is_dir():
            name = _artifact_name(rec.name)
            meta = {"wandb_digest": rec.digest, "aliases": list(rec.aliases)}
            self.run.artifacts.append(ArtifactFolder(name, rec.type or "wandb", folder, meta))

    @staticmethod
    def _set(target: dict[str, Any], item: Any) -> None:
        path = list(item.nested_key) or [item.key]
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = json.loads(item.value_json)

    def _values(self, step: int, wall: float, row: dict[str, Any], prefix: str) -> None:
        for key, value in row.items():
            name = prefix + key
            if isinstance(value, bool):
                self._point(name, step, wall, float(value), "bool")
            elif isinstance(value, (int, float)):
                self._point(name, step, wall, float(value), "float")
            elif isinstance(value, dict) and "_type" in value:
                self._media(name, step, wall, value)
            elif isinstance(value, dict):
                self._values(step, wall, value, name + "/")
            else:
                self.run.unmapped[f"wandb: {type(value).__name__} values in history"] += 1

    def _point(self, key: str, step: int, wall: float, value: float, dtype: str) -> None:
        steps, values, walls, kind = self.points.get(key, ([], [], [], dtype))
        steps.append(step)
        values.append(value)
        walls.append(int(wall * 1e6))
        self.points[key] = (steps, values, walls, merge_dtype(kind, dtype))

    def _media(self, key: str, step: int, wall: float, value: dict[str, Any]) -> None:
        kind = value["_type"]
        if kind == "image-file" and isinstance(value.get("path"), str):
            blob = self._image(value["path"])
            if blob is not None:
                sha, data, (width, height) = blob
                record = {
                    "type": "image",
                    "sha256": sha,
                    "file": blob_relpath(sha, "png"),
                    "width": width,
                    "height": height,
                    "caption": value.get("caption"),
                }
                self.run.media.append(MediaPoint(key, step, wall, record, ((sha, "png", data),)))
                return
        if kind == "table-file" and isinstance(value.get("path"), str):
            table = self._table(value["path"])
            if table is not None:
                record, blobs = table.encode()
                self.run.media.append(MediaPoint(key, step, wall, record, tuple(blobs)))
                return
        is_gallery = kind == "images/separated" and isinstance(value.get("filenames"), list)
        if is_gallery and self._gallery(key, step, wall, value):
            return
        if kind in _FILE_MEDIA and isinstance(value.get("path"), str):
            path = self._path(value["path"])
            item = None if path is None else _FILE_MEDIA[kind](path, value)
            if item is not None and not item.error:
                record, blobs = item.encode()
                self.run.media.append(MediaPoint(key, step, wall, record, tuple(blobs)))
                return
        if kind == "histogram":
            item = Histogram(np_histogram=(value.get("values", []), value.get("bins", [])))
            if not item.error:
                record, _ = item.encode()
                self.run.media.append(MediaPoint(key, step, wall, record))
                return
        self.run.unmapped[f"wandb: {kind} media"] += 1

    def _gallery(self, key: str, step: int, wall: float, value: dict[str, Any]) -> bool:
        """A list of images logged under one key: gallery items numbered 0..count-1."""
        names = value["filenames"]
        captions = value.get("captions") or [None] * len(names)
        found = [self._image(n) if isinstance(n, str) else None for n in names]
        if not names or None in found or len(captions) != len(names):
            return False
        for index, (blob, caption) in enumerate(zip(found, captions, strict=True)):
            assert blob is not None
            sha, data, (width, height) = blob
            record = {"type": "image", "sha256": sha, "file": blob_relpath(sha, "png"),
                      "width": width, "height": height, "caption": caption,
                      "index": index, "count": len(names)}  # fmt: skip
            self.run.media.append(MediaPoint(key, step, wall, record, ((sha, "png", data),)))
        return True

    def _path(self, relative: str) -> Path | None:
        """A file the run folder kept (media), never one outside it."""
        path = (self.files / relative).resolve()
        if self.files.resolve() not in path.parents or not path.is_file():
            return None
        return path

    def _file(self, relative: str) -> bytes | None:
        path = self._path(relative)
        return None if path is None else path.read_bytes()

    def _table(self, relative: str) -> Table | None:
        data = self._file(relative)
        try:
            doc = json.loads(data) if data is not None else None
        except ValueError:
            return None
        if not isinstance(doc, dict):
            return None
        table = Table(columns=doc.get("columns"), data=doc.get("data"))
        return None if table.error else table

    def _image(self, relative: str) -> tuple[str, bytes, tuple[int, int]] | None:
        data = self._file(relative)
        if data is None:
            return None
        size = png_size(data)
        return None if size is None else (hashlib.sha256(data).hexdigest(), data, size)

    def finish(self) -> None:
        run = self.run
        for key, (steps, values, walls, dtype) in self.points.items():
            run.metrics.append(
                KeyPoints(
                    key,
                    np.asarray(steps, dtype=np.int64),
                    np.asarray(values, dtype=np.float64),
                    np.asarray(walls, dtype=np.int64),
                    dtype,
                )
            )
        self.config.pop("_wandb", None)
        run.config = self.config
        last = {k: v[1][-1] for k, v in self.points.items()}
        run.summary = {
            k: v
            for k, v in self.summary.items()
            if not k.startswith("_") and not isinstance(v, dict) and last.get(k) != v
        }
        if self.console:
            run.files["output.log"] = "".join(self.console).encode()
        for name in ["requirements.txt", *self.saved]:
            data = self._file(name)
            if data is not None:
                run.files.setdefault(name, data)
        run.state = (
            "crashed" if self.exited is None else "finished" if not self.exited else "failed"
        )
        run.exit_code = self.exited
