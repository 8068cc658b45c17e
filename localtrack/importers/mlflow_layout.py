"""What ``export-to mlflow`` left in an MLflow run's artifacts, back as a run's parts.

The export writes ``media/``, ``files/`` and ``artifacts/<name>/v<N>/`` beside an index,
``localtrack.json``, holding each media item's record and each artifact version's name and type.
``take_localtrack_parts`` moves those out of a downloaded artifact folder and restores them:
media items (their bytes checked against the recorded sha256), the run's files, and artifact
versions with their own names. What remains is the run's other MLflow artifacts.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from .model import ArtifactFolder, MediaPoint, SourceRun

INDEX = "localtrack.json"
PARTS = (INDEX, "media", "files", "artifacts")


def take_localtrack_parts(folder: Path, aside: Path, run: SourceRun) -> None:
    """Restore an export's parts into `run`, moving them from `folder` to `aside`; nothing
    happens to a folder without a readable index."""
    try:
        index = json.loads((folder / INDEX).read_text())
    except (OSError, ValueError):
        return
    if not isinstance(index, dict) or index.get("format") != 1:
        return
    aside.mkdir(parents=True, exist_ok=True)
    for name in PARTS:
        if (folder / name).exists():
            shutil.move(folder / name, aside / name)
    for entry in index.get("media") or []:
        _media(aside, entry, run)
    files = aside / "files"
    for path in sorted(files.rglob("*")) if files.is_dir() else []:
        if path.is_file() and not path.is_symlink():
            run.files[path.relative_to(files).as_posix()] = path.read_bytes()
    for entry in index.get("artifacts") or []:
        place = _inside(aside, entry.get("path"))
        if place is None or not place.is_dir():
            run.unmapped["mlflow: localtrack artifact versions missing from the export"] += 1
            continue
        meta = entry.get("metadata") if isinstance(entry.get("metadata"), dict) else {}
        run.artifacts.append(ArtifactFolder(str(entry["name"]), str(entry["type"]), place, meta))


def _inside(top: Path, relative: Any) -> Path | None:
    """`relative` below `top`, or None for a name that is not a path inside it."""
    if not isinstance(relative, str):
        return None
    path = (top / relative).resolve()
    return path if top.resolve() in path.parents else None


def _media(aside: Path, entry: dict[str, Any], run: SourceRun) -> None:
    record = dict(entry.get("record") or {})
    key, step, wall = entry.get("key"), entry.get("step"), entry.get("wall_time")
    if not (isinstance(key, str) and isinstance(step, int) and isinstance(wall, (int, float))):
        run.unmapped["mlflow: localtrack media entries that do not parse"] += 1
        return
    sha = record.get("sha256")
    if sha is None:  # a histogram: the record is the whole item
        run.media.append(MediaPoint(key, step, float(wall), record))
        return
    path = _inside(aside, entry.get("path"))
    data = path.read_bytes() if path is not None and path.is_file() else None
    if data is None or hashlib.sha256(data).hexdigest() != sha:
        run.damage.append(f"{entry.get('path')}: missing or not the file that was exported")
        return
    blob = (sha, path.suffix.lstrip("."), data)  # type: ignore[union-attr]
    run.media.append(MediaPoint(key, step, float(wall), record, (blob,)))
