"""localtrack.Api(base_url=…) against a real `localtrack server` process on 127.0.0.1: the same
reads as a local store, and edits with a write (update) or admin (delete) key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import localtrack
from localtrack.apikeys import KeyStore
from localtrack.errors import AuthError, RunNotFoundError, UsageError

from .sync_fixtures import ServerProcess
from .test_api_read import _log

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict]]:
    root = tmp_path_factory.mktemp("served") / "store"
    root.mkdir()
    ids = [_log(root, i) for i in range(3)]
    (root / "runs" / ids[0] / "files").mkdir(exist_ok=True)
    (root / "runs" / ids[0] / "files" / "notes.txt").write_text("hello")
    keys = KeyStore(root)
    info = {
        "ids": ids,
        "root": root,
        "admin": keys.create("root", "admin").token,
        "write": keys.create("ci", "write").token,
        "read": keys.create("viewer", "read").token,
    }
    server = ServerProcess(root).start()
    try:
        yield server, info
    finally:
        server.stop()


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


def test_remote_files_download(served: tuple[ServerProcess, dict], tmp_path: Path) -> None:
    _, info = served
    run = _api(served).run(info["ids"][0])
    assert "notes.txt" in [f.name for f in run.files()]
    assert run.file("notes.txt").download(tmp_path).read_text() == "hello"


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
    run.update()
    again = localtrack.Api(info["root"]).run(ids[2])
    assert again.tags == ["new", "t2", "best"] and again.notes == "from a notebook"
    with pytest.raises(AuthError):
        run.delete()
    _api(served, "admin").run(ids[2]).delete()
    assert not (info["root"] / "runs" / ids[2]).exists()
    with pytest.raises(RunNotFoundError):
        _api(served).run(ids[2])
