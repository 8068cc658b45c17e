"""What a run records about where it ran: host, process, Python, platform, command, git."""

from __future__ import annotations

import getpass
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_GIT_TIMEOUT_S = 3.0


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state(cwd: Path | None = None) -> dict[str, Any] | None:
    """Commit, branch, dirty flag and remote of the repository around `cwd`; None outside one."""
    cwd = cwd or Path.cwd()
    commit = _git(["rev-parse", "HEAD"], cwd)
    if commit is None:
        return None
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    return {
        "commit": commit,
        "branch": _git(["rev-parse", "--abbrev-ref", "HEAD"], cwd),
        "dirty": bool(status),
        "remote": _git(["config", "--get", "remote.origin.url"], cwd),
        "root": _git(["rev-parse", "--show-toplevel"], cwd),
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
