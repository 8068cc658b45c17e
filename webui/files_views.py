"""View models for a run's files: console output (files/output.log) and its environment.

The environment comes from run.json's ``system`` (hardware, git, command line, Python) and two
files the client wrote beside it: ``requirements.txt`` (installed packages) and ``diff.patch``
(uncommitted changes). Files are read through ``StoreReader.run_file``, which accepts plain names
only; downloads are served from ``/api/v1/runs/<run_id>/files/<name>``.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from localtrack.store.exitreason import reason_text
from localtrack.store.reader import StoreReader

from .catalog import int_arg, json_value

DEFAULT_CONSOLE_LINES = 1000
MAX_CONSOLE_LINES = 5000
MAX_DIFF_SHOWN = 512 * 1024  # bytes of the diff put in the page; the download has all of it
MAX_PACKAGES = 20_000
CONSOLE_FILE = "output.log"
CAPTURE_STATUSES = ("captured", "off", "nested", "unavailable")
PACKAGES_FILE = "requirements.txt"
DIFF_FILE = "diff.patch"
HARDWARE_FIELDS = (
    "os",
    "machine",
    "cpu_model",
    "cpu_count",
    "memory_total_gb",
    "gpu_models",
)
FILE_TYPES = {
    ".log": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".patch": "text/x-diff; charset=utf-8",
}


def console_view(reader: StoreReader, run_id: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Lines of the run's console output; ``start`` < 0 counts from the end (the tail)."""
    run = reader.run(run_id)
    search = str(args.get("q") or "")
    start = int_arg(args, "start", -DEFAULT_CONSOLE_LINES, -(2**62), 2**62)
    limit = int_arg(args, "limit", DEFAULT_CONSOLE_LINES, 1, MAX_CONSOLE_LINES)
    page = reader.console(run.id, search or None, start, limit)
    return {
        "run_id": run.id,
        "captured": reader.run_file(run.id, CONSOLE_FILE) is not None,
        "capture": _capture_status(run.system.get("console")),
        "state": run.state,
        "reason": reason_text(run.meta),
        "q": search,
        "start_line": page.start_line,
        "lines": page.lines,
        "line_numbers": page.line_numbers,
        "total_lines": page.total_lines,
        "file_lines": page.file_lines,
        "size_bytes": page.size_bytes,
    }


def _capture_status(value: Any) -> str | None:
    """run.json's ``system.console``: "captured", "off", "nested" or "unavailable"; None when
    the run does not say (older runs, or junk)."""
    return value if value in CAPTURE_STATUSES else None


def redact_remote(url: str | None) -> str | None:
    """A git remote without credentials: ``https://user:token@host/x`` → ``https://***@host/x``."""
    if not url or "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc="***@" + host))


def _packages(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    items = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        items.append({"name": name.strip(), "version": version.strip() if sep else None})
    return {"file": PACKAGES_FILE, "count": len(items), "items": items[:MAX_PACKAGES]}


def _diff(path: Path | None, cut_at_capture: bool) -> dict[str, Any] | None:
    if path is None:
        return None
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(MAX_DIFF_SHOWN)
    text = head.decode("utf-8", errors="replace")
    cut_here = size > MAX_DIFF_SHOWN
    if cut_here:  # end on a whole line
        text = text[: text.rfind("\n") + 1] or text
    return {
        "file": DIFF_FILE,
        "size_bytes": size,
        "text": text,
        "shown_bytes": len(text.encode("utf-8", errors="replace")),
        "cut_here": cut_here,
        "cut_at_capture": bool(cut_at_capture),
    }


def environment_view(reader: StoreReader, run_id: str) -> dict[str, Any]:
    """Hardware, OS, git, command line, Python, installed packages and the uncommitted diff."""
    run = reader.run(run_id)
    system = run.system
    env = system.get("environment") or {}
    git = system.get("git")
    argv = [str(a) for a in system.get("argv") or []]
    hardware = {name: json_value(env.get(name)) for name in HARDWARE_FIELDS}
    return {
        "run_id": run.id,
        "recorded": bool(env),
        "hardware": hardware,
        "host": run.host,
        "user": system.get("user"),
        "python": system.get("python"),
        "python_executable": system.get("python_executable"),
        "platform": system.get("platform"),
        "command": shlex.join(argv) if argv else None,
        "argv": argv,
        "cwd": system.get("cwd"),
        "git": (
            {
                "commit": git.get("commit"),
                "branch": git.get("branch"),
                "dirty": bool(git.get("dirty")),
                "remote": redact_remote(git.get("remote")),
            }
            if isinstance(git, Mapping)
            else None
        ),
        "packages": _packages(reader.run_file(run.id, PACKAGES_FILE)),
        "diff": _diff(reader.run_file(run.id, DIFF_FILE), bool(env.get("diff_truncated"))),
    }


def file_type(name: str) -> str:
    """The Content-Type a run file is downloaded with."""
    return FILE_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


def inside(path: Path, root: Path) -> bool:
    """Whether `path`, with every link resolved, lies under `root` and is not itself a link."""
    try:
        resolved = path.resolve(strict=True)
        return not path.is_symlink() and resolved.is_relative_to(root.resolve(strict=True))
    except (OSError, RuntimeError):
        return False
