"""Images, tables and histograms: logged like W&B, stored plainly, read back exactly."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import localtrack
from localtrack.media.png import encode_png
from localtrack.store.reader import StoreReader


def _run(root: Path, **kw):
    return localtrack.init(project="p", dir=root, settings=localtrack.Settings(console=False, **kw))


def _decode_png(data: bytes) -> np.ndarray:
    from PIL import Image as PILImage

    return np.asarray(PILImage.open(io.BytesIO(data)))


@pytest.mark.parametrize(
    ("array", "expected_shape"),
    [
        (np.arange(12, dtype=np.uint8).reshape(3, 4), (3, 4)),
        (np.zeros((5, 6, 3), dtype=np.uint8) + 200, (5, 6, 3)),
        (np.ones((5, 6, 4), dtype=np.uint8), (5, 6, 4)),
        (np.full((3, 8, 9), 0.5), (8, 9, 3)),  # CHW float in [0, 1]
    ],
)
def test_image_from_arrays_round_trips_as_png(
    root: Path, array: np.ndarray, expected_shape
) -> None:
    run = _run(root)
    run.log({"img": localtrack.Image(array, caption="hello")})
    run.finish()
    reader = StoreReader(root)
    [item] = reader.media(run.id, "img")
    assert item.type == "image" and item.caption == "hello" and item.step == 0
    pixels = _decode_png(reader.media_file(run.id, item.file.rsplit("/", 1)[-1]).read_bytes())
    assert pixels.shape == expected_shape
    if array.dtype == np.uint8 and array.ndim == 2:
        assert np.array_equal(pixels, array)
    if array.dtype == np.float64:
        assert pixels.max() == 128


def test_image_from_pil_figure_and_path(root: Path, tmp_path: Path) -> None:
    import matplotlib
    from PIL import Image as PILImage

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pil = PILImage.new("RGB", (7, 5), (10, 20, 30))
    fig, ax = plt.subplots(figsize=(2, 1), dpi=50)
    ax.plot([0, 1], [1, 0])
    png_file = tmp_path / "x.png"
    png_file.write_bytes(encode_png(np.zeros((4, 4), dtype=np.uint8)))
    run = _run(root)
    run.log(
        {
            "pil": localtrack.Image(pil),
            "fig": localtrack.Image(fig),
            "file": localtrack.Image(png_file),
        }
    )
    plt.close(fig)
    run.finish()
    items = {i.key: i for i in StoreReader(root).media(run.id)}
    assert (items["pil"].width, items["pil"].height) == (7, 5)
    assert (items["fig"].width, items["fig"].height) == (100, 50)
    assert (items["file"].width, items["file"].height) == (4, 4)


def test_same_image_twice_is_stored_once(root: Path) -> None:
    img = np.random.default_rng(1).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    run = _run(root)
    for step in range(5):
        run.log({"a": localtrack.Image(img), "b": localtrack.Image(img)}, step=step)
    run.finish()
    blobs = list((root / "runs" / run.id / "media" / "blobs").iterdir())
    assert len(blobs) == 1 and len(StoreReader(root).media(run.id)) == 10


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (lambda: localtrack.Image(np.zeros((2, 2, 2, 2, 2))), "not an image"),
        (lambda: localtrack.Image(object()), "not an image"),
        (lambda: localtrack.Image("/no/such/file.png"), "not an image"),
        (lambda: localtrack.Table(columns=["a", "b"], data=[[1, 2], [3]]), "row 1 has 1 cells"),
        (lambda: localtrack.Histogram([float("nan")]), "no finite values"),
        (lambda: localtrack.Histogram(np_histogram=([1, 2], [0, 1])), r"edges of length N\+1"),
    ],
)
def test_bad_media_warns_naming_the_key_and_keeps_the_rest(root: Path, value, reason) -> None:
    run = _run(root)
    with pytest.warns(UserWarning, match=rf"'bad' .*{reason}"):
        run.log({"bad": value(), "loss": 1.0, "good": localtrack.Histogram([1, 2, 3])})
    run.finish()
    reader = StoreReader(root)
    assert reader.media_keys(run.id) == {"good": "histogram"}
    assert reader.history(run.id)["loss"].to_pylist() == [1.0]


def test_bad_media_in_strict_mode_raises_and_logs_nothing_of_the_call(root: Path) -> None:
    run = _run(root, strict=True)
    with pytest.raises(localtrack.UnsupportedValueError, match="'bad'"):
        run.log(
            {"good": localtrack.Histogram([1, 2]), "bad": localtrack.Image(np.zeros((2, 2, 2, 2)))}
        )
    run.finish()
    assert StoreReader(root).media(run.id) == []


def test_table_round_trip_with_images_and_dataframe(root: Path) -> None:
    import pandas as pd

    img = np.zeros((4, 4), dtype=np.uint8)
    table = localtrack.Table(columns=["id", "label", "ok", "img"])
    table.add_data(1, "cat", True, localtrack.Image(img))
    table.add_data(2, None, False, None)
    df = pd.DataFrame({"x": [1.5, 2.5], "name": ["a", "b"]})
    run = _run(root)
    run.log({"preds": table, "df": localtrack.Table(dataframe=df)})
    run.finish()
    reader = StoreReader(root)
    page = reader.table_page(run.id, "preds")
    assert page.columns == ["id", "label", "ok", "img"] and page.image_columns == ["img"]
    assert page.rows[0][:3] == [1, "cat", True] and page.rows[1] == [2, None, False, None]
    assert reader.media_file(run.id, page.rows[0][3].rsplit("/", 1)[-1]) is not None
    assert reader.table_page(run.id, "df").rows == [[1.5, "a"], [2.5, "b"]]
    [item] = reader.media(run.id, "df")
    plain = pq.read_table(root / "runs" / run.id / item.file)  # readable without localtrack
    assert plain.column("x").to_pylist() == [1.5, 2.5]


def test_big_table_pages_sorts_and_filters_on_the_server(root: Path) -> None:
    n = 200_000
    table = localtrack.Table(columns=["i", "word"], data=[[i, f"w{i % 1000}"] for i in range(n)])
    run = _run(root)
    run.log({"big": table})
    run.finish()
    reader = StoreReader(root)
    page = reader.table_page(run.id, "big", offset=100, limit=10)
    assert page.total_rows == n and [r[0] for r in page.rows] == list(range(100, 110))
    top = reader.table_page(run.id, "big", sort="i", descending=True, limit=3)
    assert [r[0] for r in top.rows] == [n - 1, n - 2, n - 3]
    found = reader.table_page(run.id, "big", search="w999", limit=1000)
    assert found.total_rows == n // 1000 and all(r[1] == "w999" for r in found.rows)


def test_histograms_over_steps_make_a_heatmap(root: Path) -> None:
    rng = np.random.default_rng(0)
    run = _run(root)
    for step in range(4):
        run.log(
            {"weights": localtrack.Histogram(rng.normal(step, 1, 1000), num_bins=32)}, step=step
        )
    run.log({"pre": localtrack.Histogram(np_histogram=([1, 2, 3], [0, 1, 2, 3]))}, step=9)
    run.finish()
    reader = StoreReader(root)
    series = reader.histograms(run.id, "weights", bins=16)
    assert list(series.steps) == [0, 1, 2, 3] and series.counts.shape == (4, 16)
    assert series.counts.sum(axis=1).tolist() == [1000.0] * 4
    means = (series.counts * ((series.edges[:-1] + series.edges[1:]) / 2)).sum(axis=1) / 1000
    assert np.all(np.diff(means) > 0.5)
    [pre] = reader.media(run.id, "pre")
    assert pre.counts == (1.0, 2.0, 3.0) and pre.edges == (0.0, 1.0, 2.0, 3.0) and pre.step == 9


def test_media_names_cannot_escape_the_run(root: Path) -> None:
    run = _run(root)
    run.log({"h": localtrack.Histogram([1.0])})
    run.finish()
    reader = StoreReader(root)
    for name in ("../run.json", "/etc/passwd", "..%2f..%2fx", "a" * 64 + ".png", "x.png\x00"):
        assert reader.media_file(run.id, name) is None
