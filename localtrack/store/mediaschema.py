"""The schema of a media log line (``media/log-<segment>.jsonl``), checked where logs are received.

Each line is a JSON object: ``key``, ``step``, ``wall_time``, ``type`` and the fields of its
type (docs/format.md, "Media"). ``check_media_log`` checks every whole line of a log a client
sent; a last line without its newline is a write torn by a crash, which readers ignore, so it is
not checked either. Errors name the line and the field::

    media/log-0000.jsonl line 3 field 'step' must be an integer, got str
"""

from __future__ import annotations

from typing import Any

from ..errors import DocumentError
from .ingest.manifest_types import is_sha256, media_blob_sha
from .jsondoc import (
    Check,
    Invalid,
    check_fields,
    integer,
    loads,
    number,
    one_of,
    text,
    text_list,
    type_name,
)

MAX_KEY_CHARS = 512
MAX_CAPTION_CHARS = 10_000
MAX_TABLE_COLUMNS = 10_000
MAX_BINS = 512
TYPES = ("image", "table", "histogram", "audio", "video", "html", "plotly", "object3d")
PRESETS = (
    "line", "scatter", "bar", "histogram", "line_series", "confusion_matrix", "pr_curve", "roc_curve",
)  # fmt: skip
MAX_GALLERY = 10_000


def _sha256(value: Any) -> None:
    if not is_sha256(value):
        raise Invalid(f"must be a lowercase hex sha256, got {type_name(value)}")


def _blob_file(value: Any) -> None:
    if value is not None and (not isinstance(value, str) or media_blob_sha(value) is None):
        raise Invalid("must be null or media/blobs/<sha256>.<ext> (a media blob extension)")


def _numbers(max_items: int) -> Check:
    def check(value: Any) -> None:
        if not isinstance(value, list):
            raise Invalid(f"must be a list of numbers, got {type_name(value)}")
        if len(value) > max_items:
            raise Invalid(f"must hold at most {max_items} numbers, got {len(value)}")
        finite = number()
        for i, entry in enumerate(value):
            try:
                finite(entry)
            except Invalid as exc:
                raise Invalid(str(exc), f"[{i}]") from None

    return check


_COLUMN = text(MAX_KEY_CHARS)
_CAPTION = text(MAX_CAPTION_CHARS, nullable=True, multiline=True)
_BLOB: dict[str, Check] = {"sha256": _sha256, "file": _blob_file}


def _chart(value: Any) -> None:
    """A preset chart: ``{"preset", "fields": {role: column}, "title", "xname"?}``."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise Invalid(f"must be an object, got {type_name(value)}")
    one_of(PRESETS)(value.get("preset"))
    fields = value.get("fields")
    if not isinstance(fields, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and len(v) <= MAX_KEY_CHARS
        for k, v in fields.items()
    ):
        raise Invalid("'fields' must map roles to column names")
    for name in ("title", "xname"):
        if name in value:
            text(MAX_CAPTION_CHARS)(value[name])


COMMON: dict[str, Check] = {
    "key": text(MAX_KEY_CHARS, min_chars=1),
    "step": integer(),
    "wall_time": number(),
    "type": one_of(TYPES),
}
BY_TYPE: dict[str, dict[str, Check]] = {
    "image": {
        "sha256": _sha256,
        "file": _blob_file,
        "width": integer(nullable=True, minimum=0),
        "height": integer(nullable=True, minimum=0),
        "caption": text(MAX_CAPTION_CHARS, nullable=True, multiline=True),
    },
    "table": {
        "sha256": _sha256,
        "file": _blob_file,
        "rows": integer(minimum=0),
        "columns": text_list(MAX_TABLE_COLUMNS, _COLUMN),
        "image_columns": text_list(MAX_TABLE_COLUMNS, _COLUMN),
        "chart": _chart,
    },
    "histogram": {"edges": _numbers(MAX_BINS + 1), "counts": _numbers(MAX_BINS)},
    "audio": {
        **_BLOB,
        "format": one_of(("wav", "mp3", "ogg", "flac")),
        "sample_rate": integer(nullable=True, minimum=1),
        "channels": integer(nullable=True, minimum=1),
        "duration": number(nullable=True),
        "caption": _CAPTION,
    },
    "video": {
        **_BLOB,
        "format": one_of(("mp4", "webm", "gif")),
        "fps": number(nullable=True),
        "frames": integer(nullable=True, minimum=0),
        "width": integer(nullable=True, minimum=0),
        "height": integer(nullable=True, minimum=0),
        "duration": number(nullable=True),
        "caption": _CAPTION,
    },
    "html": {**_BLOB, "scripts": one_of((True, False)), "size": integer(minimum=0)},
    "plotly": dict(_BLOB),
    "object3d": {
        **_BLOB,
        "format": one_of(("pts.json", "obj", "gltf", "glb", "stl")),
        "points": integer(nullable=True, minimum=0),
        "boxes": integer(nullable=True, minimum=0),
        "caption": _CAPTION,
    },
}
GALLERY: dict[str, Check] = {
    "index": integer(minimum=0),
    "count": integer(minimum=1, nullable=False),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "image": ("sha256",),
    "table": ("sha256",),
    "histogram": ("edges", "counts"),
    **{kind: ("sha256",) for kind in ("audio", "video", "html", "plotly", "object3d")},
}


def check_media_record(record: object, document: str) -> None:
    """Raise DocumentError naming the field of one media log line that breaks the schema."""
    check_fields(document, record, COMMON, required=tuple(COMMON))
    assert isinstance(record, dict)
    kind = record["type"]
    check_fields(document, record, {**BY_TYPE[kind], **GALLERY}, required=REQUIRED[kind])
    if kind == "histogram" and len(record["edges"]) != len(record["counts"]) + 1:
        raise DocumentError(
            f"{document}: a histogram needs one more edge than counts", document, "edges"
        )


def check_media_log(data: bytes, name: str) -> int:
    """Check every whole line of a media log; returns how many there are."""
    lines = data.split(b"\n")
    lines.pop()  # after the last newline: empty, or a torn write that readers ignore
    for number_, line in enumerate(lines, 1):
        document = f"{name} line {number_}"
        check_media_record(loads(line, document), document)
    return len(lines)
