"""The console-capture helper process (see localtrack.capture.console). Standard library only.

Usage: python -m localtrack.capture.console_tee LOG MAX_BYTES OUT_PIPE ERR_PIPE OUT_TTY ERR_TTY
Copies each pipe to its terminal fd byte for byte, and complete lines (\\r-collapsed) to LOG.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

_CHUNK = 65536


def collapse_carriage_returns(line: bytes) -> bytes:
    """What a terminal shows for one line: the text after the last carriage return.

    A trailing ``\\r`` (tqdm ends updates with one) does not blank the line.
    """
    stripped = line.rstrip(b"\r")
    cut = stripped.rfind(b"\r")
    return stripped[cut + 1 :] if cut >= 0 else stripped


class LogFile:
    """The shared, size-capped output.log; complete lines only."""

    def __init__(self, path: str, max_bytes: int) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._written = os.fstat(self._fd).st_size
        self._max = max_bytes
        self._cut = False
        self._lock = threading.Lock()

    def write_line(self, line: bytes) -> None:
        with self._lock:
            if self._cut:
                return
            data = collapse_carriage_returns(line) + b"\n"
            if self._written + len(data) > self._max:
                self._cut = True
                data = (
                    f"[localtrack: output.log reached its {self._max:,}-byte cap; "
                    "the rest was not saved]\n"
                ).encode()
            with contextlib.suppress(OSError):  # a full disk must not stop the terminal copy
                write_all(self._fd, data)
                self._written += len(data)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def pump(pipe: int, terminal: int, logfile: LogFile) -> None:
    partial = b""
    terminal_ok = True
    while True:
        try:
            chunk = os.read(pipe, _CHUNK)
        except OSError:
            break
        if not chunk:
            break
        if terminal_ok:
            try:
                write_all(terminal, chunk)
            except OSError:
                terminal_ok = False  # the terminal went away; keep logging
        lines = (partial + chunk).split(b"\n")
        partial = lines.pop()
        for line in lines:
            logfile.write_line(line)
    if partial:
        logfile.write_line(partial)


def main(argv: list[str]) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # live as long as the pipes do
    path, max_bytes, out_pipe, err_pipe, out_tty, err_tty = argv
    logfile = LogFile(path, int(max_bytes))
    threads = [
        threading.Thread(target=pump, args=(int(pipe), int(tty), logfile))
        for pipe, tty in ((out_pipe, out_tty), (err_pipe, err_tty))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main(sys.argv[1:])
