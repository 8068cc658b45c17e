"""A store with an artifact pipeline for the Artifacts UI tests: dataset (text, image, Parquet)
→ train run (uses it, logs a model) → registry link; and a second dataset version."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import localtrack


def png_bytes(width: int = 4, height: int = 3) -> bytes:
    """A tiny valid RGB PNG (no Pillow needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def artifact_store(root: Path, data: Path) -> dict[str, str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data.mkdir(parents=True, exist_ok=True)
    (data / "readme.txt").write_text("hello <b>artifact</b>\nsecond line\n")
    (data / "pic.png").write_bytes(png_bytes())
    pq.write_table(pa.table({"x": [1, 2, 3], "label": ["a", "b", "c"]}), data / "rows.parquet")
    ids: dict[str, str] = {}
    with localtrack.init(project="p", name="prepare", dir=root) as run:
        art = localtrack.Artifact("ds", "dataset", metadata={"rows": 3})
        art.add_dir(data)
        run.log_artifact(art, aliases=["raw"])
        ids["prepare"] = run.id
    with localtrack.init(project="p", name="train", dir=root) as run:
        run.use_artifact("ds:latest")
        model = localtrack.Artifact("net", "model")
        with model.new_file("weights.txt") as f:
            f.write("w")
        run.log_artifact(model, aliases=["best"])
        run.link_artifact(model, "p/net-registry", aliases=["production"])
        ids["train"] = run.id
    with localtrack.init(project="p", name="evaluate", dir=root) as run:
        run.use_artifact("net:best")
        ids["evaluate"] = run.id
    return ids


def one_artifact(root: Path, project: str = "mnist") -> str:
    """One run logging a one-file dataset ``ds:v0`` (readme.txt) into `project`; its id."""
    with localtrack.init(project=project, name="prepare", dir=root) as run:
        art = localtrack.Artifact("ds", "dataset")
        with art.new_file("readme.txt") as f:
            f.write("hello")
        run.log_artifact(art)
        return run.id
