"""Running ``git``: the one place localtrack starts a git process.

Git is optional: outside a repository, without git installed, or when a call hangs (a slow
network file system, a credential prompt), the answer is simply None.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

DEFAULT_TIMEOUT_S = 3.0


def run_git(args: list[str], cwd: Path, timeout: float = DEFAULT_TIMEOUT_S) -> bytes | None:
    """The stdout of ``git <args>`` run in `cwd`, or None if it failed or took over `timeout`.

    Git never prompts (no terminal prompt, no stdin): a capture must not block a training run.
    """
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def git_text(args: list[str], cwd: Path, timeout: float = DEFAULT_TIMEOUT_S) -> str | None:
    """``run_git``'s stdout as stripped text (None when git failed)."""
    out = run_git(args, cwd, timeout)
    return None if out is None else out.decode("utf-8", "replace").strip()
