"""Console capture: stdout and stderr go to the terminal unchanged *and* to files/output.log.

File descriptors 1 and 2 are pointed at pipes read by a small helper process
(``python -m localtrack.capture.console_tee``), which copies every byte to the original terminal and,
line by line, to the log. A helper process rather than a thread, so that whatever the program
printed just before dying (a kill -9, an abort, a fatal error) still reaches the terminal and the
log: the helper drains the pipes until they close. Progress bars that redraw with ``\\r`` (tqdm)
look the same on screen and are collapsed to their last state in the saved log. The log is
size-capped; past the cap one marker line says so and the rest reaches the terminal only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
_STOP_TIMEOUT_S = 2.0


class ConsoleCapture:
    """Captures fds 1 and 2 into `path` (through a helper process) until stop()."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self.epilogue: str | None = None  # appended to the log by stop()
        path.parent.mkdir(parents=True, exist_ok=True)
        _flush_python_streams()
        self._saved = {fd: os.dup(fd) for fd in (1, 2)}
        pipes = {fd: os.pipe() for fd in (1, 2)}
        read_ends = [pipes[1][0], pipes[2][0]]
        try:
            self._helper = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "localtrack.capture.console_tee",
                    str(path),
                    str(max_bytes),
                    *(str(fd) for fd in read_ends),
                    str(self._saved[1]),
                    str(self._saved[2]),
                ],
                pass_fds=(*read_ends, self._saved[1], self._saved[2]),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env=_helper_env(),
            )
        except OSError:
            for r, w in pipes.values():
                os.close(r)
                os.close(w)
            for saved in self._saved.values():
                os.close(saved)
            raise
        for fd, (read_end, write_end) in pipes.items():
            os.close(read_end)
            os.dup2(write_end, fd)
            os.close(write_end)

    def stop(self) -> None:
        """Point fds 1 and 2 back at the terminal; the helper drains the pipes and exits."""
        _flush_python_streams()
        for fd, saved in self._saved.items():
            os.dup2(saved, fd)
            os.close(saved)
        self._saved = {}
        # a forked child may still hold the pipe; then the helper exits when the child does
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._helper.wait(timeout=_STOP_TIMEOUT_S)
        if self.epilogue:
            self._append(self.epilogue)

    def _append(self, text: str) -> None:
        """Add `text` to the log only (not the terminal): the traceback of an exception that
        left a ``with run:`` block, which Python prints only after the capture has stopped."""
        try:
            with self.path.open("a", encoding="utf-8", errors="replace") as f:
                f.write(text if text.endswith("\n") else text + "\n")
        except OSError as exc:
            log.debug("could not add to %s: %s", self.path, exc)


def _helper_env() -> dict[str, str]:
    env = dict(os.environ)
    package_parent = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    return env


def _flush_python_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def start_for_run(
    files_dir: Path, enabled: bool, first_run: bool, document: Any
) -> ConsoleCapture | None:
    """Start a run's capture into ``files_dir/output.log`` and record in run.json's
    ``system.console`` whether it runs: "captured", "off" (the console setting), "nested" (an
    earlier run of this process captures the console) or "unavailable" (fds 1 and 2 could not be
    redirected), so that an empty console tab can say why."""
    capture = None
    if not enabled:
        status = "off"
    elif not first_run:
        status = "nested"
    else:
        capture = start_capture(files_dir / "output.log")
        status = "captured" if capture is not None else "unavailable"
    system = document.get("system") or {}
    system["console"] = status
    document.update(system=system)
    return capture


def start_capture(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> ConsoleCapture | None:
    """Start capturing, or return None (one debug line) where fds cannot be redirected."""
    try:
        os.fstat(1)
        os.fstat(2)
        return ConsoleCapture(path, max_bytes)
    except OSError as exc:
        log.debug("console capture unavailable: %s", exc)
        return None
