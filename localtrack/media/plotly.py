"""Plotly figures for run.log(): stored as the figure's JSON, drawn by plotly.js in the UI."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .sources import check_size, sha256_hex
from .types import Media


def is_plotly_figure(value: Any) -> bool:
    """A plotly ``Figure`` (or ``FigureWidget``), recognised without importing plotly."""
    module = type(value).__module__ or ""
    return module.startswith("plotly.") and hasattr(value, "to_plotly_json")


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


def figure_json(figure: Any) -> str:
    """The figure as plotly JSON text (``{"data": [...], "layout": {...}}``)."""
    if is_plotly_figure(figure):
        text = figure.to_json()
    elif isinstance(figure, dict):
        text = json.dumps(figure, default=_plain, allow_nan=False)
    else:
        raise ValueError(
            f"{type(figure).__module__}.{type(figure).__name__} is not a plotly figure "
            "(a plotly.graph_objects.Figure or a dict with 'data')"
        )
    parsed = json.loads(text)
    if not isinstance(parsed, dict) or not isinstance(parsed.get("data"), list):
        raise ValueError("a plotly figure needs a 'data' list of traces")
    return text


class Plotly(Media):
    """A plotly figure (``plotly.graph_objects.Figure`` or its dict form), stored as JSON.
    Plotly figures passed to run.log() directly are wrapped in this."""

    kind = "plotly"

    def __init__(self, figure: Any) -> None:
        self._json = b""
        try:
            self._json = figure_json(figure).encode()
            check_size(len(self._json), "the figure's JSON")
        except Exception as exc:
            self.error = f"not a plotly figure: {exc}"

    def encode(self) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
        sha = sha256_hex(self._json)
        return {"type": "plotly", "sha256": sha}, [(sha, "json", self._json)]
