"""Two `localtrack server` processes (replicas) on one PostgreSQL database, each with its own
store directory, so whatever one sees of the other's state came through PostgreSQL: rate limits,
sweeps and saved views (docs/deploy.md's state table).

Real processes on 127.0.0.1 and a real, throwaway PostgreSQL (tests/pg_fixtures.py). The stores
themselves are held to the directory backend's expectations in test_shared_state_stores.py.
"""

from __future__ import annotations

import concurrent.futures
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localtrack.apikeys import KeyStore

from .pg_fixtures import PgCluster
from .sync_fixtures import ServerProcess, env_without_home, log_runs, run_cli

pytestmark = pytest.mark.server


@dataclass
class Replicas:
    a: ServerProcess
    b: ServerProcess
    url: str  # the database both use
    admin: str  # an admin key's token


@pytest.fixture(scope="module")
def replicas(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    url = pg_cluster.new_database()
    base = tmp_path_factory.mktemp("replicas")
    admin = KeyStore(base / "a", url).create("root", "admin").token
    a = ServerProcess(base / "a", args=("--index", url))
    b = ServerProcess(base / "b", args=("--index", url))
    try:
        a.start()
        b.start()
        yield Replicas(a, b, url, admin)
    finally:
        a.stop()
        b.stop()
        from localtrack.store.pgindex import close_pools

        close_pools()


def _call(
    url: str, token: str, body: dict[str, Any] | None = None, method: str | None = None
) -> tuple[int, Any]:
    """GET (or POST `body` as JSON) with a bearer key: (status, the JSON answer)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        answer = exc.read()
        exc.close()
        return int(exc.code), json.loads(answer) if answer.startswith(b"{") else None


def _status(url: str, token: str) -> int:
    return _call(url, token)[0]


def test_failed_logins_through_one_replica_count_on_the_other(replicas: Replicas) -> None:
    """19 wrong keys through A, then 19 through B: each replica alone would allow 20 (its burst),
    together they spent 38 from one bucket, so B refuses some with 429."""
    wrong = "lt_000000000000_" + "b" * 43

    def failures(replica: ServerProcess) -> list[int]:
        return [_status(f"{replica.url}/api/v1/projects", wrong) for _ in range(19)]

    through_a = failures(replicas.a)
    assert set(through_a) == {401}
    through_b = failures(replicas.b)
    assert 429 in through_b and set(through_b) <= {401, 429}
    assert _status(f"{replicas.b.url}/api/v1/projects", replicas.admin) == 200  # keys still work


def test_a_sweep_made_through_one_replica_is_claimed_once_across_both(replicas: Replicas) -> None:
    """Created through A, seen on B; 8 agents claim through A and B in turn until nothing is
    left: each of the 16 grid points is handed out exactly once, and results land on either."""
    grid = {"method": "grid", "parameters": {"a": {"values": list(range(16))}}}
    a, b, token = replicas.a.url, replicas.b.url, replicas.admin
    code, made = _call(f"{a}/api/v1/sweeps", token, {"config": grid, "project": "sw"})
    assert code == 201, made
    sweep = f"/api/v1/sweeps/{made['id']}"
    code, seen = _call(f"{b}{sweep}/controller", token)
    assert code == 200 and seen["document"]["project"] == "sw" and seen["control"] == "running"

    def agent(n: int) -> list[int]:
        me = {"id": f"agent-{n}", "host": "elsewhere", "pid": n}
        got = []
        for turn in range(100):
            via = (a, b)[(n + turn) % 2]
            code, answer = _call(f"{via}{sweep}/claim", token, {"agent": me})
            assert code == 200, answer
            claim = answer["attempt"]
            if claim is None:
                return got
            got.append(claim["number"])
            key = f"{claim['number']:06d}-{claim['attempt']}"
            result = {"result": {"state": "finished", "value": float(claim["number"])}}
            code, answer = _call(f"{via}{sweep}/trials/{key}/result", token, result)
            assert code == 200 and answer["recorded"] is True, answer
        raise AssertionError("an agent claimed 100 trials of 16")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        claimed = [number for got in pool.map(agent, range(8)) for number in got]
    assert sorted(claimed) == list(range(16))
    code, status = _call(f"{a}{sweep}/controller", token)
    assert code == 200 and status["status"]["trials"] == {"finished": 16}
    assert status["status"]["state"] == "finished"
    assert _call(f"{b}{sweep}/control", token, {"state": "paused"})[0] == 200
    assert _call(f"{a}{sweep}/controller", token)[1]["control"] == "paused"


def test_a_view_saved_through_one_replica_is_listed_on_the_other(
    replicas: Replicas, tmp_path: Path
) -> None:
    a, b, token = replicas.a.url, replicas.b.url, replicas.admin
    client = tmp_path / "cluster"
    log_runs(client, n=1, steps=5, project="views")
    env = dict(env_without_home(tmp_path), LOCALTRACK_API_KEY=token)
    synced = run_cli("sync", "--all", "--dir", str(client), "--to", a, env=env)
    assert synced.returncode == 0, synced.stderr
    views = "/api/v1/projects/views/views"
    code, before = _call(f"{b}{views}", token)
    assert code == 200 and before["views"] == []
    state = {"x": "step", "smoothing": "ema", "amount": 0.5}
    body = {"state": state, "default": True}
    code, saved = _call(f"{a}{views}/main", token, body, method="PUT")
    assert code == 200, saved
    code, listed = _call(f"{b}{views}", token)
    assert code == 200 and [v["name"] for v in listed["views"]] == ["main"]
    assert listed["default"] == "main"
    assert _call(f"{b}{views}/main", token)[1]["state"] == state
    assert _call(f"{b}{views}/main", token, method="DELETE")[0] == 200
    assert _call(f"{a}{views}", token)[1]["views"] == []
