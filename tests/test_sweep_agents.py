"""Sweep agents as real processes: racing on one store, with the index off, killed with -9,
a program that fails at once, hyperband, bayes, and a cancelled sweep's subprocess trial."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import localtrack
from localtrack.store.runmeta import effective_state, heartbeat_time, load
from localtrack.sweeps import space
from localtrack.sweeps.controller import Sweep
from localtrack.sweeps.state import SweepFiles, trial_key

from .store_fixtures import Child, child_env, write_script

pytestmark = pytest.mark.crash
QUIET = {
    "LOCALTRACK_SYSTEM_METRICS": "0",
    "LOCALTRACK_CONSOLE": "0",
    "LOCALTRACK_CAPTURE_PACKAGES": "0",
    "LOCALTRACK_SAVE_CODE": "0",
    "LOCALTRACK_CAPTURE_GIT": "0",
    "LOCALTRACK_FLUSH_INTERVAL": "0.05",
}
AGENT = """
import json, sys
import localtrack

sweep_id, root, block = sys.argv[1], sys.argv[2], sys.argv[3] == "block"

def train():
    run = localtrack.init()
    run.log({"loss": float(run.config["a"]) + float(run.config["b"])})
    run.flush()
    if block and not run.id.endswith("-r1"):
        print("training", run.id, flush=True)
        sys.stdin.readline()  # until killed
    run.finish()

print("ready", flush=True)
report = localtrack.agent(sweep_id, function=train, dir=root, count=1 if block else None)
print("done", json.dumps(report.trials), flush=True)
"""


def _grid(a: int, b: int) -> dict:
    return {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"a": {"values": list(range(a))}, "b": {"values": list(range(b))}},
    }


def _run_agents(tmp_path: Path, root: Path, sweep_id: str, n: int, **env: str) -> list[dict]:
    script = write_script(tmp_path, "agent.py", AGENT)
    children = [
        Child(script, sweep_id, root, "run", env=child_env(**QUIET, **env)) for _ in range(n)
    ]
    try:
        reports = [json.loads(c.expect("done", timeout=240).split(" ", 1)[1]) for c in children]
        assert all(c.wait() == 0 for c in children)
    finally:
        for c in children:
            c.stop()
    return reports


def _check_each_point_once(root: Path, sweep_id: str) -> None:
    sweep = Sweep(root, sweep_id)
    params = sweep.config.params
    size = space.grid_size(params)
    attempts = sweep.files.attempts()
    assert sorted(attempts) == list(range(size)), "every grid point claimed, none twice"
    for number, items in attempts.items():
        finished = [a for a in items if (a.result or {}).get("state") == "finished"]
        assert len(finished) == 1, (number, [a.result for a in items])
        meta = load(root / "runs" / finished[0].run_id / "run.json")
        assert meta["state"] == "finished" and meta["group"] == sweep_id
        assert meta["config"] == space.nested(params, space.grid_point(params, number))
    assert sweep.status()["state"] == "finished"


def test_eight_agents_racing_run_each_grid_point_exactly_once(tmp_path: Path, root: Path) -> None:
    sweep_id = localtrack.sweep(_grid(10, 5), project="race", dir=root)
    reports = _run_agents(tmp_path, root, sweep_id, 8)
    assert sum(sum(r.values()) for r in reports) == 50
    _check_each_point_once(root, sweep_id)
    best = Sweep(root, sweep_id).status()["best"]
    assert best["value"] == 0.0 and best["params"] == {"a": 0, "b": 0}


def test_four_agents_with_the_index_off_claim_through_files(tmp_path: Path, root: Path) -> None:
    sweep_id = localtrack.sweep(_grid(4, 5), project="nfs", dir=root)
    reports = _run_agents(tmp_path, root, sweep_id, 4, LOCALTRACK_INDEX="off")
    assert sum(sum(r.values()) for r in reports) == 20
    _check_each_point_once(root, sweep_id)
    assert not (root / "index.db").exists()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_agent_killed_while_training_or_claiming_is_detected_and_its_trial_rerun(
    tmp_path: Path, root: Path
) -> None:
    sweep_id = localtrack.sweep(_grid(2, 2), project="kill", dir=root)
    files = SweepFiles(root, sweep_id)
    script = write_script(tmp_path, "agent.py", AGENT)
    victim = Child(script, sweep_id, root, "block", env=child_env(**QUIET))
    try:
        run_id = victim.expect("training").split()[1]
        victim.kill9()
    finally:
        victim.stop()
    # an agent killed while claiming: its claim of trial 3 is published, no run was started,
    # and a partial claim file it was writing for another trial is left behind
    dead = {"id": "gone-agent", "host": os.uname().nodename, "pid": _dead_pid(), "boot_id": None}
    assert files.claim(3, 0, {"number": 3, "attempt": 0, "run_id": f"sweep-{sweep_id}-0003",
                              "params": {"a": 1, "b": 1}, "config": {"a": 1, "b": 1},
                              "agent": dead})  # fmt: skip
    (files.dir / "claims" / f".{trial_key(2, 0)}.json.{dead['pid']}-ab12.tmp").write_text("{")

    reports = _run_agents(tmp_path, root, sweep_id, 1)
    assert reports == [{"finished": 4}]
    _check_each_point_once(root, sweep_id)
    attempts = files.attempts()
    assert [a.result["state"] for a in attempts[0]] == ["crashed", "finished"]
    assert [a.result["state"] for a in attempts[3]] == ["crashed", "finished"]
    assert attempts[0][0].run_id == run_id
    paths = root / "runs" / run_id
    assert effective_state(load(paths / "run.json"), heartbeat_time(paths / "heartbeat")) == (
        "crashed"
    )


def test_program_failing_at_once_stops_the_agent_after_three_failures(
    tmp_path: Path, root: Path
) -> None:
    (tmp_path / "fail.py").write_text("import sys\nsys.exit(3)\n")
    config = {**_grid(5, 2), "program": "fail.py"}
    sweep_id = localtrack.sweep(config, project="fail", dir=root)
    done = subprocess.run(
        [sys.executable, "-m", "localtrack.cli", "agent", sweep_id, "--dir", str(root)],
        cwd=tmp_path,
        env=child_env(**QUIET),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 1, done.stderr
    assert "stopped after 3 failed trials in a row" in done.stderr
    attempts = SweepFiles(root, sweep_id).attempts()
    assert sorted(attempts) == [0, 1, 2]
    assert all(items[-1].result["state"] == "failed" for items in attempts.values())


def _quiet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in QUIET.items():
        monkeypatch.setenv(name, value)


def test_hyperband_stops_a_clearly_bad_trial(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _quiet_env(monkeypatch)
    config = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        # each trial better than those before it at every rung, but the last: as in W&B, the
        # worse of two trials at a rung would stop (eta 3 keeps floor(n/3) + 1)
        "parameters": {"penalty": {"values": [0.01, 0.0, 10.0]}},
        "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 3},
    }
    sweep_id = localtrack.sweep(config, project="hb", dir=root)
    seen_stop = []

    def train() -> None:
        run = localtrack.init()
        penalty = run.config["penalty"]
        for step in range(20 if penalty < 1 else 100_000):
            run.log({"loss": penalty + 1 / (step + 1)})
            if run.should_stop:
                seen_stop.append(run.id)
            run.flush()

    report = localtrack.agent(sweep_id, function=train, dir=root)
    assert report.trials == {"finished": 2, "stopped": 1}
    attempts = SweepFiles(root, sweep_id).attempts()
    bad = attempts[2][0]
    assert bad.result["state"] == "stopped" and "hyperband" in bad.result["stop_reason"]
    assert load(root / "runs" / bad.run_id / "run.json")["state"] == "stopped"
    assert [attempts[n][0].result["state"] for n in (0, 1)] == ["finished", "finished"]
    assert seen_stop in ([], [bad.run_id])  # should_stop turned True before the raising log()


def test_bayes_suggests_through_optuna(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("optuna")
    _quiet_env(monkeypatch)
    config = {
        "method": "bayes",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {
            "x": {"min": -2.0, "max": 2.0},
            "kind": {"values": ["a", "b"]},
            "n": {"value": 1},
        },
    }
    sweep_id = localtrack.sweep(config, project="bayes", dir=root)

    def train() -> None:
        with localtrack.init() as run:
            run.log({"loss": (run.config["x"] - 1) ** 2 + (run.config["kind"] == "b")})

    report = localtrack.agent(sweep_id, function=train, dir=root, count=12)
    assert report.trials == {"finished": 12}
    attempts = SweepFiles(root, sweep_id).attempts()
    xs = [items[0].params["x"] for items in attempts.values()]
    assert len(set(xs)) == 12 and all(-2 <= x <= 2 for x in xs)
    assert all(items[0].claim["suggested"] for items in attempts.values())
    assert all(items[0].params["n"] == 1 for items in attempts.values())
    assert Sweep(root, sweep_id).status()["best"]["value"] < 1.0


TRIAL_PROGRAM = """
import time
import localtrack

run = localtrack.init()
run.log({"loss": 1.0})
run.flush()
print("started", run.id, flush=True)
while True:  # never logs again: only a signal ends it
    time.sleep(0.05)
"""
CLI_AGENT = """
import sys
from localtrack.cli.main import main

sys.argv = ["localtrack", "agent", *sys.argv[1:]]
main()
"""


def test_cancel_stops_a_subprocess_trial_by_signal_and_marks_it_stopped(
    tmp_path: Path, root: Path
) -> None:
    write_script(tmp_path, "trial.py", TRIAL_PROGRAM)
    config = {**_grid(2, 1), "program": str(tmp_path / "trial.py")}
    sweep_id = localtrack.sweep(config, project="cancel", dir=root)
    agent = Child(
        write_script(tmp_path, "cli_agent.py", CLI_AGENT),
        sweep_id,
        "--dir",
        root,
        env=child_env(**QUIET),
    )
    try:
        run_id = agent.expect("started").split()[1]
        cli = [sys.executable, "-m", "localtrack.cli"]
        subprocess.run([*cli, "sweep", "--cancel", sweep_id, "--dir", str(root)], check=True,
                       env=child_env(), capture_output=True, timeout=120)  # fmt: skip
        assert agent.wait(timeout=120) == 0, agent.stderr_text
    finally:
        agent.stop()
    assert load(root / "runs" / run_id / "run.json")["state"] == "stopped"
    attempts = SweepFiles(root, sweep_id).attempts()
    assert list(attempts) == [0] and attempts[0][0].result["state"] == "stopped"
    listed = subprocess.run(
        [*cli, "sweeps", "--json", "--dir", str(root)],
        env=child_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    (row,) = json.loads(listed.stdout)
    assert row["state"] == "cancelled" and row["trials"] == {"stopped": 1}


def test_the_docs_example_runs_as_is_with_no_server(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    text = (Path(__file__).parent.parent / "docs" / "sweeps.md").read_text()
    source = text.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "sweep_demo.py").write_text(source)
    done = subprocess.run(
        [sys.executable, "sweep_demo.py"],
        cwd=tmp_path,
        env=child_env(**QUIET),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    (sweep_id,) = os.listdir(tmp_path / "localtrack-runs" / "sweeps")
    status = Sweep(tmp_path / "localtrack-runs", sweep_id).status()
    assert sum(status["trials"].values()) == 12 and set(status["trials"]) <= {"finished", "stopped"}
    assert status["best"] is not None


def _wait_for_claims(files: SweepFiles, pids: set[int]) -> None:
    """Until each of `pids` has published a claim (an event on disk, polled)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        claimers = {
            (a.claim.get("agent") or {}).get("pid") for i in files.attempts().values() for a in i
        }
        if pids <= claimers:
            return
        time.sleep(0.005)
    raise AssertionError(f"agents {pids} made no claim in 60 s")


def test_agents_killed_right_after_claiming_lose_no_grid_point(tmp_path: Path, root: Path) -> None:
    sweep_id = localtrack.sweep(_grid(6, 4), project="kill-claim", dir=root)
    files = SweepFiles(root, sweep_id)
    script = write_script(tmp_path, "agent.py", AGENT)
    agents = [Child(script, sweep_id, root, "run", env=child_env(**QUIET)) for _ in range(3)]
    try:
        victims = agents[:2]
        _wait_for_claims(files, {v.pid for v in victims})
        for victim in victims:
            victim.kill9()  # somewhere between a claim and the end of a trial
        agents[2].expect("done", timeout=240)
    finally:
        for child in agents:
            child.stop()
    _run_agents(tmp_path, root, sweep_id, 1)  # settles whatever the victims left
    _check_each_point_once(root, sweep_id)
