"""Chart data as compact binary columns: several charts in one body, decoded by chart.js.

JSON spends 10–20 bytes and a parse per number; a chart of 20 runs × 1000 buckets × (last, min,
max) is 60,000 numbers. Here each column is a typed array the browser views without parsing:

- ``x`` (the shared grid) as float64: steps can pass 2**24 and wall times need every bit;
- a line's ``last`` as float32 (7 significant digits, more than the legend shows);
- band edges (``min``/``max``) as uint16 steps between the line set's lowest and highest value:
  1/65,534 of the chart's range is far below a pixel, and bands are only drawn. 65,535 is null.
  Where every bucket holds at most one point (min = max = last), or a chart has more than
  ``BAND_LINES`` lines (the UI draws no bands then), both are null: no band.

Layout: ``b"LTC1"``, a little-endian uint32 header length, the UTF-8 JSON header padded with
spaces to a multiple of 8 bytes, then the columns, each at an 8-aligned offset (relative to the
end of the header) that the header gives along with its type (and ``lo``/``hi`` for uint16).
The header is the JSON of ``charts.chart_data`` with every array replaced by such a reference.
Compression happens on the way out (flask-compress), like every other reply.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

MAGIC = b"LTC1"
MIMETYPE = "application/vnd.localtrack.chart"
U16_NULL = 65535
U16_STEPS = 65534
BAND_LINES = 30  # past this many lines in one chart the UI draws no min/max bands: none are sent


class _Body:
    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, raw: bytes, spec: dict[str, Any]) -> dict[str, Any]:
        spec["offset"] = self.size
        pad = (-len(raw)) % 8
        self.parts.append(raw + b"\0" * pad)
        self.size += len(raw) + pad
        return spec

    def f64(self, values: Column) -> dict[str, Any]:
        arr = _array(values).astype("<f8")
        return self.add(arr.tobytes(), {"type": "f64", "n": len(arr)})

    def f32(self, values: Column) -> dict[str, Any]:
        arr = _array(values).astype("<f4")
        return self.add(arr.tobytes(), {"type": "f32", "n": len(arr)})

    def u16(self, values: Column, lo: float, hi: float) -> dict[str, Any]:
        arr = _array(values)
        span = hi - lo if hi > lo else 1.0
        q = np.full(len(arr), U16_NULL, dtype="<u2")
        ok = np.isfinite(arr)
        q[ok] = np.clip(np.rint((arr[ok] - lo) / span * U16_STEPS), 0, U16_STEPS)
        return self.add(q.tobytes(), {"type": "u16", "n": len(arr), "lo": lo, "hi": lo + span})


Column = Sequence[float | None] | np.ndarray  # a JSON-ready list (None = no point) or NaNs


def _array(values: Column) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values.astype(np.float64, copy=False)
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _range(lines: Sequence[dict[str, Any]]) -> tuple[float, float]:
    lo, hi = np.inf, -np.inf
    for line in lines:
        for name in ("min", "max"):
            if line.get(name) is None:
                continue
            arr = _array(line[name])
            arr = arr[np.isfinite(arr)]
            if len(arr):
                lo, hi = min(lo, float(arr.min())), max(hi, float(arr.max()))
    return (lo, hi) if lo <= hi else (0.0, 1.0)


def _pack_lines(body: _Body, lines: list[dict[str, Any]], value: str) -> None:
    lo, hi = _range(lines)
    for line in lines:
        if len(lines) > BAND_LINES or (line.get("min") is not None and _same(line, value)):
            # every bucket holds at most one point: the band is the line itself, so it is left
            # out (``min``/``max`` null) rather than sent three times
            line["min"] = line["max"] = None
        line[value] = body.f32(line[value])
        if line.get("std") is not None:
            line["std"] = body.f32(line["std"])
        for name in ("min", "max"):
            if line.get(name) is not None:
                line[name] = body.u16(line[name], lo, hi)


def _same(line: dict[str, Any], value: str) -> bool:
    """Whether a line's band is the line itself (every bucket holds at most one point)."""
    a, lo, hi = _array(line[value]), _array(line["min"]), _array(line["max"])
    return bool(np.array_equal(a, lo, equal_nan=True) and np.array_equal(a, hi, equal_nan=True))


def pack(charts: Sequence[dict[str, Any]]) -> bytes:
    """Several ``chart_data`` dicts (modified in place: arrays become column references) as one
    binary body."""
    body = _Body()
    for chart in charts:
        chart["x"] = body.f64(chart["x"])
        _pack_lines(body, chart["runs"], "last")
        if chart.get("groups"):
            _pack_lines(body, chart["groups"], "mean")
    header = json.dumps({"charts": list(charts)}, separators=(",", ":"), allow_nan=False).encode()
    header += b" " * ((-(len(header) + 8)) % 8)
    return MAGIC + len(header).to_bytes(4, "little") + header + b"".join(body.parts)


def unpack(data: bytes) -> dict[str, Any]:
    """The inverse of ``pack`` (for tests and Python clients): columns back as lists."""
    if data[:4] != MAGIC:
        raise ValueError("not a localtrack chart body (no LTC1 magic)")
    size = int.from_bytes(data[4:8], "little")
    head = json.loads(data[8 : 8 + size])
    base = 8 + size

    def column(spec: dict[str, Any]) -> list[float | None]:
        start, n = base + spec["offset"], spec["n"]
        if spec["type"] == "u16":
            q = np.frombuffer(data, "<u2", n, start).astype(np.float64)
            vals = spec["lo"] + q / U16_STEPS * (spec["hi"] - spec["lo"])
            vals[q == U16_NULL] = np.nan
        else:
            vals = np.frombuffer(data, "<f8" if spec["type"] == "f64" else "<f4", n, start)
        return [None if not np.isfinite(v) else float(v) for v in vals]

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "offset" in node and "type" in node and "n" in node:
                return column(node)
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(head)  # type: ignore[no-any-return]
