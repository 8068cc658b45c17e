"""Malformed documents against a real server process: a run.json, manifest or media log with
the wrong types is a 4xx naming the field, nothing of it is placed, everyone can still list
runs, and the server restarts cleanly — also after a seeded fuzz of 200 documents, and with a
commit journal on disk that can never be applied. On both server backends
(``server_backend``, ``module_server_backend``): on ``pg+s3`` "nothing is placed" means no
committed files of the run in PostgreSQL."""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localtrack.apikeys import KeyStore
from localtrack.store.ingest.importer import Ingest

from .backend_fixtures import ServerBackend, committed_runs, dir_backend_only
from .sync_fixtures import ServerProcess, log_runs

pytestmark = pytest.mark.server
FAST = {"LOCALTRACK_RATE_LIMIT": "100000", "LOCALTRACK_RATE_BURST": "100000"}
LISTINGS = ("/api/v1/projects", "/api/v1/projects/alpha/runs", "/", "/projects/alpha")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _call(
    server: ServerProcess, method: str, path: str, token: str, body: bytes | None = None
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        json_body = method == "POST"
        headers["Content-Type"] = "application/json" if json_body else "application/octet-stream"
    try:
        conn.request(method, path, body=body, headers=headers)
        reply = conn.getresponse()
        data = reply.read()
    finally:
        conn.close()
    try:
        return reply.status, json.loads(data)
    except ValueError:
        return reply.status, data.decode(errors="replace")


def _commit(
    server: ServerProcess,
    token: str,
    run_id: str,
    files: dict[str, bytes],
    overrides: dict[str, Any] | None = None,
) -> tuple[int, Any]:
    """PUT every file's bytes, then commit a manifest listing them (`overrides` replace fields)."""
    for data in files.values():
        status, body = _call(server, "PUT", f"/api/v1/blobs/{_sha(data)}", token, data)
        assert status == 201, (status, body)
    listed = [{"name": n, "sha256": _sha(d), "bytes": len(d)} for n, d in files.items()]
    body = {"run_id": run_id, "project": "alpha", "entity": None, "heartbeat_at": None}
    body.update(files=listed)
    body.update(overrides or {})
    request = json.dumps({"protocol": 1, "manifest": body}, allow_nan=True).encode()
    return _call(server, "POST", "/api/v1/sync/commit", token, request)


def _listings_answer(server: ServerProcess, tokens: dict[str, str]) -> None:
    for who in ("admin", "read", "write_alpha"):
        for path in LISTINGS:
            status, body = _call(server, "GET", path, tokens[who])
            assert status == 200, (who, path, status, str(body)[:300])


@pytest.fixture(scope="module")
def client_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One real run of project alpha: its run.json (parsed) and one sealed shard."""
    root = tmp_path_factory.mktemp("client")
    [run_id] = log_runs(root, n=1, steps=20, project="alpha", shards=1)
    run_dir = root / "runs" / run_id
    shard = sorted((run_dir / "metrics").iterdir())[0]
    meta = json.loads((run_dir / "run.json").read_text())
    return {"meta": meta, "shard": (f"metrics/{shard.name}", shard.read_bytes())}


def _new_server(root: Path, backend: ServerBackend) -> tuple[ServerProcess, dict[str, str]]:
    log_runs(root, n=1, steps=10, project="alpha")
    keys = KeyStore(root, backend.index_url)
    tokens = {
        "admin": keys.create("root", "admin").token,
        "read": keys.create("viewer", "read").token,
        "write_alpha": keys.create("alice-ci", "write", "alpha").token,
    }
    return ServerProcess(root, env={**backend.env, **FAST}).start(), tokens


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, module_server_backend: ServerBackend
) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("served") / "server"
    server, tokens = _new_server(root, module_server_backend)
    yield {"server": server, "tokens": tokens, "root": root, "backend": module_server_backend}
    server.stop()


def _placed(served: dict[str, Any], run_id: str) -> bool:
    return run_id in committed_runs(served["backend"], served["root"])


def _run_json(meta: dict[str, Any], run_id: str, **changes: Any) -> bytes:
    return json.dumps(dict(meta, id=run_id, **changes), allow_nan=True).encode()


def _nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


BAD = [
    ("tags", 5),
    ("created_at", "x"),
    ("config", []),
    ("group", [1]),
    ("name", {"a": 1}),
    ("state", "exploded"),
    ("exit_code", "0"),
    ("segments", [{"segment": 0, "pid": "42"}]),
    ("project", "a/b"),
    ("entity", 5),
    ("notes", 7),
    ("summary_overrides", []),
    ("metric_definitions", [{"name": None}]),
    ("config", {"deep": _nested(70)}),
]


@pytest.mark.parametrize(("field", "value"), BAD)
def test_a_malformed_run_json_is_a_4xx_naming_the_field_and_nothing_is_placed(
    served: dict[str, Any], client_run: dict[str, Any], field: str, value: Any
) -> None:
    server, tokens, root = served["server"], served["tokens"], served["root"]
    run_id = f"bad-{field}-{len(json.dumps(value))}"
    files = {"run.json": _run_json(client_run["meta"], run_id, **{field: value})}
    files[client_run["shard"][0]] = client_run["shard"][1]
    status, body = _commit(server, tokens["write_alpha"], run_id, files)
    assert 400 <= status < 500, (status, body)
    message = body["error"]["message"]
    assert (f"'{field}" in message) or ("nested deeper" in message), message
    assert not _placed(served, run_id)
    assert list((root / "ingest" / "journal").iterdir()) == []
    _listings_answer(server, tokens)


@pytest.mark.parametrize(
    "payload",
    [b"[" * 5000 + b"]" * 5000, b"\xff\xfe not json", b"[1, 2]", b'{"id": "other-run"}'],
)
def test_run_json_that_is_no_run_json_is_a_4xx(
    served: dict[str, Any], client_run: dict[str, Any], payload: bytes
) -> None:
    server, tokens = served["server"], served["tokens"]
    status, body = _commit(server, tokens["write_alpha"], "not-a-run", {"run.json": payload})
    assert 400 <= status < 500, (status, body)
    assert not _placed(served, "not-a-run")


def test_a_deeply_nested_commit_body_is_a_400(served: dict[str, Any]) -> None:
    body = b'{"protocol": 1, "manifest": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    status, reply = _call(
        served["server"], "POST", "/api/v1/sync/commit", served["tokens"]["write_alpha"], body
    )
    assert status == 400 and "nested deeper than 64" in reply["error"]["message"], reply


def test_a_malformed_media_log_is_a_4xx_naming_line_and_field(
    served: dict[str, Any], client_run: dict[str, Any]
) -> None:
    server, tokens = served["server"], served["tokens"]
    line = {"key": "img", "step": "one", "wall_time": 1.0, "type": "image", "sha256": "ab" * 32}
    files = {
        "run.json": _run_json(client_run["meta"], "bad-media"),
        "media/log-0000.jsonl": (json.dumps(line) + "\n").encode(),
    }
    status, body = _commit(server, tokens["write_alpha"], "bad-media", files)
    assert status == 400, (status, body)
    assert "line 1 field 'step' must be an integer" in body["error"]["message"]
    assert not _placed(served, "bad-media")


def test_after_refusals_the_server_restarts_cleanly_and_still_lists(
    served: dict[str, Any], client_run: dict[str, Any]
) -> None:
    server, tokens = served["server"], served["tokens"]
    files = {"run.json": _run_json(client_run["meta"], "bad-restart", tags=5)}
    assert _commit(server, tokens["write_alpha"], "bad-restart", files)[0] == 400
    good = {"run.json": _run_json(client_run["meta"], "good-restart")}
    assert _commit(server, tokens["write_alpha"], "good-restart", good)[0] == 200
    server.stop()
    server.start()
    _listings_answer(server, tokens)
    _, body = _call(server, "GET", "/api/v1/projects/alpha/runs", tokens["read"])
    listed = {row["id"] for row in body["rows"]}
    assert "good-restart" in listed and "bad-restart" not in listed


# -- fuzz --------------------------------------------------------------------------------------

FUZZ_DOCS = 200
_VALUES: list[Any] = [
    5,
    -1,
    2**70,
    1.5,
    float("nan"),
    float("-inf"),
    "x",
    "",
    "a/b",
    "\x00",
    "\ud800",
    "x" * 2000,
    None,
    True,
    [],
    [1],
    ["a"],
    [None],
    {},
    {"a": 1},
    [{"segment": "0"}],
    _nested(80),
]
_RUN_FIELDS = [
    "id",
    "project",
    "entity",
    "name",
    "notes",
    "tags",
    "group",
    "job_type",
    "state",
    "created_at",
    "updated_at",
    "ended_at",
    "exit_code",
    "config",
    "config_versions",
    "summary",
    "summary_overrides",
    "summary_deleted",
    "metric_definitions",
    "shards",
    "segments",
    "system",
    "format_version",
]
_MANIFEST_FIELDS = ["run_id", "project", "entity", "heartbeat_at", "files"]
_MEDIA_FIELDS = ["key", "step", "wall_time", "type", "sha256", "file", "width", "caption"]


def _fuzz_case(rng: random.Random, meta: dict[str, Any], i: int) -> dict[str, Any]:
    """One commit: a run.json, manifest or media log with 1-3 fields given random values."""
    run_id = f"fuzz-{i}"
    kind = rng.choice(["run.json", "run.json", "manifest", "media"])
    doc = dict(meta, id=run_id)
    manifest: dict[str, Any] = {}
    media: dict[str, Any] = {"key": "k", "step": 1, "wall_time": 1.0, "type": "histogram"}
    media.update(edges=[0.0, 1.0], counts=[1.0])
    target = {"run.json": doc, "manifest": manifest, "media": media}[kind]
    fields = {"run.json": _RUN_FIELDS, "manifest": _MANIFEST_FIELDS, "media": _MEDIA_FIELDS}[kind]
    for _ in range(rng.randint(1, 3)):
        target[rng.choice(fields)] = rng.choice(_VALUES)
    files = {"run.json": json.dumps(doc, allow_nan=True).encode()}
    if kind == "media":
        files["media/log-0000.jsonl"] = (json.dumps(media, allow_nan=True) + "\n").encode()
    return {"run_id": run_id, "files": files, "manifest": manifest}


def test_fuzzed_documents_never_get_a_5xx_and_the_server_stays_usable(
    tmp_path: Path, client_run: dict[str, Any], server_backend: ServerBackend
) -> None:
    server, tokens = _new_server(tmp_path / "server", server_backend)
    rng = random.Random(8)
    statuses: dict[int, int] = {}
    # pg+s3: the first 60 of the same documents (its commits cost PostgreSQL and S3 round trips;
    # the documents are checked by the same code on both backends before any commit)
    docs = 60 if server_backend.shared else FUZZ_DOCS
    try:
        for i in range(docs):
            case = _fuzz_case(rng, client_run["meta"], i)
            token = tokens["write_alpha"]
            status, body = _commit(server, token, case["run_id"], case["files"], case["manifest"])
            assert status < 500, (i, status, body, case)
            statuses[status] = statuses.get(status, 0) + 1
        assert statuses.get(200, 0) > 0 and statuses.get(400, 0) > 0, statuses
        _listings_answer(server, tokens)
        assert list((tmp_path / "server" / "ingest" / "journal").iterdir()) == []
        server.stop()
        server.start()
        _listings_answer(server, tokens)
    finally:
        server.stop()


# -- a journal that can never be applied ---------------------------------------------------------


@dir_backend_only(
    "a pg+s3 server keeps no commit journal: each commit is one PostgreSQL transaction "
    "(store/ingest/pgcommits.py), so there is no journal left to set aside"
)
def test_an_unappliable_journal_is_set_aside_at_start_and_the_server_starts(
    tmp_path: Path, client_run: dict[str, Any], server_backend: ServerBackend
) -> None:
    root = tmp_path / "server"
    [run_id] = log_runs(root, n=1, steps=10, project="alpha")
    run_json = root / "runs" / run_id / "run.json"
    before = run_json.read_bytes()
    area = Ingest(root).create()
    # What an older server left after crashing mid-commit of a run.json with junk types.
    junk = json.dumps(dict(json.loads(before), tags=5)).encode()
    (area.blobs / _sha(junk)).write_bytes(junk)
    entry = {"name": "run.json", "sha256": _sha(junk), "bytes": len(junk)}
    plan = {"run_id": run_id, "place": [entry], "remove": [], "files": {}, "heartbeat_at": None}
    (area.journal / f"{run_id}.json").write_text(json.dumps(dict(plan, started_at=time.time())))
    (area.journal / "garbage.json").write_text("{not json")
    shutil.copy(area.journal / "garbage.json", tmp_path / "kept.json")
    keys = KeyStore(root)
    tokens = {
        "admin": keys.create("root", "admin").token,
        "read": keys.create("viewer", "read").token,
        "write_alpha": keys.create("alice-ci", "write", "alpha").token,
    }
    server = ServerProcess(root, env=FAST).start()
    try:
        _listings_answer(server, tokens)
        assert run_json.read_bytes() == before  # the run is as it was before that commit
        assert list(area.journal.iterdir()) == []
        quarantined = sorted(p.name for p in (area.dir / "quarantine").iterdir())
        assert [n.split(".")[0] for n in quarantined] == sorted(["garbage", run_id])
        assert "could not be applied" in server.output()
        server.stop()
        server.start()  # and again: nothing is left to trip over
        _listings_answer(server, tokens)
    finally:
        server.stop()
