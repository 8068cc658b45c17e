"""Runs that end badly say why: uncaught exceptions, SIGTERM, `with run:` blocks (real processes)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import localtrack

from .conftest import PYTHON, child_env

RAISES = """
import localtrack
run = localtrack.init(project="p")
run.log({"loss": 1.0})
print("training", flush=True)

def step():
    raise ValueError("loss became NaN at step 7")

step()
"""

SIGTERMED = """
import os, signal, sys, localtrack
run = localtrack.init(project="p")
for i in range(5):
    run.log({"loss": 1.0 / (i + 1)})
print("ready", flush=True)
try:
    sys.stdin.read()  # until the test sends SIGTERM
finally:
    print("finally ran", flush=True)
"""

WITH_BLOCK = """
import sys, localtrack
with localtrack.init(project="p") as run:
    run.log({"loss": 1.0})
    {body}
"""


def _only_run(root: Path) -> dict:
    (run_json,) = root.glob("runs/*/run.json")
    return json.loads(run_json.read_text())


def _output_log(root: Path) -> str:
    (log,) = root.glob("runs/*/files/output.log")
    return log.read_text()


def test_uncaught_exception_keeps_traceback_and_records_reason(tmp_path: Path) -> None:
    root = tmp_path / "store"
    script = tmp_path / "train.py"
    script.write_text(RAISES)
    done = subprocess.run(
        [PYTHON, str(script)],
        env=child_env(LOCALTRACK_DIR=str(root)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "ValueError: loss became NaN at step 7" in done.stderr  # the terminal still sees it
    output = _output_log(root)
    assert "Traceback (most recent call last)" in output
    assert "ValueError: loss became NaN at step 7" in output
    meta = _only_run(root)
    assert (meta["state"], meta["exit_code"]) == ("failed", 1)
    reason = meta["exit_reason"]
    assert reason["kind"] == "exception"
    assert reason["type"] == "ValueError"
    assert reason["message"] == "loss became NaN at step 7"
    assert reason["where"] == f"{script}:8"
    assert reason["signal"] is None


def test_sigterm_flushes_and_marks_the_run_crashed_with_the_signal(root: Path) -> None:
    child = subprocess.Popen(
        [PYTHON, "-c", SIGTERMED],
        env=child_env(LOCALTRACK_DIR=str(root)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        child.send_signal(signal.SIGTERM)
        out, _ = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 128 + signal.SIGTERM
    assert "finally ran" in out
    meta = _only_run(root)
    assert (meta["state"], meta["exit_code"]) == ("crashed", 128 + signal.SIGTERM)
    assert meta["exit_reason"]["kind"] == "signal"
    assert meta["exit_reason"]["signal"] == "SIGTERM"
    assert "received SIGTERM" in _output_log(root)
    (info,) = localtrack.Api(root).runs()
    assert info.summary["loss"] == pytest.approx(0.2)  # flushed before exit
    assert info.max_step == 4


def test_sigterm_handler_of_the_program_is_left_alone(root: Path) -> None:
    code = (
        "import signal, localtrack\n"
        "signal.signal(signal.SIGTERM, lambda *a: None)\n"
        "localtrack.init(project='p')\n"
        "print(signal.getsignal(signal.SIGTERM).__name__)\n"
    )
    done = subprocess.run(
        [PYTHON, "-c", code],
        env=child_env(LOCALTRACK_DIR=str(root), LOCALTRACK_CONSOLE="0"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip() == "<lambda>"


@pytest.mark.parametrize(
    ("body", "state", "exit_code", "reason_type"),
    [
        ("raise KeyError('fold')", "failed", 1, "KeyError"),
        ("sys.exit(0)", "finished", 0, None),
        ("sys.exit(3)", "failed", 3, "SystemExit"),
    ],
)
def test_with_block_records_how_it_ended(
    root: Path, body: str, state: str, exit_code: int, reason_type: str | None
) -> None:
    subprocess.run(
        [PYTHON, "-c", WITH_BLOCK.replace("{body}", body)],
        env=child_env(LOCALTRACK_DIR=str(root), LOCALTRACK_CONSOLE="0"),
        capture_output=True,
        timeout=120,
    )
    meta = _only_run(root)
    assert (meta["state"], meta["exit_code"]) == (state, exit_code)
    reason = meta.get("exit_reason")
    assert (reason and reason["type"]) == reason_type
    if reason_type:
        assert reason["where"].endswith(":5")


def test_with_block_exception_traceback_reaches_the_console_log(root: Path) -> None:
    done = subprocess.run(
        [PYTHON, "-c", WITH_BLOCK.replace("{body}", "raise KeyError('fold')")],
        env=child_env(LOCALTRACK_DIR=str(root)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stderr.count("Traceback (most recent call last)") == 1  # not printed twice
    output = _output_log(root)
    assert "Traceback (most recent call last)" in output
    assert output.rstrip().endswith("KeyError: 'fold'")


def test_resumed_run_forgets_the_old_reason(root: Path) -> None:
    run = localtrack.init(project="p", dir=root)
    try:
        raise RuntimeError("first attempt")
    except RuntimeError:
        with pytest.raises(RuntimeError), run:
            raise
    again = localtrack.init(project="p", dir=root, id=run.id, resume="allow")
    again.finish()
    info = localtrack.Api(root).run(run.id)
    assert info.state == "finished"
    assert "exit_reason" not in info.meta or info.meta["exit_reason"] is None


def test_user_frame_skips_library_frames() -> None:
    from localtrack.liverun.lifecycle import exception_reason

    try:
        json.loads("{")
    except ValueError as exc:
        reason = exception_reason(exc)
    assert reason["type"] == "json.decoder.JSONDecodeError"
    assert reason["where"].startswith(f"{__file__}:")


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip("signals")
