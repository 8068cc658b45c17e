"""The report file format: front matter, markdown, and fenced ``panel`` blocks (docs/reports.md).

::

    ---
    title: Learning-rate findings
    mode: pinned
    steps: {"3f2a9c1b": 1200, "9d0e4471": 980}
    ---
    # What we found

    ```panel
    {"type": "line", "title": "Loss", "runs": ["3f2a9c1b", "9d0e4471"], "keys": ["loss"]}
    ```

``parse_report`` splits the text into ``Block`` s and checks every panel with the store's JSON
document vocabulary (``localtrack.store.jsondoc``); a bad panel is a ``DocumentError`` naming the
block's line and field, so a report written in an editor fails with a message saying where.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import DocumentError
from ..store import jsondoc as jd

MAX_CHARS = 500_000
MAX_PANELS = 100
PANEL_TYPES = ("line", "table", "media", "parallel", "scatter", "bar", "compare", "preset")
MODES = ("live", "pinned")
X_AXES = ("step", "wall_time", "relative_time", "default")

_KEY = jd.text(256, min_chars=1)
_PANEL = {
    "type": jd.one_of(PANEL_TYPES),
    "title": jd.text(200),
    "runs": jd.text_list(200, jd.text(128, min_chars=1)),
    "keys": jd.text_list(64, _KEY),
    "fields": jd.text_list(64, _KEY),
    "x": jd.text(256, min_chars=1),
    "y": jd.text(256),
    "log_y": jd.one_of((True, False)),
    "smoothing": jd.number(),
    "group_by": jd.text(256),
}
_FENCE = re.compile(r"^(`{3,}|~{3,})\s*panel\s*$")


@dataclass(frozen=True)
class Block:
    """One piece of a report: markdown text, or a panel (its checked JSON and first line)."""

    kind: str  # "markdown" | "panel"
    text: str = ""
    panel: dict[str, Any] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True)
class Report:
    """A parsed report: its front matter and blocks, in order."""

    title: str
    mode: str
    steps: dict[str, int]
    blocks: tuple[Block, ...]

    @property
    def panels(self) -> list[Block]:
        return [b for b in self.blocks if b.kind == "panel"]


def check_panel(data: Any, where: str = "panel") -> dict[str, Any]:
    """A panel object, checked: a known ``type`` and fields of the right kinds."""
    jd.check_depth(data, where)
    jd.check_fields(where, data, _PANEL, required=("type",))
    smoothing = data.get("smoothing")
    if smoothing is not None and not 0 <= smoothing < 1:
        raise DocumentError(f"{where} field 'smoothing' must be from 0 to 0.99", where, "smoothing")
    x = data.get("x")
    if data["type"] == "line" and x is not None and x not in X_AXES and not x.strip():
        raise DocumentError(f"{where} field 'x' must name an axis or a metric", where, "x")
    return dict(data)


def _front_matter(lines: list[str]) -> tuple[dict[str, str], int]:
    """(key → raw value, the index of the first body line)."""
    if not lines or lines[0].strip() != "---":
        return {}, 0
    out: dict[str, str] = {}
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return out, i + 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise DocumentError(
                f"report front matter line {i + 1} must be 'key: value', not {line!r}", "report"
            )
        out[key.strip()] = value.strip()
    raise DocumentError("report front matter starts with '---' but never ends with one", "report")


def _steps(raw: str) -> dict[str, int]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    ok = isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        for k, v in value.items()
    )
    if not ok:
        raise DocumentError(
            "report front matter 'steps' must be a JSON object of run id → step, e.g. {\"a1b2\": 100}",
            "report",
            "steps",
        )
    return dict(value)  # type: ignore[arg-type]


def parse_report(text: str) -> Report:
    """Split a report's text into blocks, each panel checked (DocumentError says which line)."""
    if not isinstance(text, str):
        raise DocumentError("a report's text must be a string", "report", "text")
    _check_text(text)
    lines = text.split("\n")
    meta, start = _front_matter(lines)
    mode = meta.get("mode", "live") or "live"
    if mode not in MODES:
        raise DocumentError(f"report mode must be live or pinned, not {mode!r}", "report", "mode")
    blocks: list[Block] = []
    prose: list[str] = []
    i = start
    while i < len(lines):
        fence = _FENCE.match(lines[i].strip())
        if not fence:
            prose.append(lines[i])
            i += 1
            continue
        end = i + 1
        while end < len(lines) and lines[end].strip() != fence.group(1):
            end += 1
        if end >= len(lines):
            raise DocumentError(f"the panel block at line {i + 1} is never closed", "report")
        if "".join(prose).strip():
            blocks.append(Block("markdown", "\n".join(prose)))
        prose = []
        blocks.append(_panel_block("\n".join(lines[i + 1 : end]), i + 1))
        i = end + 1
    if "".join(prose).strip():
        blocks.append(Block("markdown", "\n".join(prose)))
    report = Report(meta.get("title", ""), mode, _steps(meta.get("steps", "")), tuple(blocks))
    if len(report.panels) > MAX_PANELS:
        raise DocumentError(f"a report holds at most {MAX_PANELS} panels", "report")
    return report


def _check_text(text: str) -> None:
    if len(text) > MAX_CHARS:
        raise DocumentError(f"a report must be under {MAX_CHARS} characters", "report", "text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise DocumentError("a report must be valid Unicode", "report", "text") from None


def _panel_block(body: str, line: int) -> Block:
    where = f"panel at line {line}"
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise DocumentError(
            f"the {where} is not a JSON object ({exc.args[0]}); write it as "
            '{"type": "line", "runs": ["RUN_ID"], "keys": ["loss"]}',
            "report",
        ) from None
    return Block("panel", panel=check_panel(data, where), line=line)


def with_front_matter(text: str, **values: str) -> str:
    """`text` with the front matter keys in `values` set (added, or replaced in place)."""
    lines = text.split("\n")
    meta, start = _front_matter(lines)
    merged = {**meta, **values}
    head = ["---", *(f"{k}: {v}" for k, v in merged.items() if v != ""), "---"]
    return "\n".join(head + lines[start:])
