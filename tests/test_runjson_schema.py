"""run.json's one schema (store/runschema.py) on both sides: init() refuses what it would not
accept, the receiving side names the field, and readers skip (and report) a run whose run.json
breaks it instead of failing the listing. Media log lines and manifests have theirs too."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import localtrack
from localtrack.cli.main import cli
from localtrack.errors import DocumentError, ProtocolError, UsageError
from localtrack.store import jsondoc
from localtrack.store.ingest.runorigin import parse_run_json
from localtrack.store.mediaschema import check_media_log
from localtrack.store.runschema import check_run_json, parse_run_json_bytes
from localtrack.sync import protocol
from webui.app import create_app

from .sync_fixtures import log_runs

QUIET = localtrack.Settings(system_metrics=False, console=False, save_code=False)
GOOD: dict[str, Any] = {
    "id": "abc123",
    "project": "mnist",
    "entity": None,
    "name": "run-1",
    "notes": "line one\nline two",
    "tags": ["a", "b"],
    "group": None,
    "job_type": "train",
    "state": "finished",
    "created_at": 1.7e9,
    "updated_at": 1.7e9 + 5,
    "ended_at": 1.7e9 + 5,
    "exit_code": 0,
    "config": {"lr": 0.1, "nested": {"x": [1, 2, {"y": None}]}, "odd": float("nan")},
    "config_versions": [{"version": 1, "segment": 0, "time": 1.7e9, "config": {"lr": 0.1}}],
    "summary": {"loss": float("inf")},
    "summary_overrides": {},
    "summary_deleted": ["acc"],
    "metric_definitions": [{"name": "val/*", "step_metric": "epoch", "summary": "max"}],
    "shards": {"0000-000000001-000000002.parquet": "ab" * 32},
    "segments": [
        {
            "segment": 0,
            "host": "h",
            "pid": 42,
            "boot_id": None,
            "started_at": 1.7e9,
            "ended_at": None,
            "exit_code": None,
            "first_step": 0,
        }
    ],
    "system": {"argv": ["train.py"], "git": {"dirty": True}},
    "format_version": 1,
    "a_field_from_a_newer_writer": {"kept": True},
}


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth - 1):
        value = [value]
    return value


BAD_FIELDS = [
    ("tags", 5, "'tags' must be a list of strings, got int"),
    ("tags", ["ok", 1], "'tags[1]' must be a string, got int"),
    ("tags", ["x" * 300], "'tags[0]' must be 1 to 256 characters"),
    ("tags", ["t"] * 1001, "'tags' must hold at most 1000 items"),
    ("created_at", "x", "'created_at' must be a number or null, got str"),
    ("created_at", float("nan"), "'created_at' must be a finite number"),
    ("updated_at", 2**70, "'updated_at' must fit in 64 bits"),
    ("ended_at", True, "'ended_at' must be a number or null, got bool"),
    ("config", [], "'config' must be an object or null, got list"),
    ("summary_overrides", "s", "'summary_overrides' must be an object or null, got str"),
    ("group", [1], "'group' must be a string or null, got list"),
    ("name", {"a": 1}, "'name' must be a string or null, got dict"),
    ("name", "a\x1b[2Jb", "'name' must not contain control characters"),
    ("name", "x" * 513, "'name' must be 0 to 512 characters"),
    ("name", "\ud800", "'name' must be valid Unicode"),
    ("notes", 3, "'notes' must be a string or null, got int"),
    ("project", "a/b", "'project' must not contain '/'"),
    ("project", "p" * 129, "'project' must be 0 to 128 characters"),
    ("entity", 7, "'entity' must be a string or null, got int"),
    ("job_type", {}, "'job_type' must be a string or null, got dict"),
    ("state", "exploded", "'state' must be one of"),
    ("state", None, "'state' must be one of"),
    ("exit_code", "1", "'exit_code' must be an integer or null, got str"),
    ("exit_code", 1.5, "'exit_code' must be an integer or null, got float"),
    ("segments", {}, "'segments' must be a list of objects, got dict"),
    ("segments", [5], "'segments[0]' must be an object, got int"),
    ("segments", [{"segment": 0, "pid": "1"}], "'segments[0].pid' must be an integer or null"),
    ("segments", [{"segment": -1}], "'segments[0].segment' must be from 0"),
    ("metric_definitions", [{"name": 5}], "'metric_definitions[0].name' must be a string"),
    ("metric_definitions", [{"name": "a", "summary": "median"}], "must be one of"),
    ("config_versions", [{"version": "1"}], "'config_versions[0].version' must be an integer"),
    ("summary_deleted", [None], "'summary_deleted[0]' must be a string, got null"),
    ("shards", {"x": "nothex"}, "must be a lowercase hex sha256"),
    ("system", 5, "'system' must be an object or null, got int"),
    ("format_version", "1", "'format_version' must be an integer"),
    ("id", "../etc", "'id' must be a run id"),
    ("id", "abc\n", "'id' must be a run id"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_FIELDS)
def test_a_bad_field_is_refused_naming_the_field(field: str, value: Any, message: str) -> None:
    doc = dict(GOOD, **{field: value})
    with pytest.raises(DocumentError, match=message.replace("[", r"\[").replace("]", r"\]")) as exc:
        check_run_json(doc)
    assert str(exc.value).startswith(f"run.json field '{field}")
    assert exc.value.field.startswith(field)


def test_good_documents_pass_with_unknown_fields_and_non_finite_free_form_values() -> None:
    check_run_json(GOOD)
    check_run_json({"id": "minimal"})  # old stores: only the id is required
    data = json.dumps(GOOD, allow_nan=True).encode()
    assert parse_run_json_bytes(data)["summary"]["loss"] == math.inf


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[" * 5000 + b"]" * 5000, "nested deeper than 64 levels"),
        (json.dumps({"id": "a", "config": _nested(65)}).encode(), "nested deeper than 64 levels"),
        (b"\xff\xfe", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"[1]", "must be a JSON object, got list"),
        (b'{"name": "x"}', "has no field 'id'"),
        (b'{"id": "a", "x": ' + b"1" * 5000 + b"}", "not valid JSON"),
    ],
)
def test_unusable_json_is_a_clear_error_never_a_recursion_error(data: bytes, message: str) -> None:
    with pytest.raises(DocumentError, match=message):
        parse_run_json_bytes(data)


def test_nesting_up_to_the_limit_is_accepted() -> None:
    check_run_json({"id": "a", "config": {"x": _nested(62)}})


def test_the_receiving_side_names_the_run_and_the_field() -> None:
    data = json.dumps(dict(GOOD, tags=5)).encode()
    with pytest.raises(DocumentError, match=r"run\.json of abc123 field 'tags' must be a list"):
        parse_run_json(data, "abc123")


# -- the client side: init() -----------------------------------------------------------------


def test_the_run_json_init_writes_passes_the_schema(root: Path) -> None:
    run = localtrack.init(
        project="p",
        name="n",
        notes="multi\nline",
        tags=("b", "a"),
        group="g",
        job_type="train",
        entity="team",
        config={"lr": 0.1, "opt": {"betas": (0.9, 0.99)}, "inf": float("inf")},
        dir=root,
        settings=QUIET,
    )
    run.log({"loss": 1.0})
    run.define_metric("loss", summary="min")
    run.summary["best"] = 0.5
    run.finish()
    check_run_json(json.loads((root / "runs" / run.id / "run.json").read_text()))
    resumed = localtrack.init(id=run.id, resume="allow", tags=["c"], dir=root, settings=QUIET)
    resumed.finish(exit_code=3)
    check_run_json(json.loads((root / "runs" / run.id / "run.json").read_text()))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"group": {"a": 1}}, r"init\(group=\.\.\.\) must be a string or null, got dict"),
        ({"tags": 5}, r"init\(tags=\.\.\.\) must be a list of strings, got int"),
        ({"tags": "abc"}, r"init\(tags=\.\.\.\) must be a list of strings, got str"),
        ({"tags": ["a", 1]}, r"init\(tags=\.\.\.\): tags\[1\] must be a string, got int"),
        ({"name": {"x": 1}}, r"init\(name=\.\.\.\) must be a string or null, got dict"),
        ({"name": "x" * 600}, r"init\(name=\.\.\.\) must be 0 to 512 characters"),
        ({"job_type": 3}, r"init\(job_type=\.\.\.\) must be a string or null, got int"),
        ({"notes": ["n"]}, r"init\(notes=\.\.\.\) must be a string or null, got list"),
        ({"project": "a/b"}, r"init\(project=\.\.\.\) must not contain '/'"),
        ({"project": 5}, r"init\(project=\.\.\.\) must be a string or null, got int"),
        ({"entity": "\x00"}, r"init\(entity=\.\.\.\) must not contain control characters"),
        ({"config": 5}, r"config must be a dict"),
    ],
)
def test_init_names_the_argument_and_leaves_no_run_behind(
    root: Path, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        localtrack.init(dir=root, settings=QUIET, **kwargs)
    assert not (root / "runs").exists() or list((root / "runs").iterdir()) == []


def test_init_refuses_a_config_that_contains_itself(root: Path) -> None:
    config: dict[str, Any] = {"a": 1}
    config["self"] = config
    with pytest.raises(UsageError, match=r"nested|contains itself"):
        localtrack.init(dir=root, settings=QUIET, config=config)
    assert not (root / "runs").exists() or list((root / "runs").iterdir()) == []


# -- readers and reindex ---------------------------------------------------------------------


@pytest.fixture
def junk_store(tmp_path: Path) -> tuple[Path, list[str]]:
    """Three runs; the first one's run.json is then given wrong types directly on disk."""
    root = tmp_path / "store"
    ids = log_runs(root, n=3, steps=10)
    path = root / "runs" / ids[0] / "run.json"
    meta = json.loads(path.read_text())
    meta.update(tags=5, created_at="x", name={"a": 1})
    path.write_text(json.dumps(meta))
    return root, ids


def test_reindex_skips_and_reports_a_run_whose_run_json_breaks_the_schema(
    junk_store: tuple[Path, list[str]],
) -> None:
    root, ids = junk_store
    (root / "index.db").unlink()
    out = CliRunner().invoke(cli, ["reindex", "--dir", str(root)])
    assert out.exception is None or isinstance(out.exception, SystemExit), out.output
    assert "indexed 2 runs" in out.output
    assert f"problem: {ids[0]}:" in out.output and "field 'name'" in out.output
    assert out.exit_code == 1  # a skipped run is a problem worth a non-zero exit
    assert sorted(r.id for r in localtrack.Api(root).runs()) == sorted(ids[1:])


def test_the_ui_lists_the_other_runs_when_one_run_json_is_junk(
    junk_store: tuple[Path, list[str]],
) -> None:
    root, ids = junk_store
    (root / "index.db").unlink()  # so the reader scans run directories
    client = create_app(root).test_client()
    for path in ("/", "/api/v1/projects", "/projects/proj", "/api/v1/projects/proj/runs"):
        reply = client.get(path)
        assert reply.status_code == 200, (path, reply.data[:300])
    listed = [r["id"] for r in client.get("/api/v1/projects/proj/runs").json["rows"]]
    assert sorted(listed) == sorted(ids[1:])


def test_junk_left_in_an_old_index_never_fails_the_listing(tmp_path: Path) -> None:
    root = tmp_path / "store"
    ids = log_runs(root, n=3, steps=10)
    con = sqlite3.connect(root / "index.db")
    with con:  # what older versions could leave: the wrong types in typed columns
        con.execute(
            "UPDATE runs SET created_at='x', project=5, name=7, tags='5', exit_code='e', "
            'notes=3, meta=\'{"segments": 5, "system": {"argv": 3}}\' WHERE id=?',
            (ids[0],),
        )
        con.execute("UPDATE runs SET state='running', meta='[]' WHERE id=?", (ids[1],))
    con.close()
    client = create_app(root).test_client()
    for path in ("/", "/api/v1/projects", "/projects/proj", "/api/v1/projects/proj/runs"):
        assert client.get(path).status_code == 200, path
    for run_id in ids:
        assert client.get(f"/api/v1/runs/{run_id}").status_code == 200, run_id
        assert client.get(f"/runs/{run_id}").status_code == 200, run_id


# -- media logs and manifests ----------------------------------------------------------------

IMAGE = {"key": "img", "step": 1, "wall_time": 1.7e9, "type": "image", "sha256": "ab" * 32}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (dict(IMAGE, step="1"), "line 1 field 'step' must be an integer, got str"),
        (dict(IMAGE, key=None), "line 1 field 'key' must be a string, got null"),
        (dict(IMAGE, type="hologram"), "line 1 field 'type' must be one of"),
        (dict(IMAGE, file="../../etc/passwd"), "line 1 field 'file' must be null or media/blobs"),
        (dict(IMAGE, width=-1), "line 1 field 'width' must be from 0"),
        (
            {"key": "h", "step": 0, "wall_time": 1.0, "type": "histogram", "edges": [0.0]},
            "'counts'",
        ),
        (
            {
                "key": "h",
                "step": 0,
                "wall_time": 1,
                "type": "histogram",
                "edges": [0],
                "counts": [1],
            },
            "one more edge than counts",
        ),
        ([1, 2], "line 1 must be a JSON object, got list"),
    ],
)
def test_a_bad_media_log_line_is_refused_naming_line_and_field(line: Any, message: str) -> None:
    data = (json.dumps(IMAGE) + "\n" + json.dumps(line) + "\n").encode()
    with pytest.raises(DocumentError, match=message.replace("line 1", "line 2")):
        check_media_log(data, "media/log-0000.jsonl")


def test_a_torn_last_media_log_line_is_left_to_readers() -> None:
    data = (json.dumps(IMAGE) + "\n" + '{"key": "im').encode()
    assert check_media_log(data, "media/log-0000.jsonl") == 1
    with pytest.raises(DocumentError, match="nested deeper"):
        check_media_log(b"[" * 5000 + b"]" * 5000 + b"\n", "media/log-0000.jsonl")


def _manifest(**changes: Any) -> dict[str, Any]:
    base = {
        "run_id": "abc",
        "project": "p",
        "entity": None,
        "heartbeat_at": None,
        "files": [{"name": "run.json", "sha256": "ab" * 32, "bytes": 3}],
    }
    return dict(base, **changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"heartbeat_at": float("nan")}, "heartbeat_at must be a finite number"),
        ({"heartbeat_at": 10**400}, "heartbeat_at must fit in 64 bits"),
        ({"project": "a/b"}, "project must not contain '/'"),
        ({"entity": 5}, "entity must be a string or null"),
        ({"run_id": "abc\n"}, "not a valid run id"),
        ({"files": [{"name": "run.json\n", "sha256": "ab" * 32, "bytes": 3}]}, "not a file"),
        ({"files": [{"name": "run.json", "sha256": "ab" * 32 + "\n", "bytes": 3}]}, "sha256"),
    ],
)
def test_manifests_are_checked_field_by_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        protocol.Manifest.from_json(_manifest(**changes))


def test_a_deeply_nested_request_body_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="nested deeper than 64 levels"):
        protocol.parse_body(b'{"protocol": 1, "manifest": ' + b"[" * 5000 + b"]" * 5000 + b"}")
    assert jsondoc.MAX_DEPTH == 64
