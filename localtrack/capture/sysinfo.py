"""What a run records about where it ran: host, process, Python, platform, command, git."""

from __future__ import annotations

import getpass
import os
import platform
import socket
import sys
import time
from pathlib import Path
from typing import Any

from .git import git_text


def git_state(cwd: Path | None = None) -> dict[str, Any] | None:
    """Commit, branch, dirty flag and remote of the repository around `cwd`; None outside one."""
    cwd = cwd or Path.cwd()
    commit = git_text(["rev-parse", "HEAD"], cwd)
    if commit is None:
        return None
    status = git_text(["status", "--porcelain", "--untracked-files=no"], cwd)
    return {
        "commit": commit,
        "branch": git_text(["rev-parse", "--abbrev-ref", "HEAD"], cwd),
        "dirty": bool(status),
        "remote": git_text(["config", "--get", "remote.origin.url"], cwd),
        "root": git_text(["rev-parse", "--show-toplevel"], cwd),
    }


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


def capture(with_git: bool = True) -> dict[str, Any]:
    """A snapshot of the environment at init, stored as run.json's "system"."""
    info: dict[str, Any] = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "user": _user(),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "argv": list(sys.argv),
        "cwd": os.getcwd(),
        "started_at": time.time(),
    }
    if with_git:
        info["git"] = git_state()
    return info
