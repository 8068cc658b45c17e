"""Audio, video, HTML, plotly, 3D objects and galleries: logged like W&B, read back exactly."""

from __future__ import annotations

import io
import json
import re
import warnings
import wave
from pathlib import Path

import numpy as np
import pytest

import localtrack
from localtrack.errors import UnsupportedValueError
from localtrack.media import sources
from localtrack.store.mediaschema import check_media_log
from localtrack.store.reader import StoreReader


def _run(root: Path, **kw):
    return localtrack.init(project="p", dir=root, settings=localtrack.Settings(console=False, **kw))


def _blob(reader: StoreReader, run_id: str, item) -> bytes:
    return reader.media_file(run_id, item.file.rsplit("/", 1)[-1]).read_bytes()


def _logged(root: Path, values: dict, **kw):
    run = _run(root, **kw)
    run.log({**values, "loss": 1.5})
    run.finish()
    reader = StoreReader(root)
    return reader, run.id, {(i.key, i.index): i for i in reader.media(run.id)}


def test_audio_waveform_round_trips_as_wav(root: Path) -> None:
    t = np.linspace(0, 1, 8000, endpoint=False)
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    reader, run_id, items = _logged(
        root, {"a": localtrack.Audio(tone, sample_rate=8000, caption="la")}
    )
    item = items[("a", 0)]
    assert (item.type, item.format, item.sample_rate, item.channels) == ("audio", "wav", 8000, 1)
    assert item.duration == 1.0 and item.caption == "la"
    with wave.open(io.BytesIO(_blob(reader, run_id, item))) as f:
        samples = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
    assert np.abs(samples / 32767 - tone).max() < 1e-4


def test_audio_file_kept_and_not_audio_rejected(root: Path, tmp_path: Path) -> None:
    ogg = tmp_path / "x.ogg"
    ogg.write_bytes(b"OggS" + bytes(60))
    text = tmp_path / "notes.mp3"
    text.write_text("not audio at all")
    with pytest.warns(UserWarning, match=r"'bad'.*not audio.*notes\.mp3"):
        reader, run_id, items = _logged(
            root, {"ok": localtrack.Audio(ogg), "bad": localtrack.Audio(text)}
        )
    assert items[("ok", 0)].format == "ogg"
    assert _blob(reader, run_id, items[("ok", 0)]) == ogg.read_bytes()
    assert ("bad", 0) not in items


@pytest.mark.parametrize("fmt", ["mp4", "webm", "gif"])
def test_video_encodes_and_tiles_batches(root: Path, fmt: str) -> None:
    pytest.importorskip("av")
    frames = np.random.default_rng(0).integers(0, 255, (3, 6, 3, 16, 10), dtype=np.uint8)
    reader, run_id, items = _logged(root, {"v": localtrack.Video(frames, fps=3, format=fmt)})
    item = items[("v", 0)]
    # 3 clips pad to 4, tiled 2 × 2: 32 × 20 pixels
    assert (item.format, item.frames, item.width, item.height) == (fmt, 6, 20, 32)
    assert item.duration == 2.0
    data = _blob(reader, run_id, item)
    assert sources.sniff_video(data) == fmt


def test_video_tiling_matches_wandb_layout() -> None:
    from localtrack.media.video import tile_batch

    batch = np.arange(2 * 1 * 2 * 2 * 1).reshape(2, 1, 2, 2, 1)
    grid = tile_batch(batch)  # 2 clips: 1 row × 2 columns
    assert grid.shape == (1, 2, 4, 1)
    assert grid[0, :, :2, 0].tolist() == batch[0, 0, :, :, 0].tolist()
    assert grid[0, :, 2:, 0].tolist() == batch[1, 0, :, :, 0].tolist()


def test_video_without_pyav_falls_back_to_gif(root: Path, monkeypatch) -> None:
    from localtrack.media import video

    monkeypatch.setattr(video, "has_pyav", lambda: False)
    with pytest.warns(UserWarning, match=r"pip install 'localtrack\[video\]'"):
        v = localtrack.Video(np.zeros((2, 8, 8, 3), dtype=np.uint8))
    reader, run_id, items = _logged(root, {"v": v})
    assert items[("v", 0)].format == "gif"
    assert _blob(reader, run_id, items[("v", 0)])[:6] == b"GIF89a"


def test_html_plotly_and_object3d_round_trip(root: Path, tmp_path: Path) -> None:
    go = pytest.importorskip("plotly.graph_objects")
    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2]))
    stl = tmp_path / "m.stl"
    stl.write_bytes(b"solid m\nendsolid m\n")
    cloud = np.c_[np.random.default_rng(1).normal(size=(50, 3)), np.full((50, 3), 200)]
    box = {
        "corners": [[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)],
        "label": "car",
        "color": [255, 0, 0],
    }
    reader, run_id, items = _logged(
        root,
        {
            "page": localtrack.Html("<h1>hi</h1><script>alert(1)</script>"),
            "fig": fig,  # a plotly figure logged directly
            "fig2": localtrack.Plotly({"data": [{"type": "bar", "y": np.arange(3)}]}),
            "cloud": localtrack.Object3D({"type": "lidar/beta", "points": cloud, "boxes": [box]}),
            "mesh": localtrack.Object3D(stl),
        },
    )
    page = items[("page", 0)]
    assert page.type == "html" and page.scripts
    assert _blob(reader, run_id, page).startswith(b"<h1>hi</h1>")
    assert json.loads(_blob(reader, run_id, items[("fig", 0)]))["data"][0]["y"] == [3, 1, 2]
    assert json.loads(_blob(reader, run_id, items[("fig2", 0)]))["data"][0]["y"] == [0, 1, 2]
    c = items[("cloud", 0)]
    assert (c.type, c.format, c.points, c.boxes) == ("object3d", "pts.json", 50, 1)
    doc = json.loads(_blob(reader, run_id, c))
    assert np.allclose(doc["points"], cloud.round(5)) and doc["boxes"][0]["label"] == "car"
    assert items[("mesh", 0)].format == "stl"


def test_list_of_media_is_a_gallery(root: Path) -> None:
    images = [localtrack.Image(np.full((4, 4), v, dtype=np.uint8)) for v in (0, 100, 200)]
    run = _run(root)
    run.log({"g": images}, step=1)
    run.log({"g": images[:2]}, step=1)  # the step logged again: its gallery replaced whole
    run.log({"g": images}, step=2)
    run.finish()
    items = StoreReader(root).media(run.id, "g")
    assert [(i.step, i.index, i.count) for i in items] == [
        (1, 0, 2),
        (1, 1, 2),
        (2, 0, 3),
        (2, 1, 3),
        (2, 2, 3),
    ]


def test_media_logs_pass_the_receiver_schema(root: Path) -> None:
    _logged(
        root,
        {
            "a": localtrack.Audio(np.zeros(100), sample_rate=100),
            "h": localtrack.Html("<p>x</p>"),
            "o": localtrack.Object3D(np.zeros((4, 3))),
            "g": [localtrack.Html("<p>1</p>"), localtrack.Html("<p>2</p>")],
            "pr": localtrack.plot.roc_curve([0, 1, 1], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]),
        },
    )
    log = next((root / "p").rglob("media/log-*.jsonl"), None) or next(
        root.rglob("media/log-*.jsonl")
    )
    assert check_media_log(log.read_bytes(), log.name) == 6


BIG = sources.MAX_ITEM_BYTES + 1


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: localtrack.Video(np.zeros((4, 4, 4))), "not a video: a video array must be"),
        (
            lambda: localtrack.Video(np.zeros((2, 3, 4, 4, 4, 4))),
            "not a video: a video array must be",
        ),
        (lambda: localtrack.Plotly([1, 2, 3]), "builtins.list is not a plotly figure"),
        (lambda: localtrack.Object3D(np.array([[0, 0, np.nan]] * 3)), "3 of 3 points have NaN"),
        (lambda: localtrack.Object3D(np.zeros((5, 5))), "points must be N×3, N×4 or N×6"),
        (lambda: localtrack.Audio(np.zeros(10)), "needs sample_rate="),
        (lambda: localtrack.Html("x" * BIG), r"over the 32\.0 MiB limit"),
        (
            lambda: localtrack.Audio(np.zeros(BIG // 8 + 1), sample_rate=10),
            r"over the 32\.0 MiB limit",
        ),
        (lambda: [localtrack.Html("a"), localtrack.Audio(np.zeros(3), sample_rate=3)], "one type"),
    ],
)
def test_bad_media_reported_like_a_bad_scalar(root: Path, make, match: str) -> None:
    run = _run(root)
    with pytest.warns(UserWarning, match=r"key 'bad'") as caught:
        run.log({"bad": make(), "good": localtrack.Html("<p>ok</p>"), "loss": 2.0})
    assert any(re.search(match, str(w.message)) for w in caught)
    run.finish()
    reader = StoreReader(root)
    assert [i.key for i in reader.media(run.id)] == ["good"]
    strict = _run(root, strict=True)
    with pytest.raises(UnsupportedValueError, match="'bad'"):
        strict.log({"bad": make(), "loss": 1.0})
    strict.finish()


def test_big_file_refused_before_it_is_read(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sources, "MAX_ITEM_BYTES", 10)
    f = tmp_path / "big.wav"
    f.write_bytes(b"RIFF" + bytes(40))
    with warnings.catch_warnings():
        audio = localtrack.Audio(f)
    assert "big.wav is 0.0 MiB, over the 0.0 MiB limit" in audio.error
