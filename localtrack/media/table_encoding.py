"""How a Table becomes Parquet: one column per table column, Images as blob references."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

IMAGE_COLUMNS_META = b"localtrack.image_columns"


def _column(values: list[Any]) -> pa.Array:
    present = [v for v in values if v is not None]
    if all(isinstance(v, bool) for v in present):
        return pa.array(values, type=pa.bool_())
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        try:
            return pa.array(values, type=pa.int64())
        except (OverflowError, pa.ArrowException):
            pass
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    return pa.array(
        [
            None if v is None else (v if isinstance(v, str) else json.dumps(v, default=str))
            for v in values
        ],
        type=pa.string(),
    )


def encode_table(
    columns: list[str], rows: list[list[Any]]
) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
    from .types import Image

    blobs: list[tuple[str, str, bytes]] = []
    arrays, image_columns = [], []
    for i, name in enumerate(columns):
        values = [row[i] for row in rows]
        if any(isinstance(v, Image) for v in values):
            image_columns.append(name)
            refs = []
            for v in values:
                if isinstance(v, Image) and not v.error:
                    record, image_blobs = v.encode()
                    blobs.extend(image_blobs)
                    refs.append(f"media/blobs/{record['sha256']}.png")
                else:
                    refs.append(None)
            arrays.append(pa.array(refs, type=pa.string()))
        else:
            arrays.append(_column(values))
    table = pa.table(arrays, names=columns).replace_schema_metadata(
        {IMAGE_COLUMNS_META: json.dumps(image_columns).encode()}
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    data = sink.getvalue().to_pybytes()
    sha = hashlib.sha256(data).hexdigest()
    record = {
        "type": "table",
        "sha256": sha,
        "rows": len(rows),
        "columns": columns,
        "image_columns": image_columns,
    }
    return record, [*blobs, (sha, "parquet", data)]
