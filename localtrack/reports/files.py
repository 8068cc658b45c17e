"""Report files in the store: ``<root>/reports/<project, percent-encoded>/<name>.md``.

Plain markdown files, written atomically, so a report can be edited in any editor, kept in git,
and carried by a bundle or ``localtrack sync`` like a saved workspace view. A report's
``updated_at`` is its file's modification time; a copy arriving from elsewhere carries its own
and the later one wins. Every write parses the text first (``format.parse_report``), so the
store never holds a report its pages cannot draw.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from ..errors import DocumentError, LocaltrackError
from ..store.atomic import write_bytes_atomic
from ..store.layout import project_folder_name
from .format import Report, parse_report

DIR = "reports"
SUFFIX = ".md"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.()-]{0,63}")


class ReportNotFoundError(LocaltrackError, LookupError):
    """A project has no report of that name."""


@dataclass(frozen=True)
class ReportFile:
    """A stored report: its name, text and when it was last written."""

    project: str
    name: str
    text: str
    updated_at: float

    @property
    def report(self) -> Report:
        return parse_report(self.text)


def check_name(name: str) -> str:
    """A report name: 1–64 letters, digits, spaces and ``_.()-``, starting with a letter or digit."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or name.endswith("."):
        raise DocumentError(
            f"a report name must be 1 to 64 letters, digits, spaces or _.()- starting with a "
            f"letter or digit, not {name!r}",
            "report",
            "name",
        )
    return name


def project_dir(root: str | Path, project: str) -> Path:
    folder = project_folder_name(project)
    if folder is None:  # "." and ".." would name the store itself
        raise DocumentError(f"a report needs a project name, not {project!r}", "report", "project")
    return Path(root) / DIR / folder


def _path(root: str | Path, project: str, name: str) -> Path:
    return project_dir(root, project) / f"{check_name(name)}{SUFFIX}"


def list_reports(root: str | Path, project: str) -> list[ReportFile]:
    """The project's reports, by name (a file whose name is not a report name is skipped)."""
    folder = project_dir(root, project)
    out = []
    for path in sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []:
        if NAME_RE.fullmatch(path.stem):
            text = path.read_text(encoding="utf-8", errors="replace")
            out.append(ReportFile(project, path.stem, text, path.stat().st_mtime))
    return out


def projects_with_reports(root: str | Path) -> list[str]:
    """Every project that has a reports folder."""
    base = Path(root) / DIR
    return sorted(urllib.parse.unquote(p.name) for p in base.iterdir()) if base.is_dir() else []


def read_report(root: str | Path, project: str, name: str) -> ReportFile:
    path = _path(root, project, name)
    if not path.is_file():
        raise ReportNotFoundError(
            f"project {project!r} has no report named {name!r} (see: localtrack report list)"
        )
    return ReportFile(project, name, path.read_text(encoding="utf-8"), path.stat().st_mtime)


def save_report(
    root: str | Path, project: str, name: str, text: str, updated_at: float | None = None
) -> ReportFile:
    """Write (or replace) a report after parsing it; returns what is stored.

    With `updated_at` (a report arriving by sync or in a bundle, stamped where it was written) a
    copy here written later is kept and returned instead: the newer one wins."""
    parse_report(text)
    path = _path(root, project, name)
    if updated_at is not None and path.is_file() and path.stat().st_mtime > updated_at:
        return read_report(root, project, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, text.encode("utf-8"))
    if updated_at is not None:
        os.utime(path, (updated_at, updated_at))
    return read_report(root, project, name)


def delete_report(root: str | Path, project: str, name: str) -> None:
    path = _path(root, project, name)
    if not path.is_file():
        raise ReportNotFoundError(f"project {project!r} has no report named {name!r}")
    path.unlink()
