"""One switch for the server tests: the same test against both server backends.

A test that takes ``server_backend`` runs twice: ``[dir]``, the server keeps everything in its
``--dir`` (SQLite index, blobs and runs in the directory), and ``[pg+s3]``, the server runs as a
shared-nothing replica, ``--dir D --index postgresql://… --blobs s3://…``: a fresh database of the
session's throwaway PostgreSQL (tests/pg_fixtures.py) and a fresh bucket on moto's S3 server
(tests/s3_fixtures.py, a test double for MinIO/Ceph/AWS S3) per test.

For ``pg+s3`` the fixture sets the backend's variables in the test's environment
(``LOCALTRACK_INDEX_URL``, ``LOCALTRACK_BLOBS``, the S3 endpoint and test credentials), which is
how an in-process ``create_server_app(root)`` and the server-side commands called in-process
(``KeyStore(root)``, ``open_audit_log(root)``) find them; ``ServerProcess`` passes the same
variables to the server it starts (``sync_fixtures.SERVER_BACKEND_VARS``). Client processes
never get them (``child_env`` drops every ``LOCALTRACK_*`` variable); ``env`` holds them for a
server-side command run as a child. A client working in the test's own process is kept off the
server's database by the test helpers (``store_files``, ``metric_rows`` and ``init()`` read and
write a client store as a directory) and, where it logs artifacts or reads with ``Api``, by
``client_side()``.

Where a test looked at the server's directory (``runs/``, ``ingest/blobs``), it reads what the
server reads instead: ``reader(root)`` is a reader of the server's store as a server process
opens it (the runs of a ``pg+s3`` server are rows of PostgreSQL and objects in the bucket, read
through a local cache), and ``blob_names()`` lists the blobs wherever they are kept. Its
artifact collections are read the same way: ``artifacts(root)`` is the server's catalog (the
directory's ``ArtifactRepository``, or on ``pg+s3`` ``SharedArtifacts``: documents in
PostgreSQL, blobs through the bucket) and ``artifact_documents(root)`` the documents that carry
them, as a client's ``collection_document`` writes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from localtrack.store.artifacts.pgcatalog import SharedArtifacts
from localtrack.store.artifacts.repository import ArtifactRepository
from localtrack.store.ingest.artifacts import collection_document
from localtrack.store.ingest.importer import Ingest
from localtrack.store.reader import StoreReader

from .pg_fixtures import PgCluster, committed_files
from .s3_fixtures import moto_server, new_bucket, s3_client

BACKENDS = ["dir", "pg+s3"]
SERVER_ONLY_VARS = ("LOCALTRACK_INDEX_URL", "LOCALTRACK_BLOBS")


@dataclass
class ServerBackend:
    """Where a test's server keeps its index and blobs."""

    name: str  # "dir" or "pg+s3"
    index_url: str = ""
    blobs: str = ""  # s3://bucket/prefix
    env: dict[str, str] = field(default_factory=dict)  # for a server-side child command
    moto_port: int = 0

    @property
    def shared(self) -> bool:
        """True when the server keeps nothing that matters in its directory (``pg+s3``)."""
        return self.name != "dir"

    @property
    def server_args(self) -> tuple[str, ...]:
        """The options a `localtrack server` command line names the backend with."""
        return ("--index", self.index_url, "--blobs", self.blobs) if self.shared else ()

    @contextlib.contextmanager
    def reader(self, root: Path) -> Iterator[StoreReader]:
        """A reader of the server store at `root`, opened as the server opens it."""
        reader = StoreReader(root, index_url=self.index_url)
        area = None
        if self.shared:
            area = Ingest(root, blobs_url=self.blobs, index_url=self.index_url)
            assert area.shared is not None
            reader.store.remote = area.shared.remote
        try:
            yield reader
        finally:
            if area is not None:
                area.close()

    @contextlib.contextmanager
    def artifacts(self, root: Path) -> Iterator[ArtifactRepository | SharedArtifacts]:
        """The artifact collections of the server store at `root`, opened as the server opens
        them: its directory's repository, or PostgreSQL's documents with blobs in the bucket."""
        if not self.shared:
            yield ArtifactRepository(root)
            return
        with pytest.MonkeyPatch.context() as env:
            for key, value in self.env.items():
                env.setenv(key, value)
            area = Ingest(root, blobs_url=self.blobs, index_url=self.index_url)
            try:
                shared = SharedArtifacts.open(area)
                assert shared is not None
                yield shared
            finally:
                area.close()

    def artifact_documents(self, root: Path) -> dict[str, dict[str, Any]]:
        """{"namespace/name": the document that carries it} of every collection on the server."""
        with self.artifacts(root) as source:
            return artifact_documents(source)

    def damage_blob(self, root: Path, sha256: str) -> None:
        """Overwrite the stored bytes of blob `sha256` with as many others (a disk or object
        store that rots): in the directory's pack, or the bucket's object."""
        if not self.shared:
            blobs = ArtifactRepository(root).blobs
            pack, offset, size = blobs.index.find(sha256)
            (blobs.paths.packs / pack).chmod(0o644)
            with open(blobs.paths.packs / pack, "r+b") as f:
                f.seek(offset)
                f.write(b"x" * size)
            return
        bucket = self.blobs.removeprefix("s3://").partition("/")[0]
        client: Any = s3_client(self.moto_port)
        (key,) = [k for k in self._objects() if k.rsplit("/", 1)[-1] == sha256]
        size = len(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        client.put_object(Bucket=bucket, Key=key, Body=b"x" * size)

    def adopt(self, root: Path) -> None:
        """Make the runs, keys, sweeps and views a test wrote straight into the server's
        directory the server's on this backend: for ``pg+s3``, ``server migrate`` into the
        database and the bucket, as an operator moving a store does (its runs are then indexed
        in PostgreSQL and read from the directory, where they were written)."""
        if not self.shared:
            return
        from localtrack.servermigrate import migrate_server

        with pytest.MonkeyPatch.context() as env:
            for key, value in self.env.items():
                env.setenv(key, value)
            migrate_server(root, None, self.index_url, self.blobs)

    def blob_names(self, root: Path) -> set[str]:
        """The sha256 of every blob the server keeps: in its bucket, or in ``ingest/blobs``."""
        if not self.shared:
            folder = root / "ingest" / "blobs"
            return {p.name for p in folder.rglob("*") if p.is_file()} if folder.is_dir() else set()
        return {key.rsplit("/", 1)[-1] for key in self._objects()}

    def misnamed_blobs(self, root: Path) -> list[str]:
        """The blobs whose bytes do not hash to their name (none, on a sound server)."""
        bad = []
        if not self.shared:
            for blob in (root / "ingest" / "blobs").iterdir():
                if blob.is_file() and hashlib.sha256(blob.read_bytes()).hexdigest() != blob.name:
                    bad.append(blob.name)
            return bad
        bucket = self.blobs.removeprefix("s3://").partition("/")[0]
        client: Any = s3_client(self.moto_port)
        for key in self._objects():
            data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            if hashlib.sha256(data).hexdigest() != key.rsplit("/", 1)[-1]:
                bad.append(key)
        return bad

    def snapshot(self, root: Path) -> dict[str, Any]:
        """What the server's store holds, to show that nothing was written: each file under
        ``runs/`` with its size and mtime (``dir``), or each committed file and each object of
        the bucket with its time (``pg+s3``)."""
        if self.shared:
            return {"committed": committed_files(self.index_url), "objects": self._objects()}
        out: dict[str, Any] = {}
        for dirpath, _, names in os.walk(root / "runs"):
            for name in names:
                st = os.stat(os.path.join(dirpath, name))
                out[os.path.join(dirpath, name)] = (st.st_size, st.st_mtime_ns)
        return out

    def _objects(self) -> dict[str, Any]:
        """{key: last-modified} of every object under the bucket's prefix."""
        bucket, _, prefix = self.blobs.removeprefix("s3://").partition("/")
        client: Any = s3_client(self.moto_port)
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return {o["Key"]: o["LastModified"] for page in pages for o in page.get("Contents", [])}


def artifact_documents(source: ArtifactRepository | SharedArtifacts) -> dict[str, dict[str, Any]]:
    """{"namespace/name": the document that carries it} of every collection of `source`."""
    if isinstance(source, ArtifactRepository):
        return {
            f"{namespace}/{name}": collection_document(source, namespace, name)
            for namespace, name in source.collections()
        }
    out = {}
    for doc in source.documents():
        namespace = f"{doc['entity']}/{doc['project']}" if doc["entity"] else doc["project"]
        out[f"{namespace}/{doc['name']}"] = doc
    return out


@contextlib.contextmanager
def client_side() -> Iterator[None]:
    """Without the server's index and blobs variables for the block: what a client does in
    the test's own process (logging artifacts, reading its store with ``Api``) must not reach
    the server's database, as it could not from another machine."""
    saved = {k: os.environ.pop(k) for k in SERVER_ONLY_VARS if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def committed_runs(backend: ServerBackend, root: Path) -> set[str]:
    """The runs a commit placed on the server: run directories with a run.json (``dir``), or
    runs with committed files in PostgreSQL (``pg+s3``)."""
    if backend.shared:
        return {name.split("/", 1)[0] for name in committed_files(backend.index_url)}
    runs = root / "runs"
    return {p.name for p in runs.iterdir() if (p / "run.json").exists()} if runs.is_dir() else set()


def open_backend(name: str, cluster: PgCluster, template: str, moto_port: int) -> ServerBackend:
    """A ``pg+s3`` backend: a new database of `cluster` (a copy of `template`) and a new
    bucket."""
    url = cluster.new_database(template)
    env = dict(new_bucket(moto_port), LOCALTRACK_INDEX_URL=url)
    return ServerBackend(name, url, env["LOCALTRACK_BLOBS"], env, moto_port)


@pytest.fixture(scope="session")
def migrated_template(pg_cluster: PgCluster) -> str:
    """The name of a database of the session's PostgreSQL with every migration applied: each
    ``pg+s3`` test gets a copy (``CREATE DATABASE … TEMPLATE``, a file copy), not a new schema.
    Migrating a new database is tested on its own (tests/test_index_postgres.py)."""
    from localtrack.store.pgindex import PgIndex, close_pools

    url = pg_cluster.new_database()
    PgIndex(url).close()
    close_pools()  # a template must have no connections when it is copied
    return url.rsplit("/", 1)[1]


@pytest.fixture(scope="session")
def session_moto_port() -> Iterator[int]:
    """One moto S3 server for every ``pg+s3`` test of the session (each gets its own bucket)."""
    with moto_server() as port:
        yield port


def _drop(backend: ServerBackend) -> None:
    """Close this process's connection pools and drop the backend's database (each is a copy
    of several MB: hundreds of them would fill the cluster's disk)."""
    if not backend.shared:
        return
    import psycopg

    from localtrack.store.pgindex import close_pools

    close_pools()
    server, _, name = backend.index_url.rpartition("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _open(request: pytest.FixtureRequest) -> ServerBackend:
    if request.param == "dir":
        return ServerBackend("dir")
    return open_backend(
        request.param,
        request.getfixturevalue("pg_cluster"),
        request.getfixturevalue("migrated_template"),
        request.getfixturevalue("session_moto_port"),
    )


@pytest.fixture(params=BACKENDS)
def server_backend(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServerBackend]:
    """The test's server backend (see the module docstring); ``pg+s3`` gets a fresh database
    and a fresh bucket, and its variables in the test's environment."""
    backend = _open(request)
    for key, value in backend.env.items():
        monkeypatch.setenv(key, value)
    yield backend
    _drop(backend)


@pytest.fixture(scope="module", params=BACKENDS)
def module_server_backend(request: pytest.FixtureRequest) -> Iterator[ServerBackend]:
    """The same switch for a module-scoped server (one database and bucket per module). It
    sets no environment: hand ``env`` (or ``server_args``) to the server and to commands."""
    backend = _open(request)
    yield backend
    _drop(backend)


def dir_backend_only(why_not_pg_s3: str) -> pytest.MarkDecorator:
    """Run a ``server_backend`` test on ``dir`` only; its ``pg+s3`` variant is reported as a
    skip whose reason says why that behaviour does not exist there."""
    return pytest.mark.parametrize(
        "server_backend",
        ["dir", pytest.param("pg+s3", marks=pytest.mark.skip(reason=why_not_pg_s3))],
        indirect=True,
    )
