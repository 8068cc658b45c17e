"""s3:// references against a real S3-protocol server on loopback.

The server is moto's (``moto_server``, from the ``moto[server]`` test extra): a test double for
MinIO, Ceph or AWS S3 that speaks the same HTTP protocol. pyarrow.fs reads it exactly as it would
read those, pointed there by ``AWS_ENDPOINT_URL``. A reference records each object's size and
sha256 and copies nothing; ``verify()`` re-reads the objects and names one that changed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import localtrack
from localtrack.errors import DigestMismatchError, UsageError
from localtrack.store.artifacts.repository import ArtifactRepository

from .s3_fixtures import TEST_CREDENTIALS, moto_server

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """The base URL of a moto S3 server on loopback, with AWS_* pointed at it."""
    with moto_server() as port:
        url = f"http://127.0.0.1:{port}"
        env = dict(TEST_CREDENTIALS, AWS_ENDPOINT_URL=url)
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            _put(url, "bkt")
            yield url
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _put(url: str, key: str, data: bytes | None = None) -> None:
    """PUT a bucket (no data) or an object, signed by boto3 as any S3 client would."""
    import boto3  # comes with moto

    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    bucket, _, name = key.partition("/")
    if not name:
        client.create_bucket(Bucket=bucket)
    else:
        client.put_object(Bucket=bucket, Key=name, Body=data or b"")


def test_s3_reference_records_size_and_hash_without_copying(s3: str, tmp_path: Path) -> None:
    _put(s3, "bkt/data/train.csv", b"a,b\n1,2\n")
    _put(s3, "bkt/data/sub/labels.txt", b"cat\n")
    root = tmp_path / "store"
    with localtrack.init(project="p", dir=root) as run:
        art = localtrack.Artifact("remote", "dataset")
        art.add_reference("s3://bkt/data/")
        run.log_artifact(art)
    entries = art.entries()
    assert sorted(entries) == ["sub/labels.txt", "train.csv"]
    train = entries["train.csv"]
    assert (train.size, train.ref) == (8, "s3://bkt/data/train.csv")
    assert train.sha256 == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert not list(ArtifactRepository(root).blobs.all_blobs())  # nothing copied
    out = Path(art.download(tmp_path / "dl"))
    assert (out / "sub" / "labels.txt").read_bytes() == b"cat\n"
    art.verify(out)

    _put(s3, "bkt/data/train.csv", b"a,b\n1,3\n")  # the object changes behind our back
    with pytest.raises(DigestMismatchError) as err:
        art.verify(out)
    problems = err.value.problems  # type: ignore[attr-defined]
    assert problems == [problems[0]] and problems[0].startswith("changed: train.csv (reference")
    with pytest.raises(DigestMismatchError, match="changed since it was logged"):
        art.download(tmp_path / "dl2")


def test_s3_reference_to_a_missing_object_is_a_usage_error(s3: str) -> None:
    art = localtrack.Artifact("remote", "dataset")
    with pytest.raises(UsageError, match="does not exist"):
        art.add_reference("s3://bkt/nothing-here.bin")
