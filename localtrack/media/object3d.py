"""3D objects for run.log(): point clouds (numpy or W&B's ``.pts.json``) and mesh files.

A cloud is stored as JSON in W&B's ``lidar/beta`` shape: ``{"type": "lidar/beta", "points":
[[x, y, z], …], "boxes": [{"corners": 8×[x, y, z], "label", "color": [r, g, b], "score"}],
"vectors": [...]}``; points are ``N×3`` (xyz), ``N×4`` (xyz + category) or ``N×6`` (xyz + rgb
0–255). Meshes (.obj, .gltf, .glb, .stl) are kept as they are.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from .sources import check_size, is_path, read_limited, sha256_hex, suffix
from .types import Media

MESH_FORMATS = ("obj", "gltf", "glb", "stl")
DIGITS = 5


def check_points(array: Any) -> np.ndarray:
    points = np.asarray(array, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] not in (3, 4, 6):
        raise ValueError(f"points must be N×3, N×4 or N×6, not shape {points.shape}")
    if not np.isfinite(points).all():
        bad = int((~np.isfinite(points)).any(axis=1).sum())
        raise ValueError(f"{bad} of {len(points)} points have NaN or infinite coordinates")
    return points


def _box(box: Any, i: int) -> dict[str, Any]:
    if not isinstance(box, dict) or "corners" not in box:
        raise ValueError(f"box {i} must be a dict with 'corners' (8 points)")
    corners = np.asarray(box["corners"], dtype=np.float64)
    if corners.shape != (8, 3) or not np.isfinite(corners).all():
        raise ValueError(f"box {i}: 'corners' must be 8 finite [x, y, z] points")
    out: dict[str, Any] = {"corners": corners.round(DIGITS).tolist()}
    if box.get("label") is not None:
        out["label"] = str(box["label"])
    color = box.get("color", [0, 255, 0])
    if len(color) != 3 or not all(isinstance(c, (int, float)) and 0 <= c <= 255 for c in color):
        raise ValueError(f"box {i}: 'color' must be [r, g, b] in 0..255")
    out["color"] = [int(c) for c in color]
    if box.get("score") is not None:
        score = float(box["score"])
        if not math.isfinite(score):
            raise ValueError(f"box {i}: 'score' must be finite")
        out["score"] = score
    return out


def cloud_document(data: dict[str, Any]) -> dict[str, Any]:
    """A checked ``lidar/beta`` document from W&B's dict form."""
    if data.get("type", "lidar/beta") != "lidar/beta":
        raise ValueError(f"only type 'lidar/beta' clouds are supported, not {data.get('type')!r}")
    points = check_points(data.get("points", []))
    document: dict[str, Any] = {
        "type": "lidar/beta",
        "points": points.round(DIGITS).tolist(),
        "boxes": [_box(b, i) for i, b in enumerate(data.get("boxes") or [])],
    }
    if data.get("vectors"):
        document["vectors"] = [
            {k: np.asarray(v[k], dtype=np.float64).round(DIGITS).tolist() for k in ("start", "end")}
            for v in data["vectors"]
        ]
    return document


class Object3D(Media):
    """A point cloud (numpy ``N×3``/``N×4``/``N×6``, a ``{"type": "lidar/beta", "points",
    "boxes"}`` dict, or a ``.pts.json`` file) or a mesh file (.obj, .gltf, .glb, .stl)."""

    kind = "object3d"

    def __init__(self, data_or_path: Any, caption: str | None = None, **kwargs: Any) -> None:
        self.caption = None if caption is None else str(caption)
        self._data = b""
        self._format = "pts.json"
        self._points = 0
        self._boxes = 0
        try:
            self._load(data_or_path, kwargs)
        except Exception as exc:
            self.error = f"not a 3D object: {exc}"

    def _load(self, data: Any, kwargs: dict[str, Any]) -> None:
        if is_path(data):
            ext = suffix(data)
            raw = read_limited(data)
            if ext in MESH_FORMATS:
                self._format, self._data = ext, raw
                return
            if ext != "pts.json":
                raise ValueError(f"{data!r}: use .obj, .gltf, .glb, .stl or .pts.json")
            data = json.loads(raw)
            if isinstance(data, list):
                data = {"points": data}
        if isinstance(data, dict):
            document = cloud_document({**data, **kwargs})
        else:
            array = np.asarray(data)
            check_size(array.nbytes, "the point array")
            document = cloud_document({"points": array, **kwargs})
        self._points = len(document["points"])
        self._boxes = len(document["boxes"])
        self._data = json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
        check_size(len(self._data), "the point cloud's JSON")

    def encode(self) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
        sha = sha256_hex(self._data)
        ext = "json" if self._format == "pts.json" else self._format
        record: dict[str, Any] = {
            "type": "object3d",
            "format": self._format,
            "sha256": sha,
            "caption": self.caption,
        }
        if self._format == "pts.json":
            record.update(points=self._points, boxes=self._boxes)
        return record, [(sha, ext, self._data)]
