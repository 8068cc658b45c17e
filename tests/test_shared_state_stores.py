"""The server's small shared state, in process memory or files and in PostgreSQL: each store held
to the same expectations on both backends (real PostgreSQL, tests/pg_fixtures.py).

The same stores behind two real server processes are tested in test_server_shared_state.py.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from localtrack.errors import DocumentError, IndexUnavailableError, SweepError
from localtrack.servermigrate import migrate_server
from localtrack.store import workspaces
from localtrack.store.ingest.blobscope import open_namespace_blobs
from localtrack.sweeps.controller import AgentInfo, Sweep, create_sweep
from localtrack.sweeps.pgstate import open_sweep_files
from webui.server.ratelimit import Limiter, RateLimiter, SharedRateLimiter

from .sync_fixtures import wait_until


def _limiter(backend: str, request: pytest.FixtureRequest, rate: float, burst: float) -> Limiter:
    if backend == "memory":
        return RateLimiter(rate, burst)
    return SharedRateLimiter(request.getfixturevalue("pg_url"), "key", rate, burst)


@pytest.mark.parametrize("backend", ["memory", "postgresql"])
def test_a_bucket_allows_its_burst_then_says_how_long_to_wait(
    backend: str, request: pytest.FixtureRequest
) -> None:
    limiter = _limiter(backend, request, rate=0.01, burst=3)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("a")
    assert 0 < wait <= 100  # one token comes back in 1 / 0.01 s
    assert limiter.take("b") == 0.0  # another key has its own bucket


@pytest.mark.parametrize("backend", ["memory", "postgresql"])
def test_a_bucket_refills_at_its_rate(backend: str, request: pytest.FixtureRequest) -> None:
    limiter = _limiter(backend, request, rate=20.0, burst=1)
    assert limiter.take("a") == 0.0
    assert wait_until(lambda: limiter.take("a") == 0.0, timeout=30)


@pytest.mark.parametrize("backend", ["memory", "postgresql"])
def test_rate_zero_turns_the_limit_off(backend: str, request: pytest.FixtureRequest) -> None:
    limiter = _limiter(backend, request, rate=0.0, burst=1)
    assert all(limiter.take("a") == 0.0 for _ in range(5))


def test_replicas_spending_from_one_bucket_at_once_never_overspend(pg_url: str) -> None:
    """Four limiters (as four replicas would) spend 80 requests from a bucket of 30 at once:
    exactly 30 are allowed, the row update being one atomic statement."""
    limiters = [SharedRateLimiter(pg_url, "key", 0.001, 30) for _ in range(4)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        waits = list(pool.map(lambda i: limiters[i % 4].take("shared"), range(80)))
    assert sum(1 for w in waits if w == 0.0) == 30


def test_postgresql_down_lets_requests_through_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as s:  # a port nothing listens on: PostgreSQL is down
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    limiter = SharedRateLimiter(f"postgresql://u:secret@127.0.0.1:{port}/x", "login", 1.0, 1)
    with caplog.at_level(logging.WARNING, logger="webui.server.ratelimit"):
        assert [limiter.take("10.0.0.1") for _ in range(5)] == [0.0] * 5
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "login rate limits are off" in warnings[0]
    assert "secret" not in warnings[0]


# -- sweep state: <root>/sweeps/<id>/ files, or rows of PostgreSQL -------------------------------

GRID = {"method": "grid", "parameters": {"a": {"values": [1, 2, 3]}}}


def _sweep_files(backend: str, request: pytest.FixtureRequest, root: Path, sweep_id: str) -> Any:
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    return open_sweep_files(root, sweep_id, url)


@pytest.mark.parametrize("backend", ["files", "postgresql"])
def test_a_sweep_is_made_once_and_read_back(
    backend: str, request: pytest.FixtureRequest, root: Path
) -> None:
    files = _sweep_files(backend, request, root, "abc12345")
    assert not files.exists()
    with pytest.raises(SweepError, match="no sweep 'abc12345'"):
        files.document()
    files.create({"id": "abc12345", "project": "p", "config": GRID, "nan": math.nan})
    assert files.exists() and files.document()["project"] == "p"
    assert math.isnan(files.document()["nan"])
    with pytest.raises(FileExistsError):
        files.create({"id": "abc12345", "project": "q", "config": GRID})
    assert files.control() == "running"
    files.set_control("paused")
    assert files.control() == "paused"
    files.merge_control({"state": "stopped", "updated_at": 1.0})  # older: ignored
    assert files.control() == "paused"
    files.merge_control({"state": "stopped", "updated_at": time.time() + 60})
    assert files.control() == "stopped"
    with pytest.raises(SweepError, match="must be one of"):
        files.set_control("finished")


@pytest.mark.parametrize("backend", ["files", "postgresql"])
def test_claims_and_results_are_made_once(
    backend: str, request: pytest.FixtureRequest, root: Path
) -> None:
    files = _sweep_files(backend, request, root, "abc12345")
    files.create({"id": "abc12345", "project": "p", "config": GRID})
    assert files.claim(0, 0, {"run_id": "r0", "params": {"a": 1}})
    assert not files.claim(0, 0, {"run_id": "other"})
    assert files.claim(1, 0, {"run_id": "r1"}) and files.is_claimed(1) and not files.is_claimed(2)
    assert files.record_result("000000-0", {"state": "finished", "value": 0.5})
    assert not files.record_result("000000-0", {"state": "crashed"})
    everything = files.attempts()
    assert sorted(everything) == [0, 1] and everything[0][0].run_id == "r0"
    assert everything[0][0].result == {"state": "finished", "value": 0.5}
    assert sorted(files.open_attempts()) == [1]  # 0 ended
    assert files.attempt("000001-0").claim == {"run_id": "r1"}
    with pytest.raises(SweepError, match="never claimed"):
        files.attempt("000002-0")
    files.advance_cursor(1)
    files.advance_cursor(0)  # never back
    assert files.cursor() == 2


@pytest.mark.parametrize("backend", ["files", "postgresql"])
def test_progress_and_agents_heartbeats(
    backend: str, request: pytest.FixtureRequest, root: Path
) -> None:
    files = _sweep_files(backend, request, root, "abc12345")
    files.create({"id": "abc12345", "project": "p", "config": GRID})
    files.claim(0, 0, {"run_id": "r0"})
    files.record_progress("000000-0", {"rungs": {"1": 0.5}})
    files.record_progress("000000-0", {"rungs": {"1": 0.5, "3": 0.25}})
    assert files.progress_of("000000-0") == {"rungs": {"1": 0.5, "3": 0.25}}
    assert files.progress() == {"000000-0": {"rungs": {"1": 0.5, "3": 0.25}}}
    assert files.attempts()[0][0].progress["rungs"]["3"] == 0.25
    agent = {"id": "elsewhere-1-a", "host": "elsewhere", "pid": 1}
    assert not files.agent_alive(agent, 60.0)  # never beat
    files.beat(agent)
    assert files.agent_alive(agent, 60.0)
    files.leave(agent["id"])
    assert not files.agent_alive(agent, 60.0)


@pytest.mark.parametrize("backend", ["files", "postgresql"])
def test_eight_claimers_take_each_grid_point_once(
    backend: str, request: pytest.FixtureRequest, root: Path
) -> None:
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    grid = {"method": "grid", "parameters": {"a": {"values": list(range(24))}}}
    sweep_id = create_sweep(root, grid, "p", None, url)

    def claim_all(n: int) -> list[tuple[int, int]]:
        sweep, agent = Sweep(root, sweep_id, url), AgentInfo(f"h-{n}-a", "h", 1, None)
        got = []
        sweep.heartbeat(agent)  # alive: none of its trials is taken over
        while (attempt := sweep.next_trial(agent)) is not None:
            got.append((attempt.number, attempt.attempt))
        return got

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        claimed = [n for got in pool.map(claim_all, range(8)) for n in got]
    assert sorted(claimed) == [(n, 0) for n in range(24)]


# -- saved views: <root>/workspaces/ files, or rows of PostgreSQL --------------------------------

VIEW = {"x": "step", "smoothing": "ema", "amount": 0.6, "panels": [{"id": "a", "type": "bar"}]}


def _views(backend: str, request: pytest.FixtureRequest, root: Path) -> Any:
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    return workspaces.open_views(root, url)


@pytest.mark.parametrize("backend", ["files", "postgresql"])
def test_views_round_trip(backend: str, request: pytest.FixtureRequest, root: Path) -> None:
    views = _views(backend, request, root)
    views.save_view("team/p", "main view", VIEW)
    views.save_view("team/p", "other", {"x": "step"})
    views.set_default("team/p", "main view")
    assert views.read_view("team/p", "main view")["state"] == VIEW
    assert [(v.name, v.default) for v in views.list_views("team/p")] == [
        ("main view", True),
        ("other", False),
    ]
    assert views.list_views("team/q") == [] and views.default_view("team/q") is None
    views.delete_view("team/p", "main view")
    assert [v.name for v in views.list_views("team/p")] == ["other"]
    assert views.default_view("team/p") is None
    with pytest.raises(workspaces.ViewNotFoundError):
        views.read_view("team/p", "main view")
    with pytest.raises(workspaces.ViewNotFoundError):
        views.delete_view("team/p", "main view")
    with pytest.raises(workspaces.ViewNotFoundError):
        views.set_default("team/p", "main view")


@pytest.mark.parametrize("backend", ["files", "postgresql"])
def test_a_synced_view_keeps_the_copy_saved_last(
    backend: str, request: pytest.FixtureRequest, root: Path
) -> None:
    views = _views(backend, request, root)
    views.save_view("p", "v", {"x": "step"}, updated_at=200.0)
    kept = views.save_view("p", "v", {"x": "wall_time"}, updated_at=100.0)  # older: kept as is
    assert kept["state"] == {"x": "step"} and views.read_view("p", "v")["updated_at"] == 200.0
    views.save_view("p", "v", {"x": "wall_time"}, updated_at=300.0)
    assert views.read_view("p", "v")["state"] == {"x": "wall_time"}


@pytest.mark.parametrize("backend", ["files", "postgresql"])
@pytest.mark.parametrize(
    ("project", "name", "state", "field"),
    [
        ("p", "../x", {}, "name"),
        ("p", "ok", {"smoothing": "median"}, "smoothing"),
        ("..", "ok", {}, "project"),
    ],
)
def test_a_bad_view_is_refused_by_both(
    backend: str,
    request: pytest.FixtureRequest,
    root: Path,
    project: str,
    name: str,
    state: dict[str, Any],
    field: str,
) -> None:
    views = _views(backend, request, root)
    with pytest.raises(DocumentError) as exc:
        views.save_view(project, name, state)
    assert field in exc.value.field or field in str(exc.value)


# -- which blobs a project-scoped key may count: <root>/ingest/scopes/ files, or PostgreSQL ------


@pytest.mark.parametrize("backend", ["files", "postgresql"])
def test_a_namespace_counts_only_the_blobs_it_showed_it_holds(
    backend: str, request: pytest.FixtureRequest, root: Path
) -> None:
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    here, there = open_namespace_blobs(root, url), open_namespace_blobs(root, url)  # 2 replicas
    mine, theirs = (None, "team/a"), ("lab", "team/a")
    one, two = "1" * 64, "2" * 64
    assert not here.holds(mine, one)
    here.add(mine, [one, one, "not a hash"])
    assert here.holds(mine, one) and there.holds(mine, one)  # seen by the other replica
    assert not there.holds(theirs, one)  # another namespace: not counted
    there.add(theirs, [two])
    counts = here.counts(theirs)
    assert counts(two) and not counts(one) and not here.holds(mine, two)


def test_state_a_request_needs_is_unavailable_not_empty_while_postgresql_is_down(
    root: Path,
) -> None:
    """Sweeps, views and blob ledgers raise IndexUnavailableError (the server's 503 with
    Retry-After), never an empty answer that would look like nothing is there."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = f"postgresql://u:secret@127.0.0.1:{s.getsockname()[1]}/x"
    calls = [
        lambda: open_sweep_files(root, "abc12345", down).exists(),
        lambda: Sweep(root, "abc12345", down),
        lambda: workspaces.open_views(root, down).list_views("p"),
        lambda: open_namespace_blobs(root, down).holds((None, "p"), "1" * 64),
    ]
    for call in calls:
        with pytest.raises(IndexUnavailableError, match="PostgreSQL") as exc:
            call()
        assert "secret" not in str(exc.value)


def test_server_migrate_carries_sweeps_and_views_there_and_back(root: Path, pg_url: str) -> None:
    sweep_id = create_sweep(root, GRID, "p", None)
    files = open_sweep_files(root, sweep_id)
    files.claim(0, 0, {"run_id": "r0", "params": {"a": 1}})
    files.record_result("000000-0", {"state": "finished", "value": 1.0})
    files.set_control("paused")
    workspaces.save_view(root, "team/p", "main", VIEW)
    workspaces.set_default(root, "team/p", "main")

    there = migrate_server(root, None, pg_url)
    assert (there.sweeps, there.views, there.problems) == (1, 1, [])
    moved = open_sweep_files(root, sweep_id, pg_url)
    assert moved.attempts()[0][0].result == {"state": "finished", "value": 1.0}
    assert moved.control() == "paused" and moved.document()["project"] == "p"
    in_pg = workspaces.open_views(root, pg_url)
    assert in_pg.read_view("team/p", "main")["state"] == VIEW
    assert in_pg.default_view("team/p") == "main"
    assert migrate_server(root, None, pg_url).problems == []  # again: nothing new, no error
    assert [v.name for v in in_pg.list_views("team/p")] == ["main"]

    in_pg.save_view("team/p", "made on the server", {"x": "step"})
    moved.claim(1, 0, {"run_id": "r1"})
    back = migrate_server(root, pg_url, None)
    assert back.problems == []
    assert [v.name for v in workspaces.list_views(root, "team/p")] == ["made on the server", "main"]
    assert sorted(open_sweep_files(root, sweep_id).attempts()) == [0, 1]
