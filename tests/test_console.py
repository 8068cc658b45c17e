"""Console capture: the terminal sees exactly what it would; files/output.log keeps a clean copy."""

from __future__ import annotations

import subprocess
from pathlib import Path

import localtrack
from localtrack.capture.console_tee import collapse_carriage_returns

from .conftest import PYTHON, child_env

CHILD = """
import os, sys, time, localtrack
from tqdm import tqdm
run = localtrack.init(project="p")
print("starting", flush=True)
for _ in tqdm(range(50), file=sys.stderr, mininterval=0, ascii=True):
    time.sleep(0.001)
print("warning: on stderr", file=sys.stderr, flush=True)
os.write(1, b"from C code\\n")
print(run.id, flush=True)
"""


def test_collapse_keeps_what_the_terminal_shows() -> None:
    assert collapse_carriage_returns(b"a 10%\rb 50%\rc 100%") == b"c 100%"
    assert collapse_carriage_returns(b"done 100%\r") == b"done 100%"
    assert collapse_carriage_returns(b"plain") == b"plain"


def test_tqdm_output_reaches_terminal_unchanged_and_log_collapsed(root: Path) -> None:
    plain = subprocess.run(
        [PYTHON, "-c", CHILD],
        env=child_env(LOCALTRACK_DIR=str(root), LOCALTRACK_CONSOLE="0"),
        capture_output=True,
        timeout=60,
    )
    captured = subprocess.run(
        [PYTHON, "-c", CHILD],
        env=child_env(LOCALTRACK_DIR=str(root)),
        capture_output=True,
        timeout=60,
    )
    assert captured.returncode == 0, captured.stderr
    run_id = captured.stdout.decode().split()[-1]
    # the terminal got the same bytes as without capture (only the run id differs)
    assert captured.stderr.count(b"\r") == plain.stderr.count(b"\r") > 40
    assert captured.stdout.replace(run_id.encode(), b"ID") == plain.stdout.replace(
        plain.stdout.split()[-1], b"ID"
    )
    text = (root / "runs" / run_id / "files" / "output.log").read_text()
    lines = text.splitlines()
    assert "starting" in lines and "from C code" in lines and "warning: on stderr" in lines
    bars = [line for line in lines if "it/s]" in line or "50/50" in line]
    assert len(bars) == 1 and "100%" in bars[0] and "\r" not in text


def test_output_printed_just_before_kill_9_is_kept(root: Path) -> None:
    code = (
        "import os, signal, localtrack\nrun = localtrack.init(project='p')\n"
        "print('last words', run.id, flush=True)\nos.kill(os.getpid(), signal.SIGKILL)"
    )
    out = subprocess.run(
        [PYTHON, "-c", code],
        env=child_env(LOCALTRACK_DIR=str(root)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == -9 and out.stdout.startswith("last words")
    run_id = out.stdout.split()[-1]
    log_text = (root / "runs" / run_id / "files" / "output.log").read_text()
    import time

    deadline = time.monotonic() + 5
    while "last words" not in log_text and time.monotonic() < deadline:
        time.sleep(0.05)
        log_text = (root / "runs" / run_id / "files" / "output.log").read_text()
    assert "last words" in log_text


def test_log_is_capped_with_a_marker(tmp_path: Path) -> None:
    code = (
        "from pathlib import Path\nfrom localtrack.capture.console import start_capture\n"
        f"c = start_capture(Path({str(tmp_path / 'out.log')!r}), max_bytes=1000)\n"
        "for i in range(200): print('line', i)\nc.stop()\nprint('after')"
    )
    out = subprocess.run(
        [PYTHON, "-c", code], env=child_env(), capture_output=True, text=True, timeout=60
    )
    assert out.stdout.count("line") == 200 and out.stdout.endswith("after\n")
    saved = (tmp_path / "out.log").read_text()
    assert len(saved) < 1200 and "cap; the rest was not saved" in saved and "after" not in saved


def test_console_capture_can_be_turned_off(root: Path) -> None:
    run = localtrack.init(project="p", dir=root, settings=localtrack.Settings(console=False))
    run.finish()
    assert not (root / "runs" / run.id / "files" / "output.log").exists()


def test_reader_pages_searches_and_tails_the_console(root: Path) -> None:
    from localtrack.store.reader import StoreReader

    code = "import localtrack\nr = localtrack.init(project='p')\nfor i in range(30): print('line', i)\nprint('ERROR boom')\nprint(r.id)"
    out = subprocess.run(
        [PYTHON, "-c", code],
        env=child_env(LOCALTRACK_DIR=str(root)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    run_id = out.stdout.split()[-1]
    reader = StoreReader(root)
    page = reader.console(run_id, start_line=5, limit=3)
    assert page.lines == ["line 5", "line 6", "line 7"] and page.line_numbers == [6, 7, 8]
    assert page.total_lines == 32
    assert reader.console(run_id, search="error").lines == ["ERROR boom"]
    assert reader.console(run_id, start_line=-2).lines == ["ERROR boom", run_id]
    for bad in ("../run.json", ".hidden", "a/b", ""):
        assert reader.run_file(run_id, bad) is None
    assert reader.run_file(run_id, "output.log") is not None
