"""Two `localtrack server` processes (replicas) on one PostgreSQL database, each with its own
store directory, so whatever one sees of the other's state came through PostgreSQL: rate limits
(docs/deploy.md's state table).

Real processes on 127.0.0.1 and a real, throwaway PostgreSQL (tests/pg_fixtures.py). The stores
themselves are held to the directory backend's expectations in test_shared_state_stores.py.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from localtrack.apikeys import KeyStore

from .pg_fixtures import PgCluster
from .sync_fixtures import ServerProcess

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


def _status(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


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
