"""A sweep a real `localtrack server` hosts: agent processes with their own stores (as on other
machines) claim trials over HTTP with a write key scoped to the project; one is killed -9 while
training and its trial is re-queued; a key of another project sees no sweep; hyperband stops
come from the server. On both server backends (``module_server_backend``: on ``pg+s3`` the
server's sweeps are rows of PostgreSQL, read here with its URL)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import localtrack
from localtrack.apikeys import KeyStore
from localtrack.errors import AuthError, RemoteError
from localtrack.sweeps.controller import Sweep

from .backend_fixtures import ServerBackend
from .conftest import PYTHON, REPO
from .store_fixtures import Child, child_env, write_script
from .sync_fixtures import ServerProcess, get_json

pytestmark = pytest.mark.server
QUIET = {
    "LOCALTRACK_SYSTEM_METRICS": "0",
    "LOCALTRACK_CONSOLE": "0",
    "LOCALTRACK_CAPTURE_PACKAGES": "0",
    "LOCALTRACK_SAVE_CODE": "0",
    "LOCALTRACK_CAPTURE_GIT": "0",
    "LOCALTRACK_FLUSH_INTERVAL": "0.05",
    "LOCALTRACK_STALE_AFTER": "3",
}
AGENT = """
import json, sys
import localtrack

sweep_id, url, root, block = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "block"

def train():
    run = localtrack.init()
    run.log({"loss": float(run.config["a"]) + float(run.config["b"])})
    if block and not run.id.endswith("-r1"):
        print("training", run.id, flush=True)
        sys.stdin.readline()  # until killed
    run.finish()

print("ready", flush=True)
report = localtrack.agent(sweep_id, function=train, dir=root, base_url=url,
                          count=1 if block else None)
print("done", json.dumps(report.trials), flush=True)
"""
GRID = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"a": {"values": [0, 1, 2]}, "b": {"values": [0, 1, 2, 3]}},
}


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, module_server_backend: ServerBackend
) -> Iterator[tuple[ServerProcess, dict]]:
    root = tmp_path_factory.mktemp("sweepserver") / "store"
    root.mkdir()
    keys = KeyStore(root, module_server_backend.index_url)
    info = {
        "root": root,
        "index_url": module_server_backend.index_url or None,
        "write": keys.create("agent", "write", project="sweeps").token,
        "other": keys.create("stranger", "write", project="elsewhere").token,
        "read": keys.create("viewer", "read").token,
    }
    server = ServerProcess(root, env=module_server_backend.env).start()
    try:
        yield server, info
    finally:
        server.stop()


def _agents(tmp_path: Path, url: str, key: str, sweep_id: str, modes: list[str]) -> list[Child]:
    script = write_script(tmp_path, "agent.py", AGENT)
    env = child_env(**QUIET, LOCALTRACK_API_KEY=key)
    return [
        Child(script, sweep_id, url, tmp_path / f"machine{i}", mode, env=env)
        for i, mode in enumerate(modes)
    ]


def test_cli_creates_a_sweep_on_the_server_and_agents_claim_each_point_once(
    tmp_path: Path, served: tuple[ServerProcess, dict]
) -> None:
    server, info = served
    config = tmp_path / "sweep.json"
    config.write_text(json.dumps(GRID))
    created = subprocess.run(
        [PYTHON, "-m", "localtrack.cli", "sweep", str(config), "-p", "sweeps", "--to", server.url],
        env=child_env(LOCALTRACK_API_KEY=info["write"]),
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    sweep_id = created.stdout.strip()
    children = _agents(tmp_path, server.url, info["write"], sweep_id, ["run", "block", "run"])
    blocked = children[1]
    try:
        run_id = blocked.expect("training", timeout=120).split()[1]
        blocked.kill9()  # kill -9 while training: the server re-queues its trial as …-r1
        for child in (children[0], children[2]):
            child.expect("done", timeout=240)
            assert child.wait() == 0
    finally:
        for child in children:
            child.stop()
    sweep = Sweep(info["root"], sweep_id, info["index_url"])
    attempts = sweep.files.attempts()
    assert sorted(attempts) == list(range(12)), "every grid point claimed on the server, once"
    number = int(run_id.rsplit("-", 1)[1])
    states = [a.result and a.result["state"] for a in attempts[number]]
    assert states == ["crashed", "finished"]
    assert attempts[number][1].run_id == run_id + "-r1"
    for n, items in attempts.items():
        assert items[-1].result["state"] == "finished", (n, items[-1].result)
        params = items[-1].params
        assert items[-1].result["value"] == params["a"] + params["b"]
    status = sweep.status()
    assert status["state"] == "finished" and status["best"]["value"] == 0.0
    ran = [json.loads(p.read_text())["run_id"] for p in tmp_path.glob("machine*/sweeps/*/claims/*")]
    assert len(ran) == len(set(ran)) == 13


def test_a_key_of_another_project_sees_no_sweep_and_a_read_key_cannot_claim(
    tmp_path: Path, served: tuple[ServerProcess, dict]
) -> None:
    server, info = served
    sweep_id = localtrack.sweep(GRID, project="sweeps", base_url=server.url, api_key=info["write"])
    with pytest.raises(RemoteError, match="no sweep") as err:
        localtrack.agent(sweep_id, dir=tmp_path, base_url=server.url, api_key=info["other"])
    assert err.value.status == 404
    with pytest.raises(AuthError, match="needs a write key"):
        localtrack.agent(sweep_id, dir=tmp_path, base_url=server.url, api_key=info["read"])
    with pytest.raises(AuthError, match="may not write"):
        localtrack.sweep(GRID, project="sweeps", base_url=server.url, api_key=info["other"])
    status, body = get_json(
        f"{server.url}/api/v1/sweeps/{sweep_id}/controller",
        {"Authorization": f"Bearer {info['other']}"},
    )
    assert status == 404 and body["error"]["code"] == "not_found"


def test_pause_on_the_server_makes_remote_agents_wait_then_resume(
    tmp_path: Path, served: tuple[ServerProcess, dict]
) -> None:
    server, info = served
    key = info["write"]
    sweep_id = localtrack.sweep(GRID, project="sweeps", base_url=server.url, api_key=key)
    from localtrack.sweeps.remote import set_remote_control

    set_remote_control(server.url, sweep_id, "paused", key)
    (child,) = _agents(tmp_path, server.url, key, sweep_id, ["run"])
    try:
        child.expect("ready", timeout=60)
        assert not Sweep(info["root"], sweep_id, info["index_url"]).files.attempts()
        set_remote_control(server.url, sweep_id, "running", key)
        done = json.loads(child.expect("done", timeout=240).split(" ", 1)[1])
    finally:
        child.stop()
    assert done == {"finished": 12}


def test_sync_carries_a_local_sweep_with_its_state_and_refuses_a_bad_one(
    tmp_path: Path, served: tuple[ServerProcess, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    from localtrack.store.root import StoreRoot
    from localtrack.sweeps.state import SweepFiles
    from localtrack.sweeps.wire import sweep_state
    from localtrack.sync.client import SyncClient
    from localtrack.sync.remote import connect

    server, info = served
    for name, value in QUIET.items():
        monkeypatch.setenv(name, value)
    local = tmp_path / "laptop"
    config = {**GRID, "parameters": {"a": {"values": [0, 1]}, "b": {"value": 1}}}
    sweep_id = localtrack.sweep(config, project="sweeps", dir=local)

    def train() -> None:
        run = localtrack.init()
        run.log({"loss": float(run.config["a"]) + 1})
        run.finish()

    localtrack.agent(sweep_id, function=train, dir=local)
    remote = connect(server.url, info["write"])
    client = SyncClient.for_store(local, remote)
    try:
        report = client.sync(StoreRoot(local).run_ids())
    finally:
        client.close()
    assert report.sweeps == [sweep_id] and not report.failed
    here = Sweep(info["root"], sweep_id, info["index_url"])
    assert here.status()["state"] == "finished" and here.status()["best"]["value"] == 1.0
    assert {n: a[-1].result["state"] for n, a in here.files.attempts().items()} == {
        0: "finished",
        1: "finished",
    }
    bad = sweep_state(SweepFiles(local, sweep_id))
    bad["results"][0]["record"]["state"] = "exploded"
    remote = connect(server.url, info["write"])
    try:
        with pytest.raises(RemoteError, match="result field 'state' must be one of") as err:
            remote.request_json("POST", f"/api/v1/sweeps/{sweep_id}/state", bad)
        assert err.value.status == 400
    finally:
        remote.transport.close()
