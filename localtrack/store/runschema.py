"""The schema of run.json: every field's type and limits, in one place.

``check_run_json`` is what ``init()`` writes against (its tests check that), what the receiving
side (sync commits, ``localtrack import``) accepts, and what readers and ``localtrack reindex``
require before they index a run; ``check_field`` checks one field (``init()`` names its argument
when one does not fit). docs/format.md states the same table for people.

Unknown fields are allowed (a newer writer may add some) but count for the size and depth
limits. Free-form values (config, summary, system) may hold NaN and ±Infinity, as Python's json
writes them; timestamps, exit codes and counters must be finite numbers.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import DocumentError
from .ingest.manifest_types import is_sha256
from .jsondoc import (
    Check,
    Invalid,
    check_depth,
    check_fields,
    integer,
    loads,
    mapping,
    number,
    one_of,
    records,
    text,
    text_list,
    type_name,
)
from .layout import is_valid_run_id

STATES = ("running", "finished", "failed", "crashed", "stopped")
SUMMARY_MODES = ("min", "max", "mean", "last")

MAX_NAMESPACE_CHARS = 128  # project, entity
MAX_NAME_CHARS = 512  # name, metric names and globs, host names
MAX_LABEL_CHARS = 256  # group, job_type, each tag
MAX_NOTES_CHARS = 100_000
MAX_FAILURE_CHARS = 1_000  # why a run's rows could not all be written (set by finish())
MAX_TAGS = 1_000
MAX_ENTRIES = 100_000  # segments, config versions, metric definitions, deleted summary keys
DOCUMENT = "run.json"


def _run_id(value: Any) -> None:
    if not isinstance(value, str) or not is_valid_run_id(value):
        raise Invalid(
            f"must be a run id (1-128 letters, digits, '_', '-' or '.'), got {value!r}"[:200]
        )


def _shards(value: Any) -> None:
    if not isinstance(value, dict):
        raise Invalid(f"must be an object of shard file names to sha256, got {type_name(value)}")
    for name, sha in value.items():
        if not is_sha256(sha):
            raise Invalid("must be a lowercase hex sha256", f"[{json.dumps(name[:80])}]")


EXIT_REASON_FIELDS: dict[str, Check] = {
    "kind": one_of(("exception", "signal")),
    "type": text(MAX_LABEL_CHARS),
    "message": text(MAX_FAILURE_CHARS, nullable=True, multiline=True),
    "where": text(MAX_FAILURE_CHARS, nullable=True),
    "signal": text(MAX_LABEL_CHARS, nullable=True),
}


def _exit_reason(value: Any) -> None:
    """Why the run ended other than by finishing: null, or an object of EXIT_REASON_FIELDS."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise Invalid(f"must be an object or null, got {type_name(value)}")
    for name, check in EXIT_REASON_FIELDS.items():
        try:
            check(value[name] if name in value or name in ("kind", "type") else None)
        except KeyError:
            raise Invalid(f"must have a {name!r}", f".{name}") from None
        except Invalid as exc:
            raise Invalid(str(exc), f".{name}{exc.at}") from None


_NAMESPACE = text(MAX_NAMESPACE_CHARS, nullable=True, forbid="/")
_NAME = text(MAX_NAME_CHARS, nullable=True)
_LABEL = text(MAX_LABEL_CHARS, nullable=True)
_TIME = number(nullable=True)
_EXIT_CODE = integer(nullable=True)

SEGMENT_FIELDS: dict[str, Check] = {
    "segment": integer(minimum=0),
    "host": _NAME,
    "pid": integer(nullable=True, minimum=1),
    "boot_id": _LABEL,
    "started_at": _TIME,
    "ended_at": _TIME,
    "exit_code": _EXIT_CODE,
    "first_step": integer(nullable=True, minimum=0),
}

FIELDS: dict[str, Check] = {
    "id": _run_id,
    "project": _NAMESPACE,
    "entity": _NAMESPACE,
    "name": _NAME,
    "notes": text(MAX_NOTES_CHARS, nullable=True, multiline=True),
    "tags": text_list(MAX_TAGS, text(MAX_LABEL_CHARS, min_chars=1), nullable=True),
    "group": _LABEL,
    "job_type": _LABEL,
    "state": one_of(STATES),
    "created_at": _TIME,
    "updated_at": _TIME,
    "ended_at": _TIME,
    "exit_code": _EXIT_CODE,
    "failure": text(MAX_FAILURE_CHARS, nullable=True, multiline=True),
    "exit_reason": _exit_reason,
    "config": mapping(nullable=True),
    "config_versions": records(
        MAX_ENTRIES,
        {
            "version": integer(minimum=0),
            "segment": integer(minimum=0),
            "time": _TIME,
            "config": mapping(nullable=True),
        },
        nullable=True,
    ),
    "summary": mapping(nullable=True),
    "summary_overrides": mapping(nullable=True),
    "summary_deleted": text_list(MAX_ENTRIES, text(MAX_NAME_CHARS), nullable=True),
    "metric_definitions": records(
        MAX_ENTRIES,
        {
            "name": text(MAX_NAME_CHARS, min_chars=1),
            "step_metric": _NAME,
            "summary": one_of((*SUMMARY_MODES, None)),
        },
        nullable=True,
    ),
    "shards": _shards,
    "segments": records(MAX_ENTRIES, SEGMENT_FIELDS, nullable=True),
    "system": mapping(nullable=True),
    "format_version": integer(minimum=1),
}


def check_run_json(meta: object, document: str = DOCUMENT) -> None:
    """Raise DocumentError naming the first field of `meta` that breaks the schema."""
    check_fields(document, meta, FIELDS, required=("id",))
    check_depth(meta, document)


def check_field(name: str, value: Any) -> None:
    """Check one run.json field; raises Invalid (the caller names the field its own way)."""
    FIELDS[name](value)


def parse_run_json_bytes(data: bytes, document: str = DOCUMENT) -> dict[str, Any]:
    """Parse and check a run.json: its nesting and every field (its size is checked before it
    is read, by ``limits.py``)."""
    meta = loads(data, document)
    check_run_json(meta, document)
    if not isinstance(meta, dict):  # for the type checker: check_run_json refused the rest
        raise DocumentError(f"{document} must be a JSON object", document)
    return meta
