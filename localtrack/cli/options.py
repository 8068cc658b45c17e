"""Options, run selection and error handling shared by the sync, bundle and server commands.

Written once as decorators, so every command spells ``--dir``, ``--json`` and ``RUN... / --project
/ --all`` the same way and turns domain errors into one clean line and a non-zero exit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..errors import LocaltrackError
from ..settings import resolve, resolve_dir

EXIT_FAILED_RUNS = 1
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


def port_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--port``, checked to be a TCP port (0 asks the system for any free one)."""
    return click.option(
        "--port",
        default=8080,
        show_default=True,
        type=click.IntRange(0, 65535),
        help="Port to listen on (1-65535; 0 picks any free port).",
    )(fn)


def dir_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--dir",
        "dir_",
        type=click.Path(file_okay=False),
        default=None,
        help="Store directory (default: $LOCALTRACK_DIR, else ./localtrack-runs).",
    )(fn)


def json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")(fn)


def selection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--all", "all_runs", is_flag=True, help="Every run in the store.")(fn)
    fn = click.option("--project", "-p", default=None, help="Every run of this project.")(fn)
    return click.argument("runs", nargs=-1)(fn)


def selected_runs(
    dir_: str | None,
    runs: tuple[str, ...],
    project: str | None,
    all_runs: bool,
    default_all: bool = False,
) -> tuple[Path, list[str]]:
    """The store root and the run ids that ``selection_options`` name (every run if
    `default_all` and none are named)."""
    from ..sync.manifest_builder import select_runs, store_for_sync

    store = store_for_sync(resolve_dir(dir_))
    if not runs and project is None and not all_runs:
        if not default_all:
            raise click.UsageError("name the runs (RUN ...), or pass --project P or --all")
        all_runs = True
    return store.root, select_runs(store, runs, project, all_runs)


def clean_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn localtrack's errors and OS errors into ``click.ClickException`` (one line, exit 1)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BrokenPipeError:
            raise  # the reader went away (`| head`): main() exits quietly
        except LocaltrackError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(
                f"{exc.strerror or exc}: {exc.filename or ''}".strip(": ")
            ) from None

    return wrapper


def blobs_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--blobs",
        default=None,
        metavar="s3://BUCKET/PREFIX",
        help="Keep blobs in an S3-compatible object store (default: $LOCALTRACK_BLOBS, else "
        "the store directory; docs/deploy.md).",
    )(fn)


def blobs_url(explicit: str | None) -> str | None:
    """The checked --blobs URL, else $LOCALTRACK_BLOBS; None: blobs stay in the store directory."""
    from ..store.blobstore import check_blobs_url

    return check_blobs_url(explicit or resolve("blobs"))


def index_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--index",
        "index_url",
        default=None,
        metavar="postgresql://USER@HOST/DB",
        help="Keep the run index and API keys in PostgreSQL, shared by every replica (default: "
        "$LOCALTRACK_INDEX_URL, else the store directory; docs/deploy.md).",
    )(fn)


def use_index_url(explicit: str | None) -> str | None:
    """The checked --index URL, else $LOCALTRACK_INDEX_URL; None: the index stays in the store
    directory. A URL is also put into this process's environment, so that every part of the
    store this command opens (the reader, ingest, artifacts, keys) uses the same index."""
    from ..settings import export
    from ..store.root import check_index_url

    url = check_index_url(explicit or resolve("index_url"))
    if url:
        export("index_url", url)
    return url
