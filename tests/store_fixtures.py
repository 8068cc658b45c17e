"""Helpers for the store reliability tests: child processes that log, and store inspection.

The crash, tail-log, recovery and concurrency tests run real Python children (the child script is
written to the test's tmp_path and run with ``sys.executable``), talk to them over stdin/stdout
lines, kill them with SIGKILL and then look at what is on disk.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from localtrack.store.layout import RunPaths
from localtrack.store.runfiles import read_run_data

REPO = Path(__file__).resolve().parent.parent
LINE_TIMEOUT_S = 60.0


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a child that imports this checkout's localtrack, free of LOCALTRACK_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCALTRACK_")}
    for name in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "WORLD_SIZE"):
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def write_script(directory: Path, name: str, source: str) -> Path:
    """Write a child script (dedented) into `directory` and return its path."""
    path = directory / name
    path.write_text(textwrap.dedent(source))
    return path


class Child:
    """A child Python process whose stdout lines arrive on a queue (no polling on timers)."""

    def __init__(self, script: Path, *args: object, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(script), *map(str, args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env or child_env(),
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr_text = ""
        self._out = threading.Thread(target=self._pump_stdout, daemon=True)
        self._err = threading.Thread(target=self._pump_stderr, daemon=True)
        self._out.start()
        self._err.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _pump_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _pump_stderr(self) -> None:
        assert self.proc.stderr is not None
        self.stderr_text = self.proc.stderr.read()

    def expect(self, prefix: str, timeout: float = LINE_TIMEOUT_S) -> str:
        """Wait for the next stdout line starting with `prefix` and return it."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0.001))
            except queue.Empty:
                raise AssertionError(
                    f"child {self.pid}: no {prefix!r} line in {timeout} s"
                ) from None
            if line is None:
                self.proc.wait()
                self._close()
                raise AssertionError(
                    f"child {self.pid} exited ({self.proc.returncode}) before {prefix!r}:\n"
                    f"{self.stderr_text}"
                )
            if line.startswith(prefix):
                return line

    def next_line(self, timeout: float = LINE_TIMEOUT_S) -> str | None:
        """The next stdout line; None once the child has exited; TimeoutError if none comes."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"child {self.pid}: no output for {timeout} s") from None
        if line is None:
            self.lines.put(None)
        return line

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def kill9(self) -> float:
        """SIGKILL the child, reap it (so its pid is really gone) and return the kill time."""
        killed_at = time.time()
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._close()
        return killed_at

    def wait(self, timeout: float = LINE_TIMEOUT_S) -> int:
        """Wait for a normal exit; return the exit code (stderr is in `stderr_text`)."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        code = self.proc.wait(timeout)
        self._close()
        return code

    def _close(self) -> None:
        self._out.join(5)
        self._err.join(5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None and not pipe.closed:
                with contextlib.suppress(BrokenPipeError):
                    pipe.close()

    def stop(self) -> None:
        """Kill the child if it still runs (cleanup after a failed assertion)."""
        if self.proc.poll() is None:
            self.kill9()
        else:
            self.proc.wait()
            self._close()


def integrity_check(root: Path) -> str:
    """`PRAGMA integrity_check` of a store's index.db, through a plain sqlite3 connection."""
    conn = sqlite3.connect(root / "index.db")
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def index_rows(root: Path, sql: str, *args: object) -> list[tuple]:
    """Rows of a query against index.db, read-only, through a plain sqlite3 connection."""
    conn = sqlite3.connect(f"file:{root / 'index.db'}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def raw_row_count(paths: RunPaths, keys: Sequence[str] | None = None) -> int:
    """Stored metric rows of a run (shards + live tail), before overwrites are resolved."""
    return sum(t.num_rows for t in read_run_data(paths, keys).tables)


def column(table: pa.Table, name: str) -> np.ndarray:
    """A history column as numpy; fails if any value is null (a hole in the data)."""
    col = table.column(name)
    assert col.null_count == 0, f"column {name!r} has {col.null_count} nulls"
    return col.to_numpy()


def tmp_files(run_dir: Path) -> list[str]:
    """Partial files (`.<name>.tmp`) anywhere in a run directory."""
    return sorted(p.name for p in run_dir.rglob(".*.tmp"))


@pytest.fixture
def classic_tail(monkeypatch: pytest.MonkeyPatch) -> None:
    """The classic write path (a queue, then the tail log), which network filesystems keep."""
    from localtrack.store import writer

    monkeypatch.setattr(writer, "is_network_filesystem", lambda path: True)


def metric_points(
    root: Path, run_id: str, skip: str | None = None
) -> dict[str, list[tuple[int, float]]]:
    """Each metric key's (step, value) points as a reader of the store at `root` sees them, in
    step order; keys starting with `skip` (e.g. "system/") left out."""
    from localtrack.store.reader import StoreReader

    table = StoreReader(root).long_table(run_id)
    out: dict[str, list[tuple[int, float]]] = {}
    for step, key, value in zip(
        table.column("step").to_pylist(),
        table.column("key").to_pylist(),
        table.column("value").to_pylist(),
        strict=True,
    ):
        if skip is None or not key.startswith(skip):
            out.setdefault(key, []).append((step, value))
    return {k: sorted(v) for k, v in out.items()}
