"""Saved workspace views: named chart layouts of a project, one JSON file each, in the store.

A view lives at ``<root>/workspaces/<project, percent-encoded>/<name>.json`` and the project's
default view is named in ``_workspace.json`` beside it. Plain files, written atomically, so they
travel with the project in a bundle and through sync like run files, and a view saved in one
browser is there in every other. Every view is checked by ``check_view`` when it is written and
when it is read back from a bundle or another store: the UI gets a 400 naming the field, never
a file it cannot draw.

A server with a PostgreSQL index keeps its views in that database instead (``pgworkspaces.py``),
so its replicas share them; ``open_views`` picks, and both answer the same methods.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DocumentError, LocaltrackError
from . import jsondoc as jd
from .atomic import read_json, write_json_atomic
from .layout import project_folder_name

DIR = "workspaces"
SETTINGS = "_workspace.json"
VERSION = 1
MAX_BYTES = 256 * 1024
MAX_PANELS = 200
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.()-]{0,63}")
PANEL_TYPES = ("line", "scatter", "bar", "parallel", "table", "media", "markdown", "histogram")
X_BUILTIN = ("default", "step", "wall_time", "relative_time")
SMOOTHING = ("none", "ema", "running", "gaussian")

_KEY = jd.text(256, min_chars=1)
_PANEL = {
    "id": jd.text(64, min_chars=1),
    "type": jd.one_of(PANEL_TYPES),
    "title": jd.text(200),
    "keys": jd.text_list(64, _KEY),
    "regex": jd.text(256),
    "x": jd.text(256, nullable=True),
    "y": jd.text(256, nullable=True),
    "fields": jd.text_list(32, _KEY),
    "width": jd.integer(minimum=1),
    "height": jd.integer(minimum=1),
    "section": jd.text(200),
    "text": jd.text(20_000, multiline=True),
    "log_y": jd.one_of((True, False)),
    "y_min": jd.number(nullable=True),
    "y_max": jd.number(nullable=True),
}
_STATE = {
    "x": jd.text(256, min_chars=1),
    "smoothing": jd.one_of(SMOOTHING),
    "amount": jd.number(),
    "log_y": jd.one_of((True, False)),
    "y_min": jd.number(nullable=True),
    "y_max": jd.number(nullable=True),
    "clip": jd.one_of((True, False)),
    "group_by": jd.text(256),
    "band": jd.one_of(("minmax", "std", "none")),
    "runs": jd.one_of(("all", "filter", "selection")),
    "filter": jd.text(1000),
    "selection": jd.text_list(200, jd.text(64, min_chars=1)),
    "pinned": jd.text_list(1000, _KEY),
    "hidden": jd.text_list(5000, _KEY),
    "collapsed": jd.text_list(1000, jd.text(256)),
    "order": jd.text_list(5000, _KEY),
    "sizes": jd.mapping(),
    "panels": jd.records(MAX_PANELS, _PANEL),
}


class ViewNotFoundError(LocaltrackError, LookupError):
    """A project has no saved view of that name."""


@dataclass(frozen=True)
class ViewInfo:
    """A saved view as the list shows it."""

    name: str
    updated_at: float
    default: bool


def check_name(name: str) -> str:
    """A view name: 1–64 letters, digits, spaces and ``_.()-``, starting with a letter or digit."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise DocumentError(
            f"a view name must be 1 to 64 letters, digits, spaces or _.()- starting with a "
            f"letter or digit, not {name!r}",
            "view",
            "name",
        )
    return name


def check_view(doc: Any) -> dict[str, Any]:
    """`doc` as a valid view document (``{"version": 1, "name", "updated_at", "state"}``)."""
    jd.check_depth(doc, "view")
    jd.check_fields(
        "view",
        doc,
        {"version": jd.one_of((VERSION,)), "updated_at": jd.number(), "state": jd.mapping()},
        required=("version", "name", "state"),
    )
    check_name(doc["name"])
    jd.check_fields("view state", doc["state"], _STATE)
    return dict(doc)


def project_dir(root: str | Path, project: str) -> Path:
    """Where a project's views live (its name percent-encoded into one folder name)."""
    folder = project_folder_name(project)
    if folder is None:
        raise DocumentError(f"a workspace needs a project name, not {project!r}", "view", "project")
    return Path(root) / DIR / folder


def list_views(root: str | Path, project: str) -> list[ViewInfo]:
    """The project's saved views, by name."""
    folder = project_dir(root, project)
    default = default_view(root, project)
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        name = path.stem
        if path.name == SETTINGS or not NAME_RE.fullmatch(name):
            continue
        out.append(ViewInfo(name, path.stat().st_mtime, name == default))
    return out


def read_view(root: str | Path, project: str, name: str) -> dict[str, Any]:
    """A saved view (checked again on the way out: a file from elsewhere may be bad)."""
    path = project_dir(root, project) / f"{check_name(name)}.json"
    if not path.is_file():
        raise ViewNotFoundError(f"project {project!r} has no saved view named {name!r}")
    data = path.read_bytes()
    return check_view(jd.loads(data, f"view {name!r}", MAX_BYTES))


def save_view(
    root: str | Path,
    project: str,
    name: str,
    state: Mapping[str, Any],
    updated_at: float | None = None,
) -> dict[str, Any]:
    """Write (or replace) a view; returns the stored document.

    With `updated_at` (a view arriving by sync or from a bundle, stamped where it was saved) a
    view already here that was saved later is kept and returned instead: the newer one wins."""
    if updated_at is not None:
        try:
            here = read_view(root, project, name)
        except (ViewNotFoundError, DocumentError):
            here = None
        if here is not None and float(here.get("updated_at") or 0) > updated_at:
            return here
    stamp = time.time() if updated_at is None else float(updated_at)
    doc = check_view(
        {"version": VERSION, "name": check_name(name), "updated_at": stamp, "state": state}
    )
    if len(repr(doc)) > MAX_BYTES:
        raise DocumentError(f"a view must be under {MAX_BYTES} bytes", "view", "state")
    folder = project_dir(root, project)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / f"{name}.json", doc)
    return doc


def delete_view(root: str | Path, project: str, name: str) -> None:
    path = project_dir(root, project) / f"{check_name(name)}.json"
    if not path.is_file():
        raise ViewNotFoundError(f"project {project!r} has no saved view named {name!r}")
    path.unlink()
    if default_view(root, project) == name:
        set_default(root, project, None)


def default_view(root: str | Path, project: str) -> str | None:
    path = project_dir(root, project) / SETTINGS
    try:
        value = read_json(path).get("default")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and NAME_RE.fullmatch(value) else None


def set_default(root: str | Path, project: str, name: str | None) -> None:
    """Make `name` (a saved view) the project's default, or clear it with None."""
    if name is not None:
        read_view(root, project, name)
    project_dir(root, project).mkdir(parents=True, exist_ok=True)
    write_json_atomic(project_dir(root, project) / SETTINGS, {"default": name})


class DirViews:
    """The saved views of the store at `root`, in its files (the functions above)."""

    def __init__(self, root: str | Path) -> None:
        self.root = root

    def projects(self) -> list[str]:
        """The projects with a workspaces folder (names decoded from the folder names)."""
        folder = Path(self.root) / DIR
        names = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
        return [urllib.parse.unquote(name) for name in names]

    def list_views(self, project: str) -> list[ViewInfo]:
        return list_views(self.root, project)

    def read_view(self, project: str, name: str) -> dict[str, Any]:
        return read_view(self.root, project, name)

    def save_view(
        self,
        project: str,
        name: str,
        state: Mapping[str, Any],
        updated_at: float | None = None,
    ) -> dict[str, Any]:
        return save_view(self.root, project, name, state, updated_at)

    def delete_view(self, project: str, name: str) -> None:
        delete_view(self.root, project, name)

    def default_view(self, project: str) -> str | None:
        return default_view(self.root, project)

    def set_default(self, project: str, name: str | None) -> None:
        set_default(self.root, project, name)


def open_views(root: str | Path, index_url: str | None = None) -> Any:
    """A store's saved views: in its PostgreSQL index database when `index_url` is given (a
    server's replicas share them, ``pgworkspaces.PgViews``), else its files (``DirViews``)."""
    if index_url:
        from .pgworkspaces import PgViews

        return PgViews(index_url)
    return DirViews(root)
