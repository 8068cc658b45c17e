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
    if start_line < 0 and not search:
        return _tail(path, -start_line, limit)
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


_TAIL_CHUNK = 256 * 1024


def _tail(path: Path, count: int, limit: int) -> ConsolePage:
    """The last `count` lines (at most `limit` of them), reading the file from its end.

    Only the end is decoded; the lines before it are counted (for line numbers) without
    decoding, so following a big log stays cheap.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        data, start = b"", size
        while start > 0 and data.count(b"\n") <= count:
            start = max(0, start - _TAIL_CHUNK)
            f.seek(start)
            data = f.read(size - start)
        cut = 0
        if start > 0:  # drop the piece of a line that began before `start`
            cut = data.find(b"\n") + 1
        before = _count_newlines(f, start + cut)
    lines = data[cut:].split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    take = lines[-count:] if count else []
    total = before + len(lines)
    first = total - len(take)
    take = take[: max(1, min(int(limit), 10_000))]
    return ConsolePage(
        lines=[t.decode("utf-8", errors="replace") for t in take],
        line_numbers=list(range(first + 1, first + 1 + len(take))),
        start_line=first,
        total_lines=total,
        file_lines=total,
        size_bytes=size,
    )


def _count_newlines(f: object, end: int) -> int:
    """Newlines in the first `end` bytes of the open file `f`."""
    count, pos = 0, 0
    f.seek(0)  # type: ignore[attr-defined]
    while pos < end:
        chunk = f.read(min(_TAIL_CHUNK * 4, end - pos))  # type: ignore[attr-defined]
        if not chunk:
            break
        count += chunk.count(b"\n")
        pos += len(chunk)
    return count
