"""import-from tensorboard: event files written by tensorboardX's SummaryWriter (not PyTorch's),
compared with TensorBoard's own reader (EventAccumulator) point by point and item by item."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from localtrack.importers import import_from
from localtrack.store.reader import StoreReader

from .test_import_tensorboard import EventAccumulator, _our_points, _tb_points

tensorboardX = pytest.importorskip("tensorboardX")


def _write(logs: Path) -> None:
    writer = tensorboardX.SummaryWriter(str(logs / "run"))
    rng = np.random.default_rng(3)
    for step in range(30):
        writer.add_scalar("loss", float(rng.standard_normal()), step)
        if step % 5 == 0:
            writer.add_scalar("acc/top1", float(rng.random()), step)
            writer.add_scalars("pair", {"train": step / 3, "eval": step / 7}, step)
    writer.add_histogram("weights", rng.standard_normal(200), 3)
    writer.add_histogram("small", np.arange(10.0), 3, bins=4)
    writer.add_image("sample", np.full((3, 6, 4), 0.5), 3)
    writer.add_text("notes", "first *text*", 5)
    writer.close()


def test_a_tensorboardx_log_imports_every_point_and_item_and_reimport_adds_nothing(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    _write(logs)
    root = tmp_path / "store"

    report = import_from("tensorboard", logs, dir=root)
    runs = {r.name: r for r in report.runs}
    # add_scalars writes one folder per key, its event file named like the main one (second
    # and host only): three runs, not one
    assert set(runs) == {"run", "run/pair/train", "run/pair/eval"}
    assert len({r.run_id for r in report.runs}) == 3
    for name, run in runs.items():
        assert run.status == "new"
        assert _our_points(root, run.run_id) == _tb_points(logs / name)  # every point, exactly
    assert [len(v) for v in _tb_points(logs / "run/pair/train").values()] == [6]

    reader = StoreReader(root)
    run_id = runs["run"].run_id
    theirs = EventAccumulator(str(logs / "run"), size_guidance={"histograms": 0, "images": 0})
    theirs.Reload()
    media = {m.key: m for m in reader.media(run_id)}
    assert sorted(media) == ["notes/text_summary", "sample", "small", "weights"]
    for key in ("weights", "small"):
        (event,) = theirs.Histograms(key)
        assert (media[key].step, sum(media[key].counts)) == (event.step, event.histogram_value.num)
    assert list(media["small"].counts) == [
        c for c in theirs.Histograms("small")[0].histogram_value.bucket if c
    ]
    (image,) = theirs.Images("sample")
    stored = reader.media_file(run_id, media["sample"].file.rsplit("/", 1)[-1])
    assert stored is not None
    assert (
        hashlib.sha256(stored.read_bytes()).digest()
        == hashlib.sha256(image.encoded_image_string).digest()
    )  # the PNG as tensorboardX wrote it
    assert (media["sample"].width, media["sample"].height) == (image.width, image.height)
    assert reader.table_page(run_id, "notes/text_summary", 5).rows == [["first *text*"]]

    again = import_from("tensorboard", logs, dir=root)
    assert [(r.status, r.new_points, r.new_media) for r in again.runs] == [("unchanged", 0, 0)] * 3
