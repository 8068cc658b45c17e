"""Limits on what a client sends, checked before anything is decoded.

A Parquet file of 500 KiB can declare 30 million rows of one repeated value; decoded, that is
gigabytes. So the receiving side (a sync commit, a bundle import) first reads only a file's
footer: its row count, the uncompressed size of its row groups and its column types. A file
over a limit, or with columns other than the documented ones, is refused with a
``LimitExceededError`` (or ``CorruptDataError``) naming the file and the limit, before one
value is decoded. Only then are the string columns read, in bounded batches and as dictionary
indices, to add up their decoded length; everything later decodes in bounded batches too.

The limits are settings (declared in localtrack/settings_table.py), resolved when a check runs::

    LOCALTRACK_MAX_SHARD_ROWS     rows of one Parquet file (metric shard or table)
    LOCALTRACK_MAX_DECODED_BYTES  bytes one Parquet file may decode to in memory
    LOCALTRACK_MAX_JSON_BYTES     bytes of one JSON document (run.json, a media log, a manifest)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import CorruptDataError, LimitExceededError
from ..settings import default, resolve, spec
from ..settings_table import SettingSpec
from .layout import METRICS_DIR, RUN_JSON
from .metrics import SCHEMA

MAX_FOOTER_BYTES = 16 << 20  # a footer's own size; legitimate shards have a few KiB
MAX_TABLE_COLUMNS = 10_000
CHECK_BATCH_ROWS = 64 * 1024
_MEDIA_TABLE_TYPES = (pa.bool_(), pa.int64(), pa.float64(), pa.string())


SPECS: tuple[SettingSpec, ...] = tuple(
    spec(name) for name in ("max_shard_rows", "max_decoded_bytes", "max_json_bytes")
)  # declared in localtrack/settings_table.py, with every other setting


@dataclass(frozen=True)
class Limits:
    """The limits in force for one check (see ``current``)."""

    max_shard_rows: int = default("max_shard_rows")
    max_decoded_bytes: int = default("max_decoded_bytes")
    max_json_bytes: int = default("max_json_bytes")


def current() -> Limits:
    """The limits now: each ``LOCALTRACK_MAX_*`` variable, else its default."""
    return Limits(**{s.name: resolve(s.name) for s in SPECS})


def _over(what: str, amount: int, limit: int, name: str) -> LimitExceededError:
    env = spec(name).env
    return LimitExceededError(
        f"{what} is over this server's limit: {amount:,} > {limit:,} ({env}; the server's "
        "operator can raise it)",
        env,
    )


# -- JSON documents ---------------------------------------------------------------------------


def check_json_bytes(name: str, size: int, limits: Limits | None = None) -> None:
    """Refuse a JSON document of `size` bytes when it is over LOCALTRACK_MAX_JSON_BYTES."""
    limit = (limits or current()).max_json_bytes
    if size > limit:
        raise _over(f"{name} ({size:,} bytes of JSON)", size, limit, "max_json_bytes")


def check_json_file(name: str, path: Path, limits: Limits | None = None) -> None:
    """``check_json_bytes`` on a file's size (nothing is read)."""
    check_json_bytes(name, path.stat().st_size, limits)


# -- Parquet files ----------------------------------------------------------------------------


def _open_footer(name: str, path: Path) -> pq.ParquetFile:
    """Parse a file's footer, after checking the footer's own declared length."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 12:
                raise CorruptDataError(f"{name} is not a Parquet file ({size} bytes)")
            f.seek(size - 8)
            tail = f.read(8)
        if tail[4:] != b"PAR1":
            raise CorruptDataError(f"{name} is not a Parquet file (no PAR1 at its end)")
        footer = int.from_bytes(tail[:4], "little")
        if footer > MAX_FOOTER_BYTES or footer > size - 12:
            raise CorruptDataError(
                f"{name} declares a {footer:,}-byte Parquet footer (at most "
                f"{min(MAX_FOOTER_BYTES, size - 12):,} is accepted)"
            )
        return pq.ParquetFile(path)
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise CorruptDataError(f"{name} is not a readable Parquet file: {exc}") from exc


def _check_sizes(name: str, pf: pq.ParquetFile, limits: Limits) -> int:
    """Row count and uncompressed size from the footer; returns the fixed-width decoded size."""
    md = pf.metadata
    rows = md.num_rows
    if rows > limits.max_shard_rows:
        raise _over(f"{name} ({rows:,} rows)", rows, limits.max_shard_rows, "max_shard_rows")
    groups = [md.row_group(i) for i in range(md.num_row_groups)]
    if sum(g.num_rows for g in groups) != rows:
        raise CorruptDataError(f"{name}: its row groups do not add up to its row count")
    stored = sum(g.total_byte_size for g in groups)
    fixed = sum(_fixed_width(f.type) for f in pf.schema_arrow) * rows
    decoded = max(stored, fixed)
    if decoded > limits.max_decoded_bytes:
        raise _over(
            f"{name} (decodes to about {decoded:,} bytes)",
            decoded,
            limits.max_decoded_bytes,
            "max_decoded_bytes",
        )
    return fixed


def _fixed_width(kind: pa.DataType) -> int:
    """Bytes per row of a column once decoded, not counting string contents (offsets only)."""
    if pa.types.is_string(kind) or pa.types.is_binary(kind):
        return 4 + 1
    if pa.types.is_boolean(kind):
        return 1
    return kind.bit_width // 8 + 1


def _string_bytes(name: str, path: Path, columns: list[str], fixed: int, limits: Limits) -> None:
    """Add up what string columns decode to, reading them as dictionary indices in bounded
    batches, and refuse the file as soon as `fixed` plus that is over the limit."""
    if not columns:
        return
    total = fixed
    try:
        pf = pq.ParquetFile(path, read_dictionary=columns)
        for batch in pf.iter_batches(batch_size=CHECK_BATCH_ROWS, columns=columns):
            total += sum(_decoded_length(column) for column in batch.columns)
            if total > limits.max_decoded_bytes:
                break
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise CorruptDataError(f"{name} is damaged: {exc}") from exc
    if total > limits.max_decoded_bytes:
        what = f"{name} (decodes to more than {total:,} bytes)"
        raise _over(what, total, limits.max_decoded_bytes, "max_decoded_bytes")


def _decoded_length(column: pa.Array) -> int:
    if isinstance(column, pa.DictionaryArray):
        lengths = pc.binary_length(column.dictionary)
        return int(pc.sum(lengths.take(column.indices)).as_py() or 0)
    return int(pc.sum(pc.binary_length(column)).as_py() or 0)


def check_shard(name: str, path: Path, limits: Limits | None = None) -> None:
    """Refuse a metric shard that is not the documented schema or is over a limit.

    Raises CorruptDataError (not Parquet, other columns) or LimitExceededError, before any
    column but ``key`` is decoded (and that one as dictionary indices, in bounded batches).
    """
    limits = limits or current()
    pf = _open_footer(name, path)
    _check_shard_schema(name, pf)
    fixed = _check_sizes(name, pf, limits)
    _string_bytes(name, path, ["key"], fixed, limits)


def _check_shard_schema(name: str, pf: pq.ParquetFile) -> None:
    try:
        schema = pf.schema_arrow
    except (pa.ArrowException, ValueError) as exc:
        raise CorruptDataError(f"{name} has an unreadable schema: {exc}") from exc
    got = [(f.name, f.type) for f in schema]
    want = [(f.name, f.type) for f in SCHEMA]
    if got != want:
        shown = ", ".join(f"{n}: {t}" for n, t in got[:8])
        expected = ", ".join(f"{n}: {t}" for n, t in want)
        raise CorruptDataError(
            f"{name} is not a metric shard: its columns are ({shown}), not ({expected}) "
            "as docs/format.md describes"
        )


def check_table(name: str, path: Path, limits: Limits | None = None) -> None:
    """Refuse a logged table (a media Parquet blob) over a limit or with unsupported columns."""
    limits = limits or current()
    pf = _open_footer(name, path)
    schema = pf.schema_arrow
    if len(schema) > MAX_TABLE_COLUMNS:
        raise CorruptDataError(f"{name} has {len(schema)} columns (at most {MAX_TABLE_COLUMNS})")
    for field in schema:
        if field.type not in _MEDIA_TABLE_TYPES:
            raise CorruptDataError(
                f"{name}: column {field.name!r} is {field.type}; a logged table's columns are "
                "bool, int64, double or string"
            )
    fixed = _check_sizes(name, pf, limits)
    strings = [f.name for f in schema if f.type == pa.string()]
    _string_bytes(name, path, strings, fixed, limits)


def check_incoming(
    name: str, path: Path, limits: Limits | None = None, *, label: str | None = None
) -> None:
    """Check one file a client sent, by its name in the run directory: shards and tables by
    their Parquet footer, run.json, media logs and the alerts log by their size. Other files are not decoded.
    `label` names the file in messages (default: `name`)."""
    label = label or name
    if name.startswith(METRICS_DIR + "/"):
        check_shard(label, path, limits)
    elif name.startswith("media/blobs/") and name.endswith(".parquet"):
        check_table(label, path, limits)
    elif name in (RUN_JSON, "alerts.jsonl") or (
        name.startswith("media/") and name.endswith(".jsonl")
    ):
        check_json_file(label, path, limits)
