"""The wire protocol and the HTTP client's retry rules, against scripted transports (no server)."""

from __future__ import annotations

import hashlib
import io
import json

import pytest

from localtrack.errors import AuthError, ProtocolError, RemoteError, TransientSyncError
from localtrack.store.ingest.manifest_types import FileRef, RunManifest
from localtrack.sync import protocol
from localtrack.sync.remote import LocalFileChangedError, Remote, RetryPolicy
from localtrack.sync.transport import MockTransport, Request, Response

SHA = "a" * 64


def _manifest(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "run_id": "abc123",
        "project": "p",
        "entity": None,
        "heartbeat_at": 12.5,
        "files": [
            {"name": "run.json", "sha256": SHA, "bytes": 10},
            {"name": "metrics/0000-000000001-000000002.parquet", "sha256": "b" * 64, "bytes": 5},
        ],
    }
    data.update(changes)
    return data


def test_manifest_round_trips_and_digest_ignores_only_the_heartbeat() -> None:
    m = protocol.Manifest.from_json(_manifest())
    assert protocol.Manifest.from_json(json.loads(json.dumps(m.to_json()))) == m
    later = protocol.Manifest.from_json(_manifest(heartbeat_at=99.0))
    assert later.content_digest() == m.content_digest() and later.digest() != m.digest()


@pytest.mark.parametrize(
    "name",
    [
        "../run.json",
        "metrics/../../etc/passwd",
        "/etc/passwd",
        "metrics/x.parquet",
        "metrics/0000-000000001-000000002.parquet/..",
        "run.json\x00",
        "metrics\\0000-000000001-000000002.parquet",
        "files/../run.json",
        "files/.hidden.tmp",
        "files/sub/../../run.json",
        "files/..",
        "media/blobs/" + "c" * 64 + ".exe",
        "media/blobs/" + "d" * 64 + ".png",
        "media/log-1.jsonl",
        "quarantine/0000-000000001-000000002.parquet.1",
        "tail-0000.log",
        "heartbeat",
        "",
    ],
)
def test_manifest_refuses_every_name_outside_the_allowlist(name: str) -> None:
    data = _manifest()
    data["files"] = [*data["files"], {"name": name, "sha256": "c" * 64, "bytes": 1}]  # type: ignore[list-item]
    with pytest.raises(ProtocolError, match="bad manifest"):
        protocol.Manifest.from_json(data)


@pytest.mark.parametrize(
    "name",
    [
        "files/output.log",
        "files/requirements.txt",
        "files/sub/dir.txt",  # run.save() keeps folders (issue 12); docs/format.md
        "media/log-0000.jsonl",
        "media/blobs/" + "c" * 64 + ".png",
    ],
)
def test_manifest_accepts_run_files_and_media(name: str) -> None:
    data = _manifest()
    data["files"] = [*data["files"], {"name": name, "sha256": "c" * 64, "bytes": 1}]  # type: ignore[list-item]
    assert protocol.Manifest.from_json(data).files[-1].name == name


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"run_id": "../x"}, "run id"),
        ({"run_id": ".hidden"}, "run id"),
        ({"files": []}, "run.json"),
        ({"files": [{"name": "run.json", "sha256": "A" * 64, "bytes": 1}]}, "sha256"),
        ({"files": [{"name": "run.json", "sha256": SHA, "bytes": -1}]}, "bytes"),
        ({"files": [{"name": "run.json", "sha256": SHA, "bytes": True}]}, "bytes"),
        ({"files": [{"name": "run.json", "sha256": SHA, "bytes": 1}] * 2}, "twice"),
        ({"heartbeat_at": "soon"}, "heartbeat"),
        ({"project": 5}, "project"),
    ],
)
def test_malformed_manifests_are_refused_with_the_reason(changes: dict, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        protocol.Manifest.from_json(_manifest(**changes))


@pytest.mark.parametrize("version", [None, 0, 2, "1", True])
def test_unknown_protocol_versions_are_refused(version: object) -> None:
    with pytest.raises(ProtocolError, match="protocol"):
        protocol.parse_commit_request({"protocol": version, "manifest": _manifest()})


def test_negotiate_request_size_is_capped() -> None:
    with pytest.raises(ProtocolError, match="at most"):
        protocol.parse_negotiate_request(
            {"protocol": 1, "manifests": [_manifest()] * (protocol.NEGOTIATE_BATCH + 1)}
        )


# -- Remote: status codes and retries ----------------------------------------------------------


class Script:
    """A transport answering from a list of (status, headers, body) or exceptions, in order."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.seen: list[Request] = []

    def __call__(self, request: Request) -> Response:
        self.seen.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, headers, body = answer  # type: ignore[misc]
        return Response(
            status, headers, body if isinstance(body, bytes) else json.dumps(body).encode()
        )


def _remote(script: Script, sleeps: list[float], attempts: int = 5) -> Remote:
    policy = RetryPolicy(
        attempts=attempts, base_s=1.0, cap_s=8.0, sleep=sleeps.append, rng=lambda: 0.5
    )
    return Remote(MockTransport(script), api_key="lt_x", retry=policy)


def _err(code: str) -> dict[str, object]:
    return {"error": {"code": code, "message": code}}


def test_429_retry_after_is_honoured_then_the_request_succeeds() -> None:
    sleeps: list[float] = []
    script = Script((429, {"retry-after": "3"}, _err("rate_limited")), (200, {}, {"ok": 1}))
    assert _remote(script, sleeps).info() == {"ok": 1}
    assert sleeps == [3.0]
    assert script.seen[0].headers["Authorization"] == "Bearer lt_x"


def test_5xx_and_connection_errors_back_off_exponentially_with_jitter() -> None:
    sleeps: list[float] = []
    script = Script(
        (503, {}, _err("busy")),
        TransientSyncError("reset"),
        (500, {}, b"<html>oops</html>"),
        (200, {}, {"ok": 1}),
    )
    _remote(script, sleeps).info()
    assert sleeps == [0.5, 1.0, 2.0]  # rng 0.5 × 1, 2, 4 s


def test_retries_give_up_after_the_attempts_and_say_why() -> None:
    sleeps: list[float] = []
    script = Script(*[(502, {}, _err("bad_gateway"))] * 3)
    with pytest.raises(TransientSyncError, match="502"):
        _remote(script, sleeps, attempts=3).info()
    assert len(sleeps) == 2


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_not_retried(status: int) -> None:
    sleeps: list[float] = []
    with pytest.raises(AuthError, match="key"):
        _remote(Script((status, {}, _err("unauthorized"))), sleeps).info()
    assert sleeps == []


def test_other_4xx_raise_the_envelope_code_without_retrying() -> None:
    sleeps: list[float] = []
    with pytest.raises(RemoteError) as info:
        _remote(Script((409, {}, _err("conflict"))), sleeps).info()
    assert info.value.code == "conflict" and info.value.status == 409 and sleeps == []


def test_a_blob_damaged_in_transit_is_sent_again() -> None:
    data = b"shard bytes" * 100
    sha = hashlib.sha256(data).hexdigest()
    sleeps: list[float] = []
    script = Script((400, {}, _err("digest_mismatch")), (201, {}, {"sha256": sha}))
    remote = _remote(script, sleeps)
    remote.put_blob(sha, len(data), lambda: io.BytesIO(data))
    assert [r.body for r in script.seen] == [data, data]
    assert remote.stats.blobs_sent == 1 and len(remote.stats.transit_errors) == 1


@pytest.mark.parametrize("content", [b"changed on disk!", b"short"])
def test_a_file_that_no_longer_matches_its_hash_is_reported_not_retried(content: bytes) -> None:
    sha = hashlib.sha256(b"original content").hexdigest()
    script = Script((400, {}, _err("digest_mismatch")), (201, {}, {}))
    with pytest.raises(LocalFileChangedError):
        _remote(script, []).put_blob(sha, 16, lambda: io.BytesIO(content))


def test_negotiate_reply_must_answer_the_runs_asked_about() -> None:
    m = protocol.Manifest(RunManifest("r1", (FileRef("run.json", SHA, 1),)), "p")
    reply = {"protocol": 1, "runs": [{"run_id": "other", "status": "current"}]}
    with pytest.raises(ProtocolError, match="does not answer"):
        _remote(Script((200, {}, reply)), []).negotiate([m])


def test_sync_never_imports_flask() -> None:
    import subprocess

    from .conftest import PYTHON, child_env

    code = (
        "import sys, localtrack.sync.client, localtrack.sync.bundle, localtrack.sync.watch, "
        "localtrack.sync.online, localtrack.cli.sync, localtrack.apikeys; print('flask' in sys.modules)"
    )
    out = subprocess.run(
        [PYTHON, "-c", code], env=child_env(), capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
