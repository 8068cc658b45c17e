"""Grid and random claims without reading the sweep: a cursor says where to claim next, open
markers list the attempts to settle. Neither decides who holds a trial (the claim files do), so a
lost or stale cursor, a marker left by a killed claimer and a claim made without a marker (an
older agent) cost no grid point and run none twice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import localtrack
from localtrack.sweeps.controller import AgentInfo, Sweep
from localtrack.sweeps.state import SweepFiles

GRID = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"a": {"values": list(range(5))}, "b": {"values": [0, 1]}},
}


def _finish(sweep: Sweep, key: str) -> None:
    sweep.record_result(key, {"state": "finished", "value": 0.0})


def _dead_agent() -> dict:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    here = AgentInfo.here("gone")
    return {**here.record(), "id": "gone-agent", "pid": proc.pid}


def test_claims_step_from_the_cursor_and_lose_nothing_to_debris(root: Path) -> None:
    sweep = Sweep(root, localtrack.sweep(GRID, project="claims", dir=root))
    files: SweepFiles = sweep.files
    agent = AgentInfo.here("test")
    sweep.heartbeat(agent)

    def claim() -> int:
        attempt = sweep.next_trial(agent)
        assert attempt is not None
        assert list((files.dir / "open").iterdir()), "an open attempt has its marker"
        _finish(sweep, attempt.key)
        return attempt.number

    assert [claim(), claim()] == [0, 1]
    assert json.loads((files.dir / "cursor.json").read_text()) == {"next": 2}
    assert not list((files.dir / "open").iterdir()), "a result removes the marker"
    (files.dir / "cursor.json").unlink()  # lost: claims step over what is taken
    assert claim() == 2
    (files.dir / "cursor.json").write_text('{"next": 0}')  # moved back by a race
    assert claim() == 3
    (files.dir / "open" / "000004-0~999-dead").touch()  # a claimer killed before publishing
    assert claim() == 4
    # an older agent claimed trial 5 with no marker, then died: found when the numbers run out
    dead = _dead_agent()
    record = {"number": 5, "attempt": 0, "run_id": f"sweep-{sweep.id}-0005", "params": {"a": 2, "b": 1},
              "config": {"a": 2, "b": 1}, "agent": dead}  # fmt: skip
    assert files.claim(5, 0, record)
    for marker in (files.dir / "open").iterdir():
        marker.unlink()
    assert [claim() for _ in range(4)] == [6, 7, 8, 9]
    rerun = sweep.next_trial(agent)
    assert rerun is not None and (rerun.number, rerun.attempt) == (5, 1)
    assert files.attempt("000005-0").result["state"] == "crashed"
    _finish(sweep, rerun.key)
    assert sweep.next_trial(agent) is None
    attempts = files.attempts()
    assert sorted(attempts) == list(range(10))
    assert sum(len(items) for items in attempts.values()) == 11
    assert sweep.status()["state"] == "finished"


def test_a_claim_reads_no_other_claim(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What keeps a claim's cost flat as the sweep grows: it never lists every claim."""
    sweep = Sweep(root, localtrack.sweep(GRID, project="claims", dir=root))
    agent = AgentInfo.here("test")
    sweep.heartbeat(agent)

    def listing(*args: object, **kwargs: object) -> None:
        raise AssertionError("a claim listed every claim of the sweep")

    monkeypatch.setattr(SweepFiles, "attempts", listing)
    numbers = []
    for _ in range(10):
        attempt = sweep.next_trial(agent)
        assert attempt is not None
        numbers.append(attempt.number)
        _finish(sweep, attempt.key)
    assert numbers == list(range(10))
