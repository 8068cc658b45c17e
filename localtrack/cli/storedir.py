"""The store directory a command works on: refuse a missing one in one line, or create it when
asked (``--create``), so a mistyped ``--dir`` never silently becomes a new, empty store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..settings import resolve_dir

F = TypeVar("F", bound=Callable[..., Any])

create_option: Callable[[F], F] = click.option(
    "--create",
    is_flag=True,
    help="Create the store directory if it does not exist (otherwise a missing one is an error).",
)


def existing_store(dir_: str | None, create: bool | None = None) -> Path:
    """The resolved store root; ClickException (exit 1) when it is not a directory, or does not
    exist and `create` is not set (False: the command has --create, None: it has not)."""
    root = resolve_dir(dir_)
    if root.exists() and not root.is_dir():
        raise click.ClickException(f"{root} is not a directory")
    if not root.exists():
        if not create:
            raise click.ClickException(
                f"no store at {root}: check the path, pass --dir (or LOCALTRACK_DIR), "
                "log a run first, or run `localtrack demo`"
                + ("; pass --create to make a new store there" if create is False else "")
            )
        root.mkdir(parents=True, exist_ok=True)
    return root
