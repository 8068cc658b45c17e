"""A small localtrack run with every kind of content an exporter carries: metrics, each media
kind, a saved file, console output and a logged artifact (tests of export-to mlflow / wandb)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import localtrack


def log_rich_run(root: Path, work: Path) -> str:
    """Log the run into the store at `root` (files it saves are written in `work`); its id."""
    run = localtrack.init(
        project="rich",
        dir=root,
        config={"lr": 0.5},
        tags=["media", "v2"],
        group="exports",
        settings={"system_metrics": False},
    )
    for step in range(0, 12, 3):
        run.log({"loss": 1 / (step + 7)}, step=step)
    pixels = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    tone = np.sin(np.linspace(0, 20, 800)).astype(np.float32)
    frames = np.zeros((3, 3, 8, 8), dtype=np.uint8)
    frames[1] = 200
    run.log(
        {
            "sample": localtrack.Image(pixels, caption="first"),
            "gallery": [localtrack.Image(pixels), localtrack.Image(255 - pixels)],
            "weights": localtrack.Histogram(np.arange(12.0), num_bins=4),
            "preds": localtrack.Table(columns=["id", "label"], data=[[1, "cat"], [2, "dog"]]),
            "voice": localtrack.Audio(tone, sample_rate=8000, caption="tone"),
            "clip": localtrack.Video(frames, fps=4, format="gif"),
            "page": localtrack.Html("<h1>report</h1>"),
            "fig": localtrack.Plotly({"data": [{"type": "bar", "x": [1, 2], "y": [3, 1]}]}),
            "cloud": localtrack.Object3D(np.arange(12.0).reshape(4, 3), caption="pts"),
        },
        step=12,
    )
    notes = work / "notes.txt"
    notes.write_text("saved by the run\n")
    run.save(str(notes), base_path=str(work), policy="now")
    weights = work / "model" / "weights.bin"
    weights.parent.mkdir(parents=True, exist_ok=True)
    weights.write_bytes(b"\x01\x02" * 64)
    run.log_artifact(str(weights.parent), name="net", type="model")
    print("hello from the rich run")
    run.finish()
    return run.id
