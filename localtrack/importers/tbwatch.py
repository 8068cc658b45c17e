"""``init(sync_tensorboard=...)``: mirror a live SummaryWriter's scalars into the run.

A background thread reads the event files of the watched log folders as they grow (with
tensorboard's ``RawEventFileLoader``, which resumes after a record still being written) and
hands each scalar to the run's writer with its TensorBoard step and wall time — the way the
system-metrics sampler hands over its rows, so the training thread never waits.

Which folders: ``sync_tensorboard=True`` watches the log folder of every PyTorch (or
tensorboardX) ``SummaryWriter`` created after ``init()`` (and the folders below it, where
``add_scalars`` and ``add_hparams`` write), found by wrapping the writer's constructor while the
run lives; at ``finish()`` those writers are flushed and the files read to their end, so nothing
a writer was given is missed. Keys from a sub-folder, or from a second writer's folder, are
prefixed with its path relative to the first writer's folder (``loss_train/loss``).
``sync_tensorboard="path"`` watches that folder and the folders below it instead.

On a local disk the run's rows go into memory-mapped chunks that only the logging thread writes
(docs/format.md), so the mirrored rows are written there when the training thread next calls a
wrapped ``SummaryWriter.add_scalar``/``add_scalars``/``flush`` or ``run.log()``, and at
``finish()``. Histograms, images and text stay in the event files; import them
afterwards with ``localtrack import-from tensorboard``.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UsageError

log = logging.getLogger(__name__)

Emit = Callable[[int, float, dict[str, float]], None]
POLL_INTERVAL_S = 1.0
_DRAINING_METHODS = ("add_scalar", "add_scalars", "flush")
_WRITER_CLASSES = (
    ("torch.utils.tensorboard.writer", "SummaryWriter"),
    ("tensorboardX", "SummaryWriter"),
)


class _EventFolder:
    """One watched folder: a resumable loader per event file, keys prefixed by `prefix`."""

    def __init__(self, path: Path, prefix: str, recursive: bool) -> None:
        self.path = path
        self.prefix = prefix
        self.recursive = recursive
        self.loaders: dict[Path, Any] = {}
        self.metadata: dict[str, dict[str, Any]] = {}  # per folder, as tensorboard keeps it

    def read(self, emit: Emit) -> int:
        """Emit every scalar written since the last read; returns how many."""
        from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader

        from .tensorboard import event_files

        folders = [self.path]
        if self.recursive and self.path.is_dir():
            folders += sorted(d for d in self.path.rglob("*") if d.is_dir())
        count = 0
        for folder in folders:
            if not folder.is_dir():
                continue
            for file in event_files(folder):
                loader = self.loaders.get(file)
                if loader is None:
                    loader = self.loaders[file] = RawEventFileLoader(str(file))
                rel = folder.relative_to(self.path).as_posix()
                prefix = self.prefix + ("" if rel == "." else rel + "/")
                count += _emit_scalars(loader, prefix, self.metadata.setdefault(rel, {}), emit)
        return count


def _emit_scalars(loader: Any, prefix: str, metadata: dict[str, Any], emit: Emit) -> int:
    from tensorboard import data_compat, dataclass_compat
    from tensorboard.compat.proto import event_pb2
    from tensorboard.util import tensor_util

    count = 0
    for record in loader.Load():
        try:
            event = event_pb2.Event.FromString(record)
        except Exception:  # protobuf's DecodeError: one bad record only
            continue
        for migrated in dataclass_compat.migrate_event(data_compat.migrate_event(event), metadata):
            if migrated.WhichOneof("what") != "summary":
                continue
            row = {}
            for value in migrated.summary.value:
                if value.metadata.plugin_data.plugin_name == "scalars" and value.HasField("tensor"):
                    row[prefix + value.tag] = float(
                        tensor_util.make_ndarray(value.tensor).reshape(())
                    )
            if row:
                emit(int(migrated.step), float(migrated.wall_time), row)
                count += len(row)
    return count


class TensorBoardMirror:
    """The background worker behind ``sync_tensorboard`` (attached to the run, stopped at finish)."""

    def __init__(
        self,
        emit: Emit,
        target: bool | str | os.PathLike[str],
        drain: Callable[[], None] = lambda: None,
        interval: float = POLL_INTERVAL_S,
    ) -> None:
        try:
            importlib.import_module("tensorboard")
        except ModuleNotFoundError:
            raise UsageError(
                "sync_tensorboard needs the tensorboard package, which is not installed: "
                "pip install 'localtrack[tensorboard]'"
            ) from None
        self._emit = emit
        self._drain = drain
        self._interval = interval
        self._folders: list[_EventFolder] = []
        self._writers: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._patched: list[tuple[type, str, Any]] = []
        if isinstance(target, bool):
            self._patch_writers()
        else:
            self._folders.append(_EventFolder(Path(os.fspath(target)).expanduser(), "", True))
        self._thread = threading.Thread(
            target=self._run, name="localtrack-tensorboard", daemon=True
        )

    def start(self) -> TensorBoardMirror:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.read_once()

    def read_once(self) -> int:
        with self._lock:
            count = 0
            for folder in list(self._folders):
                try:
                    count += folder.read(self._emit)
                except OSError as exc:
                    log.debug("tensorboard mirror: cannot read %s: %s", folder.path, exc)
            return count

    def stop(self) -> None:
        """Flush the writers seen, read every file to its end, and unwrap the constructors."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        for writer in list(self._writers):
            try:
                writer.flush()
            except Exception as exc:  # a closed or broken writer: its files are read anyway
                log.debug("tensorboard mirror: flushing %r failed: %s", writer, exc)
        self.read_once()
        for cls, method, original in reversed(self._patched):
            setattr(cls, method, original)
        self._patched.clear()

    # -- finding the log folders of SummaryWriters --------------------------------------------

    def _patch_writers(self) -> None:
        for module_name, class_name in _WRITER_CLASSES:
            try:
                cls = getattr(importlib.import_module(module_name), class_name)
            except (ImportError, AttributeError):
                continue
            for method in _DRAINING_METHODS:
                original = cls.__dict__.get(method)
                if original is not None:
                    self._patched.append((cls, method, original))
                    setattr(cls, method, self._draining(original))
            self._patched.append((cls, "__init__", cls.__init__))
            cls.__init__ = self._wrapped(cls.__init__)
        if not self._patched:
            log.warning(
                "sync_tensorboard: neither torch.utils.tensorboard nor tensorboardX is installed"
            )

    def _wrapped(self, original: Any) -> Any:
        mirror = self

        def __init__(writer: Any, *args: Any, **kwargs: Any) -> None:
            original(writer, *args, **kwargs)
            mirror.watch_writer(writer)

        return __init__

    def _draining(self, original: Any) -> Any:
        drain = self._drain

        def method(writer: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(writer, *args, **kwargs)
            drain()  # on the training thread: the mirrored rows queued so far reach the disk
            return result

        return method

    def watch_writer(self, writer: Any) -> None:
        """Watch the log folder of `writer` (a SummaryWriter) from now on."""
        folder = getattr(writer, "log_dir", None) or getattr(writer, "logdir", None)
        if folder is None:
            return
        path = Path(os.fspath(folder)).absolute()
        with self._lock:
            self._writers.add(writer)
            if any(f.path == path for f in self._folders):
                return
            first = self._folders[0].path if self._folders else path
            if path == first:
                prefix = ""
            elif first in path.parents:
                prefix = path.relative_to(first).as_posix() + "/"
            else:
                prefix = path.name + "/"
            self._folders.append(_EventFolder(path, prefix, recursive=True))
