"""localtrack.Api(base_url=…) against a real `localtrack server` process on 127.0.0.1: the same
reads as a local store, and edits with a write (update) or admin (delete) key. On both server
backends (``module_server_backend``): the store is written in the server's directory and, for
``pg+s3``, moved onto PostgreSQL and the bucket with ``server migrate`` before the server starts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import localtrack
from localtrack.apikeys import KeyStore
from localtrack.errors import AuthError, DigestMismatchError, RunNotFoundError, UsageError

from .backend_fixtures import ServerBackend
from .sync_fixtures import ServerProcess
from .test_api_read import QUIET, _log

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, module_server_backend: ServerBackend
) -> Iterator[tuple[ServerProcess, dict]]:
    root = tmp_path_factory.mktemp("served") / "store"
    root.mkdir()
    ids = [_log(root, i) for i in range(3)]
    (root / "runs" / ids[0] / "files").mkdir(exist_ok=True)
    (root / "runs" / ids[0] / "files" / "notes.txt").write_text("hello")
    (root / "runs" / ids[0] / "files" / "outputs" / "plots").mkdir(parents=True)
    (root / "runs" / ids[0] / "files" / "outputs" / "plots" / "curve.csv").write_text("x,y\n")
    (root / "runs" / ids[0] / "files" / "model.bin").write_bytes(os.urandom(3 << 20))
    keys = KeyStore(root)
    info = {
        "ids": ids,
        **_artifact_runs(root, tmp_path_factory.mktemp("data")),
        "damaged": _damaged_run(root),
        "root": root,
        "admin": keys.create("root", "admin").token,
        "write": keys.create("ci", "write").token,
        "read": keys.create("viewer", "read").token,
        "backend": module_server_backend,
    }
    module_server_backend.adopt(root)
    server = ServerProcess(root, env=module_server_backend.env).start()
    try:
        yield server, info
    finally:
        server.stop()


def _artifact_runs(root: Path, data: Path) -> dict[str, str]:
    """A run in project "arts" that logs dataset "ds" twice (v1 aliased "best", files in a
    folder), and one that uses v1."""
    (data / "sub").mkdir()
    (data / "a.txt").write_text("alpha")
    (data / "sub" / "b.txt").write_text("beta")
    with localtrack.init(project="arts", dir=root, settings=QUIET) as run:
        run.log_artifact(str(data), name="ds", type="dataset")
        (data / "a.txt").write_text("alpha 2")
        run.log_artifact(str(data), name="ds", type="dataset", aliases=["best"])
        producer = run.id
    with localtrack.init(project="arts", dir=root, settings=QUIET) as run:
        run.use_artifact("ds:best")
        consumer = run.id
    return {"producer": producer, "consumer": consumer}


def _damaged_run(root: Path) -> str:
    run_id = _log(root, 5, steps=120)
    shard = sorted((root / "runs" / run_id / "metrics").glob("*.parquet"))[0]
    shard.write_bytes(shard.read_bytes()[:-40])  # a torn shard the index still lists
    return run_id


def _api(served: tuple[ServerProcess, dict], role: str = "read") -> localtrack.Api:
    server, info = served
    return localtrack.Api(base_url=server.url, api_key=info[role])


def test_remote_runs_filter_and_order_as_locally(served: tuple[ServerProcess, dict]) -> None:
    _, info = served
    ids = info["ids"]
    remote, local = _api(served), localtrack.Api(info["root"])
    for filters, order in [
        ({"$and": [{"tags": {"$in": ["new"]}}, {"config.lr": {"$lt": 0.005}}]}, None),
        ({"summary_metrics.acc": {"$gte": 0.1}}, "-summary_metrics.acc"),
        (None, "+config.lr"),
    ]:
        got = [r.id for r in remote.runs("team/p", filters=filters, order=order)]
        assert got == [r.id for r in local.runs("team/p", filters=filters, order=order)]
    run = remote.run(f"team/p/{ids[1]}")
    assert run.url == f"{served[0].url}/runs/{ids[1]}" and run.lastHistoryStep == 299
    assert local.run(ids[1]).url == f"http://127.0.0.1:8080/runs/{ids[1]}"
    assert run.metadata["python"] == local.run(ids[1]).metadata["python"]
    assert run.config["opt"]["name"] == "adam" and run.tags == ["new", "t1"]
    assert run.summary["acc"] == pytest.approx(0.39)
    with pytest.raises(UsageError, match="did you mean '\\$gt'"):
        remote.runs("team/p", filters={"config.lr": {"$gtt": 1}})
    with pytest.raises(RunNotFoundError):
        remote.run("team/p/nosuchrun")


def test_remote_history_and_scan_history(served: tuple[ServerProcess, dict]) -> None:
    _, info = served
    run = _api(served).run(info["ids"][0])
    df = run.history(keys=["acc"], samples=5)
    assert isinstance(df, pd.DataFrame) and df["step"].tolist() == [0, 70, 140, 220, 290]
    assert len(run.history()) == 300
    rows = list(run.scan_history(page_size=7))
    assert [r["step"] for r in rows] == list(range(300))
    window = list(run.scan_history(keys=["acc"], page_size=3, min_step=50, max_step=120))
    assert [r["step"] for r in window] == list(range(50, 121, 10))


def test_remote_files_download_keeps_folders(
    served: tuple[ServerProcess, dict], tmp_path: Path
) -> None:
    _, info = served
    run = _api(served).run(info["ids"][0])
    assert {"notes.txt", "outputs/plots/curve.csv"} <= {f.name for f in run.files()}
    assert run.file("notes.txt").download(tmp_path).read_text() == "hello"
    nested = run.file("outputs/plots/curve.csv").download(tmp_path)
    assert nested == tmp_path / "outputs" / "plots" / "curve.csv"
    assert nested.read_text() == "x,y\n"
    big = run.file("model.bin").download(tmp_path)  # streamed to disk, not held in memory
    source = info["root"] / "runs" / info["ids"][0] / "files" / "model.bin"
    assert big.read_bytes() == source.read_bytes()
    for f in run.files():  # what a notebook does to fetch everything
        f.download(tmp_path / "all", exist_ok=True)
    assert (tmp_path / "all" / "outputs" / "plots" / "curve.csv").is_file()


def test_remote_update_needs_a_write_key_and_delete_an_admin_key(
    served: tuple[ServerProcess, dict],
) -> None:
    _, info = served
    ids = info["ids"]
    readonly = _api(served).run(ids[2])
    readonly.tags.append("best")
    with pytest.raises(AuthError):
        readonly.update()
    run = _api(served, "write").run(ids[2])
    run.tags.append("best")
    run.notes = "from a notebook"
    run.config["opt"]["name"] = "lion"
    run.summary["acc"] = 0.99
    run.update()
    # what the server holds now: its directory's index (dir), or PostgreSQL's, as it answers
    again = (_api(served) if info["backend"].shared else localtrack.Api(info["root"])).run(ids[2])
    assert again.tags == ["new", "t2", "best"] and again.notes == "from a notebook"
    assert again.config["opt"] == {"name": "lion"} and again.summary["acc"] == 0.99
    with pytest.raises(AuthError):
        run.delete()
    _api(served, "admin").run(ids[2]).delete()
    assert not (info["root"] / "runs" / ids[2]).exists()
    with pytest.raises(RunNotFoundError):
        _api(served).run(ids[2])


def test_remote_series_keys_and_long_table_as_locally(served: tuple[ServerProcess, dict]) -> None:
    _, info = served
    remote, local = _api(served), localtrack.Api(info["root"])
    run_id = info["ids"][0]
    there, here = remote.run(run_id), local.run(run_id)
    assert there.metric_keys() == here.metric_keys()
    assert [p.name for p in remote.projects()] == [p.name for p in local.projects()]
    for kwargs in [{"buckets": 10}, {"x0": 50, "x1": 120, "buckets": 7}, {"x": "wall_time"}, {}]:
        got, want = there.series("acc", **kwargs), here.series("acc", **kwargs)
        assert (got.x_axis, got.total_points, got.points_in_range) == (
            want.x_axis,
            want.total_points,
            want.points_in_range,
        )
        for column in ("x", "min", "max", "last", "count"):
            assert getattr(got, column).tolist() == getattr(want, column).tolist(), column
    assert there.series("acc", edges=np.linspace(0, 300, 4)).count.tolist() == [10, 10, 10]
    with pytest.raises(UsageError, match="evenly spaced"):
        there.series("acc", edges=np.array([0.0, 1.0, 100.0]))
    long_there, long_here = there.long_table(["acc", "loss"]), here.long_table(["acc", "loss"])
    columns = ["step", "key", "value"]
    assert long_there.select(columns).to_pylist() == long_here.select(columns).to_pylist()
    assert there.long_table().num_rows == here.long_table().num_rows


def test_remote_damage_is_what_the_store_reports(served: tuple[ServerProcess, dict]) -> None:
    _, info = served
    here = localtrack.Api(info["root"]).run(info["damaged"]).damage()
    there = _api(served).run(info["damaged"]).damage()
    assert there and there == here


def test_remote_artifacts_as_locally(served: tuple[ServerProcess, dict], tmp_path: Path) -> None:
    _, info = served
    remote, local = _api(served), localtrack.Api(info["root"])
    best = remote.artifact("arts/ds:best", type="dataset")
    assert (best.version, best.aliases) == ("v1", ["latest", "best"])
    assert best.digest == local.artifact("arts/ds:best").digest
    folder = Path(best.download(tmp_path / "ds"))
    assert (folder / "a.txt").read_text() == "alpha 2"
    assert (folder / "sub" / "b.txt").read_text() == "beta"
    best.verify(folder)
    assert remote.artifact("ds:v0").download(tmp_path / "v0") and (
        (tmp_path / "v0" / "a.txt").read_text() == "alpha"
    )
    assert [a.version for a in remote.artifact_versions("arts/ds")] == ["v0", "v1"]
    assert [a.qualified_name for a in remote.artifacts(type="dataset")] == ["arts/ds:v1"]
    named = remote.artifacts("dataset", "arts/ds")  # W&B's form: every version, newest first
    assert [a.version for a in named] == [a.version for a in local.artifacts("dataset", "arts/ds")]
    assert [a.version for a in named] == ["v1", "v0"]
    assert best.logged_by().id == info["producer"]
    assert [r.id for r in best.used_by()] == [info["consumer"]]
    producer, consumer = remote.run(info["producer"]), remote.run(info["consumer"])
    assert [a.name for a in producer.logged_artifacts()] == ["ds:v0", "ds:v1"]
    assert [a.name for a in consumer.used_artifacts()] == ["ds:v1"]
    best.aliases.append("prod")
    with pytest.raises(UsageError, match="read-only"):
        best.save()
    assert local.artifact("arts/ds:best").aliases == ["latest", "best"]
    backend, v0 = info["backend"], local.artifact("arts/ds:v0")
    backend.damage_blob(info["root"], v0.get_entry("a.txt").sha256)
    if not backend.shared:  # the server hands out what its disk holds: the client's check stops it
        with pytest.raises(DigestMismatchError, match=r"a\.txt"):
            remote.artifact("arts/ds:v0").download(tmp_path / "tampered")
        assert not (tmp_path / "tampered" / "a.txt").exists()
        return
    # pg+s3: the replica that read the blob serves its hash-checked copy; one that never read it
    # checks the bucket's bytes on the way into its cache and refuses them, naming the file
    kept = Path(remote.artifact("arts/ds:v0").download(tmp_path / "kept"))
    assert (kept / "a.txt").read_text() == "alpha"
    replica = ServerProcess(tmp_path / "replica", env=backend.env).start()
    try:
        fresh = localtrack.Api(base_url=replica.url, api_key=info["read"])
        with pytest.raises(RunNotFoundError, match=r"a\.txt: .* damaged"):
            fresh.artifact("arts/ds:v0").download(tmp_path / "tampered")
    finally:
        replica.stop()
    assert not (tmp_path / "tampered" / "a.txt").exists()


def test_login_saves_the_key_that_api_and_sync_then_use(
    served: tuple[ServerProcess, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, info = served
    monkeypatch.setenv("LOCALTRACK_CONFIG_DIR", str(tmp_path / "config"))
    with pytest.raises(AuthError):
        localtrack.login(key=info["read"][:-1] + "x", host=server.url)
    assert localtrack.login(key=info["read"], host=server.url) is True
    assert localtrack.login(host=server.url) is True  # already logged in: kept
    api = localtrack.Api(base_url=server.url)  # no api_key: the saved one
    assert api.run(info["ids"][0]).name == "r0"
    monkeypatch.setenv("WANDB_BASE_URL", server.url)  # a job script's variables
    assert localtrack.login(key=info["write"], relogin=True) is True
    run = localtrack.Api(base_url=server.url).run(info["ids"][1])
    run.notes = "written with the key login() saved"
    run.update()
