"""import-from mlflow: runs written by the real mlflow client (file store and SQLite), compared
point by point with MLflow's own get_metric_history."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from localtrack.importers import import_from
from localtrack.store.reader import StoreReader

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402


@pytest.fixture
def file_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # what MLflow 3 asks of file stores
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = (tmp_path / "mlruns").as_uri()
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(None)


def _theirs(uri: str, run_id: str) -> dict[str, list[tuple[int, int, float]]]:
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    return {
        key: [(m.step, m.timestamp * 1000, m.value) for m in client.get_metric_history(run_id, key)]
        for key in run.data.metrics
    }


def _ours(root: Path, run_id: str) -> dict[str, list[tuple[int, int, float]]]:
    table = StoreReader(root).long_table(run_id)
    out: dict[str, list[tuple[int, int, float]]] = {}
    for step, key, value, wall in zip(
        table.column("step").to_pylist(),
        table.column("key").to_pylist(),
        table.column("value").to_pylist(),
        table.column("wall_time").cast(pa.int64()).to_pylist(),
        strict=True,
    ):
        out.setdefault(key, []).append((step, wall, value))
    return out


def _sorted(points: dict[str, list[tuple[int, int, float]]]) -> dict[str, list]:
    return {k: sorted(v) for k, v in points.items()}


def test_a_file_store_imports_with_every_point_params_tags_nesting_and_artifacts(
    file_store: str, tmp_path: Path
) -> None:
    mlflow.set_experiment("vision/resnet")
    model = tmp_path / "model"
    model.mkdir()
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "weights.bin").write_bytes(b"\x00\x01" * 100)
    with mlflow.start_run(run_name="sweep") as parent:
        mlflow.log_params({"lr": 0.01, "depth": 18})
        mlflow.set_tags({"team": "vision", "mlflow.note.content": "baseline"})
        for step in range(30):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            mlflow.log_metric("lr_now", 0.01 * 0.9**step, step=step)
        mlflow.log_artifacts(str(model), artifact_path="model")
        with mlflow.start_run(run_name="trial-1", nested=True) as child:
            mlflow.log_metric("acc", 0.75, step=0)
    root = tmp_path / "store"

    report = import_from("mlflow", tmp_path / "mlruns", dir=root)
    by_name = {r.name: r for r in report.runs}
    assert sorted(by_name) == ["sweep", "trial-1"]
    assert [by_name["sweep"].new_points, by_name["trial-1"].new_points] == [60, 1]
    reader = StoreReader(root)
    sweep = reader.run(by_name["sweep"].run_id)
    assert (sweep.project, sweep.state, sweep.notes) == ("vision-resnet", "finished", "baseline")
    assert sweep.config == {"lr": "0.01", "depth": "18"}
    assert "team=vision" in sweep.tags
    assert sweep.group == reader.run(by_name["trial-1"].run_id).group == "sweep"
    for source_id, run in ((parent.info.run_id, sweep), (child.info.run_id, None)):
        local = run.id if run else by_name["trial-1"].run_id
        assert _sorted(_ours(root, local)) == _sorted(_theirs(file_store, source_id))
    (version,) = reader_artifacts(root, sweep.id)
    assert version["type"] == "model" and version["files"] == {"model/MLmodel", "model/weights.bin"}

    again = import_from("mlflow", tmp_path / "mlruns", dir=root)
    assert sorted((r.status, r.new_points, r.new_artifacts) for r in again.runs) == [
        ("unchanged", 0, 0),
        ("unchanged", 0, 0),
    ]
    with mlflow.start_run(run_id=parent.info.run_id):  # the run goes on: 5 more points
        for step in range(30, 35):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    later = import_from("mlflow", tmp_path / "mlruns", dir=root)
    assert sorted((r.name, r.status, r.new_points) for r in later.runs) == [
        ("sweep", "updated", 5),
        ("trial-1", "unchanged", 0),
    ]
    assert _sorted(_ours(root, sweep.id)) == _sorted(_theirs(file_store, parent.info.run_id))


def reader_artifacts(root: Path, run_id: str) -> list[dict]:
    from localtrack.store.artifacts.repository import ArtifactRepository

    repo = ArtifactRepository(root)
    out = []
    for project, name in repo.collections():
        manifest, _ = repo.resolve(project, name, "latest")
        if manifest.run_id == run_id:
            out.append({"type": manifest.type, "files": set(manifest.entries)})
    return out


# MLflow's SQLite store uses an SQLAlchemy option that SQLAlchemy 2.1 deprecates (not ours).
@pytest.mark.filterwarnings("ignore::DeprecationWarning:sqlalchemy")
@pytest.mark.filterwarnings("ignore::DeprecationWarning:mlflow")
def test_an_sqlite_store_imports_every_point(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("tabular", artifact_location=str(tmp_path / "art"))
    run = client.create_run(experiment, run_name="xgb")
    for step in range(25):
        client.log_metric(
            run.info.run_id, "auc", 0.5 + step / 100, timestamp=1_700_000_000_000 + step, step=step
        )
    client.set_terminated(run.info.run_id, status="FAILED")
    root = tmp_path / "store"

    report = import_from("mlflow", uri, dir=root)
    (imported,) = report.runs
    assert (imported.project, imported.new_points) == ("tabular", 25)
    assert StoreReader(root).run(imported.run_id).state == "failed"
    assert _ours(root, imported.run_id) == _theirs(uri, run.info.run_id)
    assert import_from("mlflow", uri, dir=root).runs[0].status == "unchanged"


def test_export_to_mlflow_round_trips_every_point_and_exporting_again_adds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    import localtrack
    from localtrack.cli import cli

    root = tmp_path / "store"
    run = localtrack.init(
        project="rt",
        dir=root,
        config={"lr": 0.1, "net": {"depth": 3}},
        tags=["keep"],
        settings={"system_metrics": False},
    )
    for step in range(0, 90, 3):
        run.log({"loss": 1 / (step + 3), "acc": step / 91}, step=step)
    run.finish()
    out = tmp_path / "mlruns"
    args = ["export-to", "mlflow", "--all", "--dir", str(root), "--to", str(out)]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0 and "wrote 1 run (60 points, 0 media items" in first.output, (
        first.output
    )
    again = CliRunner().invoke(cli, args)
    assert "wrote 0 runs" in again.output and "1 were there already" in again.output

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(out.as_uri())
    (exported,) = client.search_runs([client.get_experiment_by_name("rt").experiment_id])
    assert exported.data.params == {"lr": "0.1", "net/depth": "3"}
    original = _ours(root, run.id)
    theirs = _theirs(out.as_uri(), exported.info.run_id)
    ms = {k: [(s, w // 1000 * 1000, v) for s, w, v in pts] for k, pts in original.items()}
    assert _sorted(theirs) == _sorted(ms)  # steps and values exact, times to the millisecond

    back = import_from("mlflow", out, dir=tmp_path / "back")
    assert _sorted(_ours(tmp_path / "back", back.runs[0].run_id)) == _sorted(ms)


def test_export_to_mlflow_carries_media_files_and_artifacts_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib
    import json

    from click.testing import CliRunner

    from localtrack.cli import cli
    from localtrack.exporters.runcontent import logged_artifacts, media_files, run_files

    from .rich_run import log_rich_run

    root = tmp_path / "store"
    run_id = log_rich_run(root, tmp_path)
    out = tmp_path / "mlruns"
    args = ["export-to", "mlflow", run_id, "--dir", str(root), "--to", str(out)]
    result = CliRunner().invoke(cli, args)
    saved = run_files(StoreReader(root), run_id)  # output.log, requirements.txt, notes.txt...
    assert result.exit_code == 0, result.output
    assert f"10 media items, {len(saved)} files, 1 artifact version" in result.output

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(out.as_uri())
    (exported,) = client.search_runs([client.get_experiment_by_name("rich").experiment_id])
    got = Path(client.download_artifacts(exported.info.run_id, "", str(tmp_path / "got")))
    theirs = {p.relative_to(got).as_posix(): p.read_bytes() for p in got.rglob("*") if p.is_file()}
    reader = StoreReader(root)
    expected = {}
    for media in media_files(reader, run_id):
        if media.path is not None:
            expected[media.name] = media.path.read_bytes()
    expected.update({f"files/{n}": p.read_bytes() for n, p in saved})
    assert {"files/notes.txt", "files/output.log"} <= set(expected)
    assert {k: theirs[k] for k in expected} == expected  # every stored file, byte for byte
    histogram = json.loads(theirs["media/weights/step-12.json"])
    assert histogram["counts"] == [3, 3, 3, 3] and len(histogram["edges"]) == 5
    (manifest,) = logged_artifacts(root, run_id)
    weights = theirs["artifacts/net/v0/weights.bin"]
    assert hashlib.sha256(weights).hexdigest() == manifest.entries["weights.bin"].sha256
    assert len(theirs) == len(expected) + 3  # the histogram, the artifact's file, the index

    back = import_from("mlflow", out, dir=tmp_path / "back")
    (imported,) = back.runs
    assert (imported.new_media, imported.new_artifacts, dict(back.unmapped)) == (10, 1, {})
    again = StoreReader(tmp_path / "back")

    def media(reader: StoreReader, rid: str) -> list:
        return sorted(
            (m.key, m.index, m.step, m.wall_time, m.type, m.caption, m.sha256, m.counts)
            for m in reader.media(rid)
        )

    assert media(again, imported.run_id) == media(reader, run_id)  # every item, its bytes
    for name, path in saved:
        copy = again.run_file(imported.run_id, name)
        assert copy is not None and copy.read_bytes() == path.read_bytes()
    assert reader_artifacts(tmp_path / "back", imported.run_id) == [
        {"type": "model", "files": {"weights.bin"}}  # the version itself, not MLflow's folder
    ]
    info = again.run(imported.run_id)
    assert (set(info.tags), info.group) == ({"media", "v2"}, "exports")


def test_a_damaged_mlflow_run_is_reported_and_the_others_import(
    file_store: str, tmp_path: Path
) -> None:
    mlflow.set_experiment("damaged")
    ids = []
    for name in ("good", "bad"):
        with mlflow.start_run(run_name=name) as run:
            for step in range(10):
                mlflow.log_metric("loss", step / 10, step=step)
        ids.append(run.info.run_id)
    (metric_file,) = (tmp_path / "mlruns").glob(f"*/{ids[1]}/metrics/loss")
    metric_file.write_text("not a metric line\n")

    report = import_from("mlflow", tmp_path / "mlruns", dir=tmp_path / "store")
    assert [(r.name, r.new_points) for r in report.runs] == [("good", 10)]
    assert len(report.damage) == 1 and ids[1] in report.damage[0]
