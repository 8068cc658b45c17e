"""A real, throwaway PostgreSQL for the tests (Debian's ``postgresql`` package).

``pg_cluster`` (session-scoped) runs ``initdb`` and ``pg_ctl`` on a data folder under a temporary
directory, as an unprivileged user when the tests run as root (PostgreSQL refuses to run as root),
listening on a free 127.0.0.1 port and a unix socket in that directory; it is stopped and removed
when the session ends. ``pg_url`` gives each test a fresh, empty database of that one cluster.

A missing PostgreSQL fails the test that needs it, never skips it: ``scripts/test.sh`` installs
it (apt ``postgresql``) and the driver (the ``postgres`` extra: psycopg 3 and psycopg-pool).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SUPERUSER = "localtrack"
_UNPRIVILEGED = "nobody"


def _pg_bin(name: str) -> str | None:
    """A PostgreSQL program: on PATH, else in Debian's versioned folder (newest first)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgCluster:
    """One running throwaway cluster: its port, its folder and the user it runs as."""

    port: int
    folder: Path
    as_user: list[str]
    pg_ctl: str
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self, template: str = "template0") -> str:
        """CREATE DATABASE with a new name (a copy of `template`, which nobody may be
        connected to); returns its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are cut)."""
        self._ctl("stop", "-m", "fast")

    def is_running(self) -> bool:
        status = subprocess.run(
            [*self.as_user, self.pg_ctl, "-D", str(self.folder / "data"), "status"],
            capture_output=True,
            cwd=self.folder,
        )
        return status.returncode == 0

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._ctl("start", "-l", str(self.folder / "server.log"), "-o", options)

    def _ctl(self, *args: str) -> None:
        data = str(self.folder / "data")
        subprocess.run(
            [*self.as_user, self.pg_ctl, "-D", data, "-w", "-t", "120", *args],
            check=True,
            capture_output=True,
            cwd=self.folder,
        )


class PgUnavailable(RuntimeError):
    """PostgreSQL or its driver is not installed here (the message says what to install)."""


def start_cluster(folder: Path) -> PgCluster:
    """initdb + pg_ctl start in `folder` (owned by the unprivileged user when run as root)."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise PgUnavailable(
            "PostgreSQL is not installed (no initdb/pg_ctl): `apt-get install postgresql`, "
            "or run the tests with scripts/test.sh, which installs it"
        )
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        raise PgUnavailable(
            "psycopg is not installed: pip install -e '.[postgres]' (scripts/test.sh does)"
        ) from exc
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = pwd.getpwnam(_UNPRIVILEGED)
        os.chown(folder, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", _UNPRIVILEGED, "--"]
    data = folder / "data"
    subprocess.run(
        [*as_user, initdb, "-D", str(data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
         "--no-sync", "--locale=C"],
        check=True,
        capture_output=True,
        cwd=folder,
    )  # fmt: skip
    cluster = PgCluster(_free_port(), folder, as_user, pg_ctl)
    cluster.start()
    return cluster


@contextmanager
def throwaway_cluster() -> Iterator[PgCluster]:
    """A PostgreSQL server in a temporary folder, stopped and removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="localtrack-pg-"))
    try:
        cluster = start_cluster(folder)
        try:
            yield cluster
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                cluster._ctl("stop", "-m", "immediate")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One PostgreSQL server for the whole test session, removed at the end; a missing
    PostgreSQL fails the tests that need it (never skips them)."""
    try:
        with throwaway_cluster() as cluster:
            yield cluster
    except PgUnavailable as exc:
        pytest.fail(str(exc))


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> Iterator[str]:
    """A fresh, empty database of the session's PostgreSQL, as a postgresql:// URL; the test
    process's connection pools are closed after the test."""
    yield pg_cluster.new_database()
    from localtrack.store.pgindex import close_pools

    close_pools()


def indexed_run_ids(url: str) -> list[str]:
    """The run ids in the PostgreSQL index at `url`, read with the test's own connection."""
    import psycopg

    with psycopg.connect(url) as conn:
        return sorted(r[0] for r in conn.execute("SELECT id FROM runs"))


def committed_files(url: str) -> dict[str, str]:
    """{run_id/name: sha256} of what replicas that share no directory committed (``run_files``)."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT run_id, name, sha256 FROM run_files")
        return {f"{run_id}/{name}": sha for run_id, name, sha in rows}
