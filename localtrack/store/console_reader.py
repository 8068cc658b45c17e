"""Reading a run's captured console output (files/output.log) page by page."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ConsolePage:
    """Lines `start_line`.. of the output (after filtering), and how many there are in all."""

    lines: list[str] = field(default_factory=list)
    line_numbers: list[int] = field(default_factory=list)  # 1-based, in the whole file
    start_line: int = 0
    total_lines: int = 0  # lines matching the search (all lines without one)
    file_lines: int = 0
    size_bytes: int = 0


def read_console(
    path: Path | None, search: str | None = None, start_line: int = 0, limit: int = 1000
) -> ConsolePage:
    """A page of console lines; `search` keeps lines containing it (case-insensitive).

    A negative `start_line` counts from the end (-200: the last 200 lines), for following a
    live run.
    """
    if path is None:
        return ConsolePage()
    data = path.read_bytes()
    text = data.decode("utf-8", errors="replace")
    all_lines = text.split("\n")
    if all_lines and all_lines[-1] == "":
        all_lines.pop()
    numbered = list(enumerate(all_lines, start=1))
    if search:
        needle = search.lower()
        numbered = [(n, line) for n, line in numbered if needle in line.lower()]
    total = len(numbered)
    limit = max(1, min(int(limit), 10_000))
    start = max(0, total + start_line) if start_line < 0 else min(int(start_line), total)
    page = numbered[start : start + limit]
    return ConsolePage(
        lines=[line for _, line in page],
        line_numbers=[n for n, _ in page],
        start_line=start,
        total_lines=total,
        file_lines=len(all_lines),
        size_bytes=len(data),
    )
