"""The server's small shared state, in process memory or files and in PostgreSQL: each store held
to the same expectations on both backends (real PostgreSQL, tests/pg_fixtures.py).

The same stores behind two real server processes are tested in test_server_shared_state.py.
"""

from __future__ import annotations

import concurrent.futures
import logging
import socket

import pytest

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
