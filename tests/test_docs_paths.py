"""No doc names a file that does not exist (README.md and docs/*.md)."""

from __future__ import annotations

import re
from pathlib import Path

from .conftest import REPO

_FILE = re.compile(r"(?<![\w/.<*-])((?:[\w.-]+/)*[\w-]+\.(?:py|js|css|html|sh|toml|md))(?![\w/])")
# Files that live outside the repository: shared design notes, and scripts the docs' examples
# ask the user to write.
_ELSEWHERE = {"DESIGN.md", "STYLE.md", "FIELD-NOTES.md", "train.py", "a/train.py", "sweep_demo.py"}
# Library names that look like file names (npm packages the build vendors).
_LIBRARIES = {"plotly.js", "three.js", "uPlot.js", "chart.js", "node.js"}


def _repo_files() -> list[str]:
    skip = {".git", "node_modules", "vendor", "__pycache__"}
    return [
        p.relative_to(REPO).as_posix()
        for p in REPO.rglob("*")
        if p.is_file() and not skip.intersection(p.relative_to(REPO).parts)
    ]


def _docs() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_every_file_a_doc_names_exists() -> None:
    files = _repo_files()
    names = {f.rsplit("/", 1)[-1] for f in files}
    missing = []
    for doc in _docs():
        for token in _FILE.findall(doc.read_text()):
            token = token.lstrip("./")
            if (
                token in _ELSEWHERE
                or token.lower() in {n.lower() for n in _LIBRARIES}
                or token.startswith(("http", "www"))
            ):
                continue
            if "/" in token:
                found = any(f == token or f.endswith("/" + token) for f in files)
            else:
                found = token in names
            if not found:
                missing.append(f"{doc.name}: {token}")
    assert missing == []
