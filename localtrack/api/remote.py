"""The remote backend of ``localtrack.Api(base_url=…)``: a ``localtrack server``'s JSON API.

Each call is one or a few requests to ``/api/v1`` (docs/api.md): ``run-query`` for filtered and
ordered run lists (the server applies the same ``runfilter`` as the local backend),
``record`` for one run, ``history-page`` (Parquet) for history and ``scan_history``, ``files``
and ``files/<name>`` (folders too) for files, ``PATCH``/``DELETE /runs/<id>`` for edits (a write key; an
admin key to delete). Errors come back as the API's envelope and are raised as localtrack
errors: 404 → RunNotFoundError, 400 → UsageError, 401/403 → AuthError.
"""

from __future__ import annotations

import json
import math
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote, urlencode

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import AuthError, RemoteError, RunNotFoundError, UsageError
from ..store.reader import MetricKey, ProjectInfo, RunInfo, StoreReader
from ..store.series import Series
from ..store.serieswire import series_from_parquet
from ..sync.transport import HTTPTransport, Request, Response
from .backend import FileInfo

if TYPE_CHECKING:
    from .remote_artifacts import RemoteArtifacts

NEXT_STEP_HEADER = "x-localtrack-next-step"
_RUNS_PAGE = 200


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def run_info_from_json(data: Mapping[str, Any]) -> RunInfo:
    """A RunInfo from the server's run object (``run_json`` with every field)."""

    def text(name: str) -> str | None:
        value = data.get(name)
        return value if isinstance(value, str) else None

    def integer(name: str) -> int | None:
        value = data.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    config, summary = data.get("config"), data.get("summary")
    return RunInfo(
        id=str(data["id"]),
        project=text("project") or "uncategorized",
        entity=text("entity"),
        name=text("name") or str(data["id"]),
        state=text("state") or "crashed",
        created_at=_number(data.get("created_at")),
        updated_at=_number(data.get("updated_at")),
        heartbeat_at=_number(data.get("heartbeat_at")),
        ended_at=_number(data.get("ended_at")),
        exit_code=integer("exit_code"),
        tags=tuple(t for t in data.get("tags") or () if isinstance(t, str)),
        group=text("group"),
        job_type=text("job_type"),
        notes=text("notes"),
        host=text("host"),
        pid=integer("pid"),
        config=config if isinstance(config, dict) else {},
        summary=summary if isinstance(summary, dict) else {},
        max_step=integer("max_step"),
        warnings=tuple(str(w) for w in data.get("warnings") or ()),
        meta_json=json.dumps({"exit_reason": data.get("exit_reason")}),
    )


class RemoteBackend:
    def __init__(self, base_url: str, api_key: str | None, timeout: float = 60.0) -> None:
        self.transport = HTTPTransport(base_url, timeout)
        self.base_url = self.ui_base = self.transport.base_url
        self.api_key = api_key
        # keep-alive sockets are closed when the last ApiRun using them goes, not left to the GC
        self._finalizer = weakref.finalize(self, self.transport.close)

    def close(self) -> None:
        self._finalizer()

    def _send(
        self, method: str, path: str, body: Any = None, save_to: Path | None = None
    ) -> Response:
        """One request to ``/api/v1`` + `path`; an error answer raised as a localtrack error.
        With `save_to`, a successful answer's body is streamed into that file."""
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = None
        if body is not None:
            data = json.dumps(body, allow_nan=True).encode("utf-8")
            headers["Content-Type"] = "application/json"
        sink = None if save_to is None else _writer(save_to)
        request = Request(method, "/api/v1" + path, headers, data, sink=sink)
        response = self.transport.send(request)
        if response.status >= 400:
            raise self._error(method, path, response)
        return response

    def _error(self, method: str, path: str, response: Response) -> Exception:
        try:
            envelope = response.json().get("error") or {}
        except (AttributeError, ValueError):
            envelope = {}
        message = str(envelope.get("message") or response.body[:200].decode("utf-8", "replace"))
        where = f"{method} {self.base_url}/api/v1{path}"
        if response.status == 404:
            return RunNotFoundError(f"{message} ({where})")
        if response.status in (401, 403):
            return AuthError(f"{where}: {message} (pass api_key= or run `localtrack login`)")
        if response.status in (400, 422):
            return UsageError(message)
        return RemoteError(f"{where}: {message}", response.status, str(envelope.get("code")))

    def _json(self, path: str) -> Any:
        return self._send("GET", path).json()

    def runs(
        self, project: str | None, filters: Mapping[str, Any] | None, order: str | None
    ) -> list[RunInfo]:
        if project is None:
            projects = [p["name"] for p in self._json("/projects").get("projects", [])]
            out = [r for p in projects for r in self.runs(p, filters, None)]
            if order:
                from ..store.runfilter import sort_runs

                return sort_runs(out, order)
            return sorted(out, key=lambda r: (-(r.created_at or 0.0), r.id))
        infos: list[RunInfo] = []
        offset: int | None = 0
        while offset is not None:
            args: dict[str, Any] = {"offset": offset, "limit": _RUNS_PAGE}
            if filters:
                args["filters"] = json.dumps(filters, allow_nan=False, default=str)
            if order:
                args["order"] = order
            data = self._json(f"/projects/{quote(project, safe='/')}/run-query?{urlencode(args)}")
            infos += [run_info_from_json(r) for r in data["runs"]]
            offset = data.get("next_offset")
        return infos

    def _run_path(self, run_id: str, tail: str = "") -> str:
        return f"/runs/{quote(run_id, safe='')}{tail}"

    def run(self, run_id: str) -> RunInfo:
        return run_info_from_json(self._json(self._run_path(run_id, "/record"))["run"])

    def history(self, run_id: str, keys: Sequence[str] | None) -> pa.Table:
        pages = list(self.scan(run_id, keys, None, None, 100_000))
        if not pages:
            return next(self._pages(run_id, keys, None, None, 1, empty=True))
        return pa.concat_tables(pages, promote_options="permissive") if len(pages) > 1 else pages[0]

    def scan(
        self,
        run_id: str,
        keys: Sequence[str] | None,
        min_step: int | None,
        max_step: int | None,
        page_size: int,
    ) -> Iterator[pa.Table]:
        yield from self._pages(run_id, keys, min_step, max_step, page_size)

    def _pages(
        self,
        run_id: str,
        keys: Sequence[str] | None,
        min_step: int | None,
        max_step: int | None,
        page_size: int,
        empty: bool = False,
    ) -> Iterator[pa.Table]:
        step = min_step
        while True:
            args: list[tuple[str, Any]] = [("limit", page_size)]
            if keys is not None:
                args += [("key", k) for k in keys] or [("keys", "")]
            if step is not None:
                args.append(("min_step", step))
            if max_step is not None:
                args.append(("max_step", max_step))
            response = self._send("GET", self._run_path(run_id, f"/history-page?{urlencode(args)}"))
            table = pq.read_table(pa.BufferReader(response.body))
            if table.num_rows or empty:
                yield table
            raw = response.headers.get(NEXT_STEP_HEADER, "")
            if not raw or empty:
                return
            step = int(raw)

    def projects(self) -> list[ProjectInfo]:
        out = []
        for p in self._json("/projects").get("projects", []):
            entity, _, project = str(p["name"]).rpartition("/")
            out.append(
                ProjectInfo(
                    name=str(p["name"]),
                    run_count=int(p.get("run_count") or 0),
                    running_count=int(p.get("running_count") or 0),
                    last_activity=_number(p.get("last_activity")),
                    state_counts=dict(p.get("state_counts") or {}),
                    entity=entity or None,
                    project=project,
                )
            )
        return out

    def long_table(self, run_id: str, keys: Sequence[str] | None) -> pa.Table:
        if keys is None:
            keys = [k.key for k in self.metric_keys(run_id)]
        return wide_to_long(self.history(run_id, keys), keys)

    def series(
        self,
        run_id: str,
        key: str,
        x0: float | None,
        x1: float | None,
        buckets: int | None,
        x: str | None,
        edges: np.ndarray | None,
    ) -> Series:
        if edges is not None:
            edges = np.asarray(edges, dtype=np.float64)
            even = np.linspace(edges[0], edges[-1], len(edges))
            if len(edges) < 2 or not np.allclose(edges, even, rtol=0, atol=1e-9 * np.ptp(edges)):
                raise UsageError(
                    "series(edges=…) through Api(base_url=…) takes evenly spaced edges only "
                    "(give x0, x1 and buckets)"
                )
            x0, x1, buckets = float(edges[0]), float(edges[-1]), len(edges) - 1
        args: dict[str, Any] = {"key": key}
        for name, value in (("x", x), ("x0", x0), ("x1", x1), ("buckets", buckets)):
            if value is not None:
                args[name] = repr(value) if isinstance(value, float) else value
        response = self._send("GET", self._run_path(run_id, f"/series-data?{urlencode(args)}"))
        return series_from_parquet(response.body)

    def _run_view(self, run_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self._json(self._run_path(run_id))
        return data

    def metric_keys(self, run_id: str) -> list[MetricKey]:
        return [
            MetricKey(
                key=str(k["key"]),
                dtype=str(k["dtype"]),
                count=int(k["count"]),
                min=_json_number(k.get("min")),
                max=_json_number(k.get("max")),
                last=_json_number(k.get("last")),
                last_step=k.get("last_step"),
                mean=_json_number(k.get("mean")),
            )
            for k in self._run_view(run_id)["keys"]
        ]

    def damage(self, run_id: str) -> list[str]:
        return [str(w) for w in self._run_view(run_id).get("warnings") or ()]

    def metadata(self, run_id: str) -> dict[str, Any]:
        system = self._run_view(run_id)["run"].get("system")
        return system if isinstance(system, dict) else {}

    def artifacts(self) -> RemoteArtifacts:
        from .remote_artifacts import RemoteArtifacts

        return RemoteArtifacts(self)

    def files(self, run_id: str) -> list[FileInfo]:
        data = self._json(self._run_path(run_id, "/files"))
        return [FileInfo(f["name"], int(f["size"]), f.get("updated_at")) for f in data["files"]]

    def download(self, run_id: str, name: str, dest: Path) -> None:
        self._send("GET", self._run_path(run_id, f"/files/{quote(name, safe='/')}"), save_to=dest)

    def update(self, run_id: str, changes: Mapping[str, Any]) -> RunInfo:
        data = self._send("PATCH", self._run_path(run_id), dict(changes)).json()
        return run_info_from_json(data["run"])

    def delete(self, run_id: str) -> None:
        self._send("DELETE", self._run_path(run_id))

    def local_reader(self, what: str) -> StoreReader:
        raise UsageError(
            f"{what} reads a store directory; through Api(base_url=…) it is not available "
            "(use localtrack.Api(dir=…) on a copy of the store)"
        )


def _writer(path: Path) -> Callable[[], BinaryIO]:
    """A function opening `path` for writing bytes (a download's ``Request.sink``)."""

    def open_path() -> BinaryIO:
        return path.open("wb")

    return open_path


_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _json_number(value: Any) -> Any:
    """A number the server sent as JSON: ``"NaN"``/``"Infinity"`` back to floats."""
    return _NON_FINITE.get(value, value) if isinstance(value, str) else value


def wide_to_long(wide: pa.Table, keys: Sequence[str]) -> pa.Table:
    """History rows (step, wall_time, a column per key) as ``long_table`` has them: one row
    per logged number (step, key, value as float64, wall_time), by key then step. Columns of
    text or other non-numbers are left out, as the local long table holds numbers only."""
    parts = []
    for key in keys:
        if key not in wide.column_names:
            continue
        column = wide.column(key)
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)) and not (
            pa.types.is_boolean(column.type)
        ):
            continue
        rows = wide.filter(pc.is_valid(column))
        parts.append(
            pa.table(
                {
                    "step": rows.column("step").cast(pa.int64()),
                    "key": pa.array([key] * rows.num_rows, pa.string()),
                    "value": rows.column(key).cast(pa.float64()),
                    "wall_time": rows.column("wall_time"),
                }
            )
        )
    if not parts:
        schema = pa.schema(
            [
                ("step", pa.int64()),
                ("key", pa.string()),
                ("value", pa.float64()),
                ("wall_time", pa.timestamp("us", tz="UTC")),
            ]
        )
        return schema.empty_table()
    return pa.concat_tables(parts)
