"""localtrack.Api against a local store: W&B filters and orders, history, scan_history, files,
update() and delete()."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

import localtrack
from localtrack.api.backend import FileInfo
from localtrack.api.run import File
from localtrack.errors import RunNotFoundError, StoreError, UsageError

QUIET = {"system_metrics": False, "console": False, "save_code": False}


def _log(root: Path, i: int, steps: int = 300, **kw: Any) -> str:
    settings = localtrack.Settings(seal_scalars=50, flush_interval=60.0, **QUIET)
    run = localtrack.init(
        project="p",
        entity="team",
        dir=root,
        name=f"r{i}",
        config={"lr": 10.0 ** -(i + 2), "opt": {"name": "sgd" if i == 0 else "adam"}},
        tags=["base"] if i == 0 else ["new", f"t{i}"],
        settings=settings,
        **kw,
    )
    for s in range(steps):
        row = {"loss": 1.0 / (s + 1)}
        if s % 10 == 0:
            row["acc"] = i * 0.1 + s / 1000
        run.log(row)
        if s % 97 == 0:
            run.flush()
    run.finish()
    return run.id


@pytest.fixture
def store(root: Path) -> tuple[Path, list[str]]:
    return root, [_log(root, i) for i in range(3)]


FILTERS = [
    ({"state": "finished"}, [0, 1, 2]),
    ({"config.lr": {"$lt": 0.005}}, [1, 2]),
    ({"config.opt.name": "sgd"}, [0]),
    ({"summary_metrics.acc": {"$gte": 0.38}}, [1, 2]),
    ({"tags": {"$in": ["base", "t2"]}}, [0, 2]),
    ({"tags": {"$nin": ["base"]}}, [1, 2]),
    ({"tags": "t1"}, [1]),
    ({"$or": [{"name": "r0"}, {"config.lr": {"$lte": 1e-4}}]}, [0, 2]),
    ({"$and": [{"tags": {"$in": ["new"]}}, {"config.lr": {"$gt": 1e-4}}]}, [1]),
    ({"$nor": [{"name": "r0"}]}, [1, 2]),
    ({"name": {"$regex": "^r[12]$"}}, [1, 2]),
    ({"config.missing": {"$exists": False}}, [0, 1, 2]),
    ({"config.opt": {"$exists": True}, "group": None}, [0, 1, 2]),
    ({"name": {"$ne": "r1"}}, [0, 2]),
    ({"created_at": {"$gt": "2000-01-01T00:00:00Z", "$lt": "2999-01-01"}}, [0, 1, 2]),
    ({"created_at": {"$lt": "2000-01-01"}}, []),
]


@pytest.mark.parametrize(("filters", "expected"), FILTERS)
def test_runs_filters_match_wandb_forms(
    store: tuple[Path, list[str]], filters: dict[str, Any], expected: list[int]
) -> None:
    root, ids = store
    found = localtrack.Api(root).runs("team/p", filters=filters)
    assert sorted(r.id for r in found) == sorted(ids[i] for i in expected)


def test_runs_order_by_summary_and_config(store: tuple[Path, list[str]]) -> None:
    root, ids = store
    api = localtrack.Api(root)
    assert [r.id for r in api.runs("team/p", order="-summary_metrics.acc")] == ids[::-1]
    assert [r.id for r in api.runs("team/p", order="+config.lr")] == ids[::-1]
    assert [r.id for r in api.runs("team/p", order="created_at")] == ids


BAD = [
    ({"config.lr": {"$gtt": 1}}, "'$gtt' on 'config.lr' (did you mean '$gt'?)"),
    ({"$nd": []}, "'$nd' (did you mean '$and'?)"),
    ({"stat": "finished"}, "'stat' (did you mean 'state'?)"),
    ({"$or": {"state": "x"}}, "$or needs a non-empty list"),
    ({"tags": {"$in": "best"}}, "tags.$in needs a list"),
    ({"created_at": {"$gt": "yesterday"}}, "created_at.$gt: 'yesterday' is not an ISO 8601"),
    ({"name": {"$regex": "("}}, "name.$regex"),
    ({"config.x": {"$exists": "yes"}}, "config.x.$exists needs true or false"),
]


@pytest.mark.parametrize(("filters", "message"), BAD)
def test_a_bad_filter_names_the_bad_part(root: Path, filters: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as err:
        localtrack.Api(root).runs(filters=filters)
    assert message in str(err.value)


def test_a_bad_order_names_the_field(root: Path) -> None:
    with pytest.raises(UsageError, match=r"'summary_metric\.acc'"):
        localtrack.Api(root).runs(order="-summary_metric.acc")


def test_history_is_a_dataframe_with_keys_samples_and_x_axis(
    store: tuple[Path, list[str]],
) -> None:
    root, ids = store
    run = localtrack.Api(root).run(f"team/p/{ids[1]}")
    df = run.history(keys=["acc"])
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["step", "wall_time", "acc"] and len(df) == 30
    assert len(run.history()) == 300
    sampled = run.history(keys=["acc"], samples=5)
    assert sampled["step"].tolist() == [0, 70, 140, 220, 290]
    by_acc = run.history(keys=["loss"], x_axis="acc", pandas=False)
    assert isinstance(by_acc, pa.Table) and by_acc.column_names[0] == "acc"
    assert by_acc.num_rows == 30
    with pytest.raises(UsageError, match="'nope' is not a key"):
        run.history(x_axis="nope")


def test_scan_history_streams_every_row_in_pages(store: tuple[Path, list[str]]) -> None:
    root, ids = store
    run = localtrack.Api(root).run(ids[0])
    rows = list(run.scan_history(page_size=7))
    assert [r["step"] for r in rows] == list(range(300))
    assert rows[10]["acc"] == pytest.approx(0.01) and "acc" not in rows[11]
    window = list(run.scan_history(keys=["acc"], page_size=3, min_step=50, max_step=120))
    assert [r["step"] for r in window] == list(range(50, 121, 10))
    assert set(window[0]) == {"step", "wall_time", "acc"}
    assert list(run.scan_history(min_step=1000)) == []


def test_scan_history_pages_are_bounded(store: tuple[Path, list[str]]) -> None:
    from localtrack.store.historypage import HistoryPager
    from localtrack.store.root import StoreRoot

    root, ids = store
    pager = HistoryPager(StoreRoot(root).run(ids[0]), ["loss"])
    page = pager.page(None, None, 25)
    assert page.table.num_rows == 25 and page.next_step == 25


def test_files_and_download(store: tuple[Path, list[str]], tmp_path: Path) -> None:
    root, ids = store
    files_dir = root / "runs" / ids[0] / "files"
    (files_dir / "sub").mkdir(parents=True, exist_ok=True)
    (files_dir / "notes.txt").write_text("hello")
    (files_dir / "sub" / "deep.txt").write_text("deep")
    (files_dir / ".partial.tmp").write_text("x")
    run = localtrack.Api(root).run(ids[0])
    names = [f.name for f in run.files()]
    assert "notes.txt" in names and "sub/deep.txt" in names and ".partial.tmp" not in names
    path = run.file("sub/deep.txt").download(tmp_path / "out")
    assert path.read_text() == "deep"
    with pytest.raises(UsageError, match="exists"):
        run.file("sub/deep.txt").download(tmp_path / "out")
    assert run.file("notes.txt").download(tmp_path / "out", exist_ok=True).exists()
    with pytest.raises(UsageError, match="no file"):
        run.file("../run.json")
    # a file list from a hostile server cannot make download() write outside its root
    for name in ("../escaped.txt", "sub/../../escaped.txt", "/tmp/escaped.txt"):
        hostile = File(run._backend, run.id, FileInfo(name, 5, None))
        with pytest.raises(UsageError, match="not a name inside files/"):
            hostile.download(tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()


def test_update_writes_run_json_and_the_index(store: tuple[Path, list[str]]) -> None:
    root, ids = store
    run = localtrack.Api(root).run(ids[0])
    run.tags.append("best")
    run.notes = "checked"
    run.config["lr"] = 0.5
    run.summary["final"] = 1.5
    del run.summary["loss"]
    run.update()
    meta = json.loads((root / "runs" / ids[0] / "run.json").read_text())
    assert meta["tags"] == ["base", "best"] and meta["notes"] == "checked"
    assert meta["summary_overrides"] == {"final": 1.5} and meta["summary_deleted"] == ["loss"]
    again = localtrack.Api(root).run(ids[0])
    assert again.tags == ["base", "best"] and again.config["lr"] == 0.5
    assert again.summary["final"] == 1.5 and "loss" not in again.summary
    assert localtrack.Api(root).runs("team/p", filters={"tags": "best"})[0].id == ids[0]
    assert not list((root / "runs" / ids[0]).glob(".*tmp"))


def test_update_refuses_a_bad_value_and_leaves_run_json(store: tuple[Path, list[str]]) -> None:
    root, ids = store
    before = (root / "runs" / ids[0] / "run.json").read_bytes()
    run = localtrack.Api(root).run(ids[0])
    run.tags = ["ok", ""]
    with pytest.raises(UsageError, match="tags"):
        run.update()
    assert (root / "runs" / ids[0] / "run.json").read_bytes() == before


def test_update_refuses_a_live_run(root: Path) -> None:
    live = localtrack.init(project="p", dir=root, settings=localtrack.Settings(**QUIET))
    try:
        run = localtrack.Api(root).run(live.id)
        run.notes = "x"
        with pytest.raises(StoreError, match="live process"):
            run.update()
    finally:
        live.finish()


def test_delete_removes_the_run_and_its_index_rows(store: tuple[Path, list[str]]) -> None:
    root, ids = store
    localtrack.Api(root).run(ids[1]).delete()
    assert not (root / "runs" / ids[1]).exists()
    assert not [p for p in (root / "runs").iterdir() if p.name.startswith(".")]
    api = localtrack.Api(root)
    assert sorted(r.id for r in api.runs()) == sorted([ids[0], ids[2]])
    with pytest.raises(RunNotFoundError):
        api.run(ids[1])
