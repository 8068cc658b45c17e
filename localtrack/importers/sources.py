"""The sources ``import-from`` knows, the reader module of each, and the extra it needs.

A reader module has ``read_runs(path, report) -> Iterator[SourceRun]``; it imports its tool's
package (an optional extra) only when called, so a missing one is one message naming the
``pip install`` that fixes it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import ImportSourceError
from .model import ImportReport, SourceRun

Reader = Callable[[Path, ImportReport], Iterator[SourceRun]]


@dataclass(frozen=True)
class Source:
    name: str
    module: str  # below localtrack.importers
    extra: str | None  # the pip extra with the tool's own reader, if one is needed
    package: str | None  # the module that extra provides
    what: str  # the PATH it takes, for --help and messages


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("csv", "tables", None, None, "a .csv file or a folder of them"),
        Source("parquet", "tables", None, None, "a .parquet file or a folder of them"),
        Source(
            "tensorboard",
            "tensorboard",
            "tensorboard",
            "tensorboard",
            "a log folder; each folder with event files is one run",
        ),
        Source(
            "mlflow",
            "mlflow",
            "mlflow",
            "mlflow",
            "an mlruns/ folder, an MLflow SQLite database file, or a sqlite:/// URI",
        ),
        Source(
            "trackio",
            "trackio",
            None,
            None,
            "a Trackio folder of <project>.db files, or one of them",
        ),
        Source(
            "aim",
            "aim",
            "aim",
            "aim",
            "a folder holding an Aim repository (.aim), or the .aim folder",
        ),
        Source(
            "wandb",
            "wandb",
            "wandb",
            "wandb.proto.wandb_internal_pb2",
            "a wandb/ folder, one offline run folder, or a run-<id>.wandb file",
        ),
    )
}


def reader_for(source: str) -> Reader:
    """The reader of `source`; ImportSourceError for an unknown one or a missing extra."""
    spec = SOURCES.get(source)
    if spec is None:
        raise ImportSourceError(
            f"unknown source {source!r}: choose one of {', '.join(sorted(SOURCES))}"
        )
    if spec.package is not None:
        try:
            importlib.import_module(spec.package)
        except ModuleNotFoundError:
            raise ImportSourceError(
                f"importing from {source} needs the {spec.package.split('.')[0]} package, which is not "
                f"installed: pip install 'localtrack[{spec.extra}]'"
            ) from None
    module = importlib.import_module(f"{__package__}.{spec.module}")
    read: Reader = module.read_runs
    if spec.module == "tables":
        return lambda path, report: read(path, report, source)  # type: ignore[call-arg]
    return read
