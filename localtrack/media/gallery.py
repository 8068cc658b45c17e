"""How run.log() turns values into media: plotly figures wrapped, lists made galleries.

A list of media of one type under one key is a gallery: each item is stored with its ``index``
and the list's ``count``, and the UI shows them side by side with one step slider.
"""

from __future__ import annotations

from typing import Any

from .types import Media


class GalleryItem(Media):
    """Item `index` of a gallery of `count` under one key."""

    def __init__(self, item: Media, index: int, count: int) -> None:
        self.item, self.index, self.count = item, index, count
        self.kind = item.kind

    def encode(self) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
        record, blobs = self.item.encode()
        record.update(index=self.index, count=self.count)
        return record, blobs


class _PlotlyType(type):
    """isinstance() true for plotly's objects, without importing plotly."""

    def __instancecheck__(cls, value: Any) -> bool:
        return (type(value).__module__ or "").startswith("plotly.")


class PlotlyObject(metaclass=_PlotlyType):
    """Stands for any plotly object in isinstance checks."""


MAYBE_MEDIA = (Media, list, tuple, PlotlyObject)
"""The types of value as_media may turn into media (one isinstance check on the log path)."""


def as_media(value: Any) -> Media | list[Media] | None:
    """The media for a logged value: itself, a wrapped plotly figure, a gallery, or None."""
    if isinstance(value, Media):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Media) for v in value):
        return _gallery(list(value))
    module = type(value).__module__ or ""
    if module.startswith("plotly."):
        from .plotly import Plotly

        return Plotly(value)
    return None


def _gallery(items: list[Media]) -> list[Media]:
    kinds = {item.kind for item in items}
    if len(kinds) > 1:
        bad = Media()
        bad.kind = "gallery"
        bad.error = f"a list of media must hold one type, not {', '.join(sorted(kinds))}"
        return [bad]
    for i, item in enumerate(items):
        if item.error:
            bad = Media()
            bad.kind = item.kind
            bad.error = f"item {i} of the list: {item.error}"
            return [bad]
    return [GalleryItem(item, i, len(items)) for i, item in enumerate(items)]
