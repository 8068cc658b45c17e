"""PostgreSQL stopped and started again while sweep agents claim trials through two replicas.

Two real `localtrack server` processes with their own directories on one throwaway PostgreSQL
(tests/pg_fixtures.py); the agents are the real client side of `localtrack agent ID --to URL`
(``RemoteSweep``, retrying as it does), in threads. While the database is down the replicas answer
`503` with `Retry-After`; the agents retry, and when it is back they finish the sweep: every grid
point claimed by exactly one agent, every result recorded, nothing left claimed and unanswered.
A claim the server made but could not answer (the database stopping between the two) is handed
to the same agent again when it asks, rather than a second trial.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from localtrack.sweeps.controller import AgentInfo
from localtrack.sweeps.remote import RemoteSweep
from localtrack.sync.remote import RetryPolicy

from .pg_fixtures import PgCluster
from .sync_fixtures import ServerProcess
from .test_server_replicas import _key
from .test_server_shared_state import _call

pytestmark = pytest.mark.server
POINTS = 40
AGENTS = 6
BEFORE_STOP = 2  # trials each agent finishes before PostgreSQL stops


@pytest.fixture(scope="module")
def replicas(
    pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[list[ServerProcess], str]]:
    """Two replicas with their own directories on one fresh database, and an admin key."""
    url = pg_cluster.new_database()
    base = tmp_path_factory.mktemp("sweep-replicas")
    token = _key(base / "a", url, "root", "admin")["token"]
    servers = [ServerProcess(base / name, args=("--index", url)) for name in "ab"]
    try:
        for server in servers:
            server.start()
        yield servers, token
    finally:
        for server in servers:
            server.stop()
        from localtrack.store.pgindex import close_pools

        close_pools()


def _new_sweep(url: str, token: str, points: int) -> str:
    grid = {"method": "grid", "parameters": {"x": {"values": list(range(points))}}}
    code, made = _call(f"{url}/api/v1/sweeps", token, {"config": grid, "project": "sw"})
    assert code == 201, made
    return str(made["id"])


def test_an_agent_asking_again_gets_the_claim_whose_answer_it_lost(
    replicas: tuple[list[ServerProcess], str],
) -> None:
    (a, b), token = replicas
    sweep = f"/api/v1/sweeps/{_new_sweep(a.url, token, 4)}"
    me = {"agent": {"id": "lost-answer", "host": "elsewhere", "pid": 1}}
    other = {"agent": {"id": "someone-else", "host": "elsewhere", "pid": 2}}
    code, first = _call(f"{a.url}{sweep}/claim", token, me)
    assert code == 200 and first["attempt"]["number"] == 0, first
    # the answer never reached the agent; it asks again, through the other replica
    code, again = _call(f"{b.url}{sweep}/claim", token, me)
    assert code == 200 and again["attempt"] == first["attempt"], again
    assert _call(f"{b.url}{sweep}/claim", token, other)[1]["attempt"]["number"] == 1
    result = {"result": {"state": "finished", "value": 0.0}}
    assert _call(f"{a.url}{sweep}/trials/000000-0/result", token, result)[0] == 200
    code, third = _call(f"{a.url}{sweep}/claim", token, me)  # with a result: the next trial
    assert code == 200 and third["attempt"]["number"] == 2, third


def test_agents_claiming_through_a_postgresql_restart_claim_each_trial_once_and_finish(
    replicas: tuple[list[ServerProcess], str], pg_cluster: PgCluster, tmp_path: Path
) -> None:
    servers, token = replicas
    sweep_id = _new_sweep(servers[0].url, token, POINTS)
    racing = threading.Event()  # odd agents claim on as PostgreSQL goes down
    gate = threading.Event()  # even agents claim once it is down
    waiting = threading.Semaphore(0)

    def agent(n: int) -> tuple[list[int], int]:
        """Claim and finish trials until none is left: (the trial numbers, retries made)."""
        url = servers[n % 2].url
        sweep = RemoteSweep(url, sweep_id, tmp_path / f"agent{n}", api_key=token)
        sweep.remote.retry = RetryPolicy(attempts=60, cap_s=2.0)  # patient, for a loaded machine
        me = AgentInfo.here(f"agent{n}")
        got: list[int] = []
        while (attempt := sweep.next_trial(me)) is not None:
            got.append(attempt.number)
            result = {"state": "finished", "value": float(attempt.number)}
            sweep.record_result(attempt.key, result)
            if len(got) == BEFORE_STOP:
                waiting.release()
                assert (racing if n % 2 else gate).wait(300)
        sweep.leave(me)
        return got, sweep.remote.stats.retries

    with concurrent.futures.ThreadPoolExecutor(AGENTS) as pool:
        futures = [pool.submit(agent, n) for n in range(AGENTS)]
        try:
            for _ in range(AGENTS):
                assert waiting.acquire(timeout=300)
            racing.set()
            pg_cluster.stop()  # fast shutdown: the racing agents' statements are cut off
            try:
                gate.set()
                _answers_503_while_down(f"{servers[1].url}/api/v1/sweeps/{sweep_id}/controller", token)  # fmt: skip
            finally:
                pg_cluster.start()
        finally:  # never leave an agent waiting, nor the database stopped
            racing.set()
            gate.set()
            if not pg_cluster.is_running():
                pg_cluster.start()
        outcomes = [f.result(timeout=600) for f in futures]
    code, status = _call(f"{servers[0].url}/api/v1/sweeps/{sweep_id}/controller", token)

    claimed = sorted(number for got, _ in outcomes for number in got)
    assert claimed == list(range(POINTS))  # each trial claimed once, none lost
    assert sum(retries for _, retries in outcomes) > 0  # the agents met the outage and retried
    assert code == 200 and status["status"]["trials"] == {"finished": POINTS}, status


def _answers_503_while_down(url: str, token: str) -> None:
    """A request while PostgreSQL is down: 503, saying to try again, with Retry-After."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    with refused.value as reply:
        body = json.loads(reply.read())
        assert reply.code == 503 and reply.headers["Retry-After"], body
    assert "try again" in body["error"]["message"]
