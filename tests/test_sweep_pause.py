"""A paused sweep makes its agents wait (polling its control with backoff) and they go on once
it is resumed; hyperband's reader reads each sealed shard once and nothing when no row landed."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import pytest

import localtrack
from localtrack.store.root import StoreRoot
from localtrack.sweeps import agent as agent_module
from localtrack.sweeps.hyperband import MetricFollower
from localtrack.sweeps.state import SweepFiles

QUIET = {
    "LOCALTRACK_SYSTEM_METRICS": "0",
    "LOCALTRACK_CONSOLE": "0",
    "LOCALTRACK_CAPTURE_PACKAGES": "0",
    "LOCALTRACK_SAVE_CODE": "0",
    "LOCALTRACK_CAPTURE_GIT": "0",
}
GRID = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"a": {"values": [1, 2, 3]}},
}


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in QUIET.items():
        monkeypatch.setenv(k, v)


def _train() -> None:
    run = localtrack.init()
    run.log({"loss": float(run.config["a"])})
    run.finish()


def test_agents_wait_while_the_sweep_is_paused_and_go_on_when_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent_module, "PAUSE_POLL_MAX_S", 0.2)
    sweep_id = localtrack.sweep(GRID, project="p", dir=tmp_path)
    files = SweepFiles(tmp_path, sweep_id)
    files.set_control("paused")
    reports: list[agent_module.AgentReport] = []
    worker = threading.Thread(
        target=lambda: reports.append(localtrack.agent(sweep_id, function=_train, dir=tmp_path))
    )
    worker.start()
    time.sleep(1.0)
    assert worker.is_alive(), "a paused sweep's agent waits instead of exiting"
    assert files.attempts() == {}
    files.set_control("running")
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert reports[0].trials == {"finished": 3}


def test_a_stopped_sweep_still_ends_its_waiting_agents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent_module, "PAUSE_POLL_MAX_S", 0.2)
    sweep_id = localtrack.sweep(GRID, project="p", dir=tmp_path)
    files = SweepFiles(tmp_path, sweep_id)
    files.set_control("paused")
    reports: list[agent_module.AgentReport] = []
    worker = threading.Thread(
        target=lambda: reports.append(localtrack.agent(sweep_id, function=_train, dir=tmp_path))
    )
    worker.start()
    time.sleep(0.5)
    files.set_control("stopped")
    worker.join(timeout=30)
    assert not worker.is_alive() and reports[0].trials == {}
    assert reports[0].reason.startswith("the sweep is")


def test_hyperband_reader_reads_each_shard_once_and_nothing_without_new_rows(
    tmp_path: Path,
) -> None:
    run = localtrack.init(
        project="p",
        dir=tmp_path,
        settings=localtrack.Settings(seal_scalars=1, flush_interval=60.0),
    )
    follower = MetricFollower(StoreRoot(tmp_path).run(run.id), "loss")
    for step in range(30):
        run.log({"loss": float(step), "other": 1.0})
        if step % 10 == 9:
            run.flush()
    assert follower.values() == [float(s) for s in range(30)]
    reads = follower.shard_reads
    assert reads >= 1
    for _ in range(5):
        assert len(follower.values()) == 30
    assert follower.shard_reads == reads, "no new rows: nothing read again"
    for step in range(30, 40):
        run.log({"loss": float(step)})
    run.flush()
    assert follower.values() == [float(s) for s in range(40)]
    assert follower.shard_reads <= reads + 1, "only the new shard is read"
    run.finish()


def test_a_program_trial_ends_when_its_agent_is_killed(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    from localtrack.store.runmeta import pid_alive

    from .conftest import REPO, child_env

    program = tmp_path / "train.py"
    program.write_text(
        "import os, sys, time\nimport localtrack\nrun = localtrack.init()\n"
        f"open({str(tmp_path / 'pid')!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(120)\n"
    )
    config = {**GRID, "program": str(program), "command": ["${interpreter}", "${program}"]}
    sweep_id = localtrack.sweep(config, project="p", dir=tmp_path / "store")
    agent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "localtrack.cli",
            "agent",
            sweep_id,
            "--dir",
            str(tmp_path / "store"),
        ],
        env=child_env(**QUIET),
        cwd=str(REPO),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        trial = int((tmp_path / "pid").read_text())
        agent.send_signal(signal.SIGKILL)
        agent.wait(timeout=10)
        deadline = time.monotonic() + 15
        while pid_alive(trial) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(trial), "the trial went on training after its agent died"
    finally:
        if agent.poll() is None:
            agent.kill()
        if (tmp_path / "pid").exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int((tmp_path / "pid").read_text()), signal.SIGKILL)
