"""import-from tensorboard: event files written by PyTorch's real SummaryWriter, compared point by
point with TensorBoard's own reader (EventAccumulator)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from localtrack.cli import cli
from localtrack.importers import import_from
from localtrack.store.reader import StoreReader

SummaryWriter = pytest.importorskip("torch.utils.tensorboard").SummaryWriter
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)


def _write(folder: Path, steps: range) -> None:
    writer = SummaryWriter(str(folder))
    rng = np.random.default_rng(steps.start)
    for step in steps:
        writer.add_scalar("loss", float(rng.standard_normal()), step)
        if step % 5 == 0:
            writer.add_scalar("acc/top1", float(rng.random()), step)
    writer.close()


def _tb_points(folder: Path) -> dict[str, list[tuple[int, int, float]]]:
    """TensorBoard's own reading: per tag, (step, wall µs, value)."""
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {
        tag: [(e.step, int(e.wall_time * 1e6), e.value) for e in acc.Scalars(tag)]
        for tag in acc.Tags()["scalars"]
    }


def _our_points(root: Path, run_id: str) -> dict[str, list[tuple[int, int, float]]]:
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


def test_every_scalar_arrives_as_tensorboard_reads_it_and_reimport_adds_nothing(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    _write(logs / "resnet", range(40))
    root = tmp_path / "store"

    report = import_from("tensorboard", logs, dir=root)
    (run,) = report.runs
    assert (run.status, run.name, run.project, run.new_points) == ("new", "resnet", "logs", 48)
    expected = _tb_points(logs / "resnet")
    assert _our_points(root, run.run_id) == expected  # steps, µs wall times, exact values

    again = import_from("tensorboard", logs, dir=root)
    assert [(r.status, r.new_points) for r in again.runs] == [("unchanged", 0)]

    _write(logs / "resnet", range(40, 50))  # training resumed: a second event file
    later = import_from("tensorboard", logs, dir=root)
    assert [(r.run_id, r.status, r.new_points) for r in later.runs] == [(run.run_id, "updated", 12)]
    assert _our_points(root, run.run_id) == _tb_points(logs / "resnet")


def test_a_run_imported_under_the_older_identity_is_continued_not_imported_twice(
    tmp_path: Path,
) -> None:
    """Stores that imported a log before runs were told apart by folder name too (2026-11-30)
    hold it under the first event file's name alone: importing again must add to that run."""
    from localtrack.importers import tensorboard
    from localtrack.importers.publish import publish, run_id_for
    from localtrack.store.ingest.importer import Ingest

    logs = tmp_path / "logs"
    _write(logs / "resnet", range(40))
    root = tmp_path / "store"
    older = tensorboard.read_run(logs / "resnet", "resnet", "logs")
    first_file = tensorboard.event_files(logs / "resnet")[0].name
    older.source_id, older.earlier_ids = first_file, ()  # what the older importer recorded
    ingest = Ingest(root).create()
    try:
        assert publish(ingest, older).status == "new"
    finally:
        ingest.close()

    _write(logs / "resnet", range(40, 50))
    report = import_from("tensorboard", logs, dir=root)
    assert [(r.run_id, r.status, r.new_points) for r in report.runs] == [
        (run_id_for("tensorboard", first_file), "updated", 12)
    ]
    assert [r.id for r in StoreReader(root).runs()] == [run_id_for("tensorboard", first_file)]
    assert _our_points(root, report.runs[0].run_id) == _tb_points(logs / "resnet")


def test_histograms_images_text_and_hparams_arrive(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    writer = SummaryWriter(str(logs / "run"))
    values = np.random.default_rng(0).standard_normal(1000)
    writer.add_histogram("weights", values, 3)
    writer.add_histogram("small", np.arange(10.0), 3, bins=4)
    writer.add_image("sample", np.full((3, 6, 4), 0.5), 3)
    writer.add_images("batch", np.zeros((2, 3, 5, 5)), 4)
    writer.add_text("notes", "first *text*", 5)
    writer.add_hparams({"lr": 0.01, "opt": "adam"}, {"hp/score": 0.9})
    writer.close()
    root = tmp_path / "store"

    report = import_from("tensorboard", logs, dir=root)
    by_name = {r.name: r for r in report.runs}
    assert set(by_name) == {"run", next(n for n in by_name if n.startswith("run/"))}
    reader = StoreReader(root)
    media = reader.media(by_name["run"].run_id)
    kinds = sorted((m.key, m.type, m.step) for m in media)
    assert kinds == [
        ("batch", "image", 4),  # PyTorch writes a batch as one grid image
        ("notes/text_summary", "table", 5),
        ("sample", "image", 3),
        ("small", "histogram", 3),
        ("weights", "histogram", 3),
    ]
    weights = next(m for m in media if m.key == "weights")
    assert sum(weights.counts) == 1000 and len(weights.edges) == len(weights.counts) + 1
    small = next(m for m in media if m.key == "small")
    assert list(small.counts) == [3.0, 2.0, 2.0, 3.0]
    sample = next(m for m in media if m.key == "sample")
    assert (sample.width, sample.height) == (4, 6)
    assert reader.table_page(by_name["run"].run_id, "notes/text_summary", 5).rows == [
        ["first *text*"]
    ]
    hp = next(r for n, r in by_name.items() if n != "run")
    assert reader.run(hp.run_id).config == {"lr": 0.01, "opt": "adam"}
    assert reader.history(hp.run_id).to_pydict()["hp/score"] == [pytest.approx(0.9)]
    assert import_from("tensorboard", logs, dir=root).runs[0].status == "unchanged"


def test_a_corrupt_event_file_imports_its_readable_records_and_says_so(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    _write(logs / "r", range(100))
    (event_file,) = (logs / "r").iterdir()
    data = bytearray(event_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    event_file.write_bytes(bytes(data))
    root = tmp_path / "store"

    result = CliRunner().invoke(cli, ["import-from", "tensorboard", str(logs), "--dir", str(root)])
    assert result.exit_code == 0, result.output
    assert "damaged, skipped:" in result.output and "truncated or corrupt" in result.output
    run_id = StoreReader(root).runs()[0].id
    readable = _tb_points(logs / "r")
    assert 0 < sum(map(len, readable.values())) < 120
    assert _our_points(root, run_id) == readable


def test_sync_tensorboard_mirrors_a_live_summary_writer_into_the_run(tmp_path: Path) -> None:
    import time

    import localtrack

    root, logs = tmp_path / "store", tmp_path / "logs" / "live"
    original_init = SummaryWriter.__init__
    run = localtrack.init(project="tb", dir=root, sync_tensorboard=True)
    writer = SummaryWriter(str(logs))
    step, seen, deadline = 0, 0, time.monotonic() + 120
    while seen < 20 and time.monotonic() < deadline:  # rows arrive while it trains
        writer.add_scalar("loss", 1.0 / (step + 1), step)
        step += 1
        if step % 10 == 0:
            writer.flush()
        seen = StoreReader(root).long_table(run.id, ["loss"]).num_rows
        time.sleep(0.02)
    assert seen >= 20
    writer.add_scalars("pair", {"a": 1.0, "b": 2.0}, step)  # written to sub-folders
    for later in range(step, step + 15):  # never flushed by the script: finish() does it
        writer.add_scalar("loss", 0.5, later)
    run.finish()
    assert SummaryWriter.__init__ is original_init  # the wrapping ends with the run

    ours = _our_points(root, run.id)
    assert ours["loss"] == _tb_points(logs)["loss"]
    assert len(ours["loss"]) == step + 15
    assert ours["pair_a/pair"] == _tb_points(logs / "pair_a")["pair"]
    assert ours["pair_b/pair"] == _tb_points(logs / "pair_b")["pair"]


def test_sync_tensorboard_with_a_folder_reads_the_event_files_below_it(tmp_path: Path) -> None:
    import localtrack

    logs = tmp_path / "logs"
    _write(logs / "train", range(12))
    run = localtrack.init(project="tb", dir=tmp_path / "store", sync_tensorboard=logs)
    run.log({"own": 1.0})
    run.finish()
    ours = _our_points(tmp_path / "store", run.id)
    theirs = _tb_points(logs / "train")
    assert ours["train/loss"] == theirs["loss"] and ours["train/acc/top1"] == theirs["acc/top1"]


def test_export_to_tensorboard_round_trips_every_point_through_tensorboards_reader(
    tmp_path: Path,
) -> None:
    from tensorboard.util import tensor_util

    import localtrack

    root = tmp_path / "store"
    run = localtrack.init(project="rt", dir=root, settings={"system_metrics": False})
    rng = np.random.default_rng(3)
    for step in range(0, 60, 2):
        run.log({"loss": float(rng.standard_normal()) / 3, "lr": 1e-3 * 0.97**step}, step=step)
    run.log({"w": localtrack.Histogram(np.arange(20.0), num_bins=5)}, step=60)
    run.log({"img": localtrack.Image(np.full((4, 7, 3), 200, np.uint8))}, step=60)
    run.log({"said": localtrack.Table(columns=["text"], data=[["first *line*"], ["second"]])})
    run.finish()
    out = tmp_path / "tb"

    result = CliRunner().invoke(
        cli, ["export-to", "tensorboard", run.id, "--dir", str(root), "--to", str(out)]
    )
    assert result.exit_code == 0, result.output
    folder = out / "rt" / run.id
    acc = EventAccumulator(str(folder), size_guidance={"tensors": 0, "images": 0})
    acc.Reload()
    original = _our_points(root, run.id)
    seen = {
        tag: [(e.step, tensor_util.make_ndarray(e.tensor_proto).item()) for e in acc.Tensors(tag)]
        for tag in ("loss", "lr")
    }
    assert seen == {k: [(s, v) for s, _, v in original[k]] for k in ("loss", "lr")}

    back = import_from("tensorboard", out, dir=tmp_path / "back")
    (imported,) = back.runs
    assert _our_points(tmp_path / "back", imported.run_id) == original  # steps, µs, exact values
    media = {m.key: m for m in StoreReader(tmp_path / "back").media(imported.run_id)}
    before = {m.key: m for m in StoreReader(root).media(run.id)}
    assert media["img"].sha256 == before["img"].sha256
    assert media["w"].counts == before["w"].counts and media["w"].edges == before["w"].edges
    (text,) = acc.Tensors("said")  # TensorBoard's text plugin shows it
    assert [t.decode() for t in tensor_util.make_ndarray(text.tensor_proto)] == [
        "first *line*",
        "second",
    ]
    rows = StoreReader(tmp_path / "back").table_page(imported.run_id, "said").rows
    assert rows == [["first *line*"], ["second"]]


def test_sync_tensorboard_without_tensorboard_names_the_extra_and_leaves_no_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    import localtrack
    from localtrack.errors import UsageError

    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(UsageError, match=r"pip install 'localtrack\[tensorboard\]'"):
        localtrack.init(project="tb", dir=tmp_path / "store", sync_tensorboard=True)
    assert not list((tmp_path / "store" / "runs").glob("*/run.json"))
