"""An S3-protocol server on loopback for the tests: ``moto_server`` (from the ``moto[server]``
test extra), a test double for MinIO, Ceph RGW and AWS S3 that speaks the same HTTP protocol.
The code under test talks to it with its real S3 client over HTTP."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

MOTO = shutil.which("moto_server")
TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never probe a cloud metadata address
}


@contextmanager
def moto_server() -> Iterator[int]:
    """Start moto's S3 server on a free 127.0.0.1 port; yields the port, stops it at the end."""
    if MOTO is None:
        pytest.fail("moto_server is not installed: pip install -e '.[test]' (moto[server])")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        [MOTO, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("moto_server did not start")
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def s3_client(port: int) -> object:
    """A boto3 client for the test's own look at the bucket (create, list, delete behind the
    server's back): a different S3 client from the one under test."""
    import boto3  # comes with moto

    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def moto_port() -> Iterator[int]:
    """moto's S3 server on loopback (its port), one per test module; each test makes its own
    bucket (``bucket_env``, ``new_bucket``)."""
    with moto_server() as port:
        yield port


def new_bucket(moto_port: int, endpoint: str | None = None) -> dict[str, str]:
    """A fresh bucket; the environment that points a server at it (through `endpoint`, a proxy
    in front of moto, when given)."""
    bucket = f"lt-{secrets.token_hex(4)}"
    s3_client(moto_port).create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    endpoint = endpoint or f"http://127.0.0.1:{moto_port}"
    return dict(TEST_CREDENTIALS, LOCALTRACK_S3_ENDPOINT=endpoint, LOCALTRACK_BLOBS=f"s3://{bucket}/prod")  # fmt: skip


@pytest.fixture
def bucket_env(moto_port: int) -> dict[str, str]:
    """A fresh bucket on moto's S3 server; the environment that points at it."""
    return new_bucket(moto_port)


def use_new_bucket(monkeypatch: pytest.MonkeyPatch, moto_port: int) -> str:
    """Make a fresh bucket and point this process's S3 client at moto (credentials, endpoint);
    returns the bucket's `s3://bucket/prefix` URL for ``--blobs``."""
    env = new_bucket(moto_port)
    blobs = env.pop("LOCALTRACK_BLOBS")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return blobs
