"""import-from wandb: offline runs written by the real wandb package (WANDB_MODE=offline, no
network), compared with what the script logged."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from localtrack.importers import import_from
from localtrack.store.reader import StoreReader

from .store_fixtures import metric_points

wandb = pytest.importorskip("wandb")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "data"))  # where artifacts are staged
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "wandb"


def _log_run(steps: int) -> tuple[str, dict[str, list[tuple[int, float]]], float, float]:
    rng = np.random.default_rng(1)
    logged: dict[str, list[tuple[int, float]]] = {"loss": [], "eval/acc": []}
    started = time.time()
    run = wandb.init(
        project="vision",
        config={"lr": 0.001, "layers": [64, 64]},
        tags=["baseline"],
        notes="first try",
        group="sweep-1",
        job_type="train",
    )
    for step in range(steps):
        loss = float(rng.standard_normal())
        row: dict = {"loss": loss}
        logged["loss"].append((step, loss))
        if step % 4 == 0:
            acc = float(rng.random())
            row["eval"] = {"acc": acc}
            logged["eval/acc"].append((step, acc))
        run.log(row, step=step)
    run.log({"sample": wandb.Image(np.zeros((6, 5, 3), dtype=np.uint8))}, step=steps)
    run.log(
        {"weights": wandb.Histogram(np_histogram=([1, 2, 3], [0.0, 1.0, 2.0, 3.0]))}, step=steps
    )
    run.log({"preds": wandb.Table(columns=["id", "label"], data=[[1, "cat"], [2, "dog"]])})
    weights = Path(os.environ["WANDB_DIR"]) / "weights.bin"
    weights.write_bytes(b"\x01\x02" * 64)
    model = wandb.Artifact("resnet-weights", type="model")
    model.add_file(str(weights))
    run.log_artifact(model)
    run.summary["best_acc"] = 0.97
    print("hello from the training script")
    run_id = run.id
    run.finish()
    wandb.teardown()  # so the next test's WANDB_DIR is read again
    return run_id, logged, started, time.time()


def test_an_offline_run_imports_with_every_point_its_metadata_media_and_console(
    offline: Path, tmp_path: Path
) -> None:
    wandb_id, logged, started, ended = _log_run(40)
    root = tmp_path / "store"

    report = import_from("wandb", offline, dir=root)
    (run,) = report.runs
    assert (run.status, run.source_id, run.project) == ("new", f"vision/{wandb_id}", "vision")
    assert (
        metric_points(root, run.run_id, skip="system/") == logged
    )  # every point, its step, the exact value
    reader = StoreReader(root)
    info = reader.run(run.run_id)
    assert (info.state, info.notes, info.group, info.job_type) == (
        "finished",
        "first try",
        "sweep-1",
        "train",
    )
    assert info.tags == ("baseline",) and info.config == {"lr": 0.001, "layers": [64, 64]}
    assert info.summary["best_acc"] == 0.97
    walls = reader.long_table(run.run_id, ["loss"]).column("wall_time").to_pylist()
    assert all(started - 1 <= w.timestamp() <= ended + 1 for w in walls)
    media = {m.key: m for m in reader.media(run.run_id)}
    assert (media["sample"].type, media["sample"].width, media["sample"].height) == ("image", 5, 6)
    assert list(media["weights"].counts) == [1, 2, 3]
    assert reader.table_page(run.run_id, "preds").rows == [[1, "cat"], [2, "dog"]]
    assert run.new_artifacts == 1
    from localtrack.store.artifacts.repository import ArtifactRepository

    manifest, _ = ArtifactRepository(root).resolve("vision", "resnet-weights", "latest")
    assert (manifest.type, manifest.run_id, list(manifest.entries)) == (
        "model",
        run.run_id,
        ["weights.bin"],
    )
    console = reader.run_file(run.run_id, "output.log")
    assert console is not None and "hello from the training script" in console.read_text()

    again = import_from("wandb", offline, dir=root)
    assert [(r.status, r.new_points, r.new_artifacts) for r in again.runs] == [("unchanged", 0, 0)]


def test_a_truncated_run_log_imports_its_whole_records_and_says_so(
    offline: Path, tmp_path: Path
) -> None:
    _, logged, _, _ = _log_run(200)
    (log_file,) = offline.glob("offline-run-*/run-*.wandb")
    data = log_file.read_bytes()
    log_file.write_bytes(data[: len(data) // 2])

    report = import_from("wandb", offline, dir=tmp_path / "store")
    (run,) = report.runs
    assert len(report.damage) == 1 and "bytes were skipped" in report.damage[0]
    ours = metric_points(tmp_path / "store", run.run_id, skip="system/")["loss"]
    assert 0 < len(ours) < 200 and ours == logged["loss"][: len(ours)]
    assert StoreReader(tmp_path / "store").run(run.run_id).state == "crashed"


def test_export_to_wandb_replays_runs_that_import_back_with_every_point(
    offline: Path, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    import localtrack
    from localtrack.cli import cli

    root = tmp_path / "store"
    run = localtrack.init(
        project="rt", dir=root, config={"lr": 0.5}, tags=["x"], settings={"system_metrics": False}
    )
    for step in range(0, 30, 3):
        run.log({"loss": 1 / (step + 7), "eval": {"acc": step / 31}}, step=step)
    run.log({"w": localtrack.Histogram(np.arange(12.0), num_bins=4)}, step=30)
    run.finish()
    out = tmp_path / "export"
    args = ["export-to", "wandb", run.id, "--dir", str(root), "--to", str(out)]
    result = CliRunner().invoke(cli, args)
    assert (
        result.exit_code == 0
        and "wrote 1 W&B offline run (20 points, 1 media item" in result.output
    )
    wandb.teardown()
    again = CliRunner().invoke(cli, args)
    assert "wrote 0 W&B offline runs" in again.output and "1 were there already" in again.output

    back = import_from("wandb", out / "wandb", dir=tmp_path / "back")
    (imported,) = back.runs
    assert imported.source_id == f"rt/{run.id}"
    assert metric_points(tmp_path / "back", imported.run_id, skip="system/") == metric_points(
        root, run.id, skip="system/"
    )
    reader = StoreReader(tmp_path / "back")
    assert reader.run(imported.run_id).config == {"lr": 0.5}
    (hist,) = reader.media(imported.run_id)
    assert list(hist.counts) == [3, 3, 3, 3]


def _inspect(run_log: Path) -> list[dict]:
    """The records of a .wandb log as W&B's own reader (wandb-core's `leet inspect`) gives them."""
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(run_log)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_export_to_wandb_carries_every_media_kind_files_and_artifacts(
    offline: Path, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from localtrack.cli import cli

    from .rich_run import log_rich_run

    root = tmp_path / "store"
    run_id = log_rich_run(root, tmp_path)
    out = tmp_path / "export"
    args = ["export-to", "wandb", run_id, "--dir", str(root), "--to", str(out)]
    result = CliRunner().invoke(cli, args)
    wandb.teardown()
    assert result.exit_code == 0, result.output
    assert "(4 points, 10 media items, " in result.output and "1 artifact version)" in result.output
    assert "not exported" not in result.output

    (run_log,) = out.glob("wandb/offline-run-*/run-*.wandb")
    records = _inspect(run_log)
    history = [r["history"]["item"] for r in records if r["type"] == "history"]
    assert [(h["_step"], h["loss"]) for h in history if "loss" in h] == metric_points(
        root, run_id, skip="system/"
    )["loss"]
    (media_row,) = [h for h in history if "sample._type" in h]  # nested keys joined by "."
    assert {k[: -len("._type")]: v for k, v in media_row.items() if k.endswith("._type")} == {
        "sample": "image-file",
        "gallery": "images/separated",
        "weights": "histogram",
        "preds": "table-file",
        "voice": "audio-file",
        "clip": "video-file",
        "page": "html-file",
        "fig": "plotly-file",
        "cloud": "object3D-file",
    }
    artifacts = {
        r["artifact"]["name"]: r["artifact"]["type"] for r in records if r["type"] == "artifact"
    }
    assert artifacts["net"] == "model"

    back = import_from("wandb", out / "wandb", dir=tmp_path / "back")
    (imported,) = back.runs
    assert dict(back.unmapped) == {} and imported.new_artifacts == 1
    assert metric_points(tmp_path / "back", imported.run_id, skip="system/") == metric_points(
        root, run_id, skip="system/"
    )
    ours, theirs = StoreReader(root), StoreReader(tmp_path / "back")

    def media(reader: StoreReader, rid: str) -> dict:
        return {
            (m.key, m.index): (m.type, m.step, m.count, m.caption, m.counts, m.points,
                               None if m.type in ("table", "plotly") else m.sha256)
            for m in reader.media(rid)
        }  # fmt: skip

    assert media(theirs, imported.run_id) == media(ours, run_id)  # the same bytes, every kind
    assert theirs.table_page(imported.run_id, "preds").rows == [[1, "cat"], [2, "dog"]]
    figures = [
        json.loads(r.media_file(rid, f.rsplit("/", 1)[-1]).read_text())["data"]
        for r, rid in ((ours, run_id), (theirs, imported.run_id))
        for f in [m.file for m in r.media(rid) if m.key == "fig"]
    ]
    assert figures[0] == figures[1]  # the same traces (plotly re-serialises the figure)
    for name in ("notes.txt", "output.log"):
        saved = theirs.run_file(imported.run_id, name)
        assert saved is not None and saved.read_bytes() == ours.run_file(run_id, name).read_bytes()
