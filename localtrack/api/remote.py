"""The remote backend of ``localtrack.Api(base_url=…)``: a ``localtrack server``'s JSON API.

Each call is one or a few requests to ``/api/v1`` (docs/api.md): ``run-query`` for filtered and
ordered run lists (the server applies the same ``runfilter`` as the local backend),
``record`` for one run, ``history-page`` (Parquet) for history and ``scan_history``, ``files``
and ``files/<name>`` for files, ``PATCH``/``DELETE /runs/<id>`` for edits (a write key; an
admin key to delete). Errors come back as the API's envelope and are raised as localtrack
errors: 404 → RunNotFoundError, 400 → UsageError, 401/403 → AuthError.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import AuthError, RemoteError, RunNotFoundError, UsageError
from ..store.reader import RunInfo, StoreReader
from ..sync.transport import HTTPTransport, Request, Response
from .backend import FileInfo

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
        self.base_url = self.transport.base_url
        self.api_key = api_key
        # keep-alive sockets are closed when the last ApiRun using them goes, not left to the GC
        self._finalizer = weakref.finalize(self, self.transport.close)

    def close(self) -> None:
        self._finalizer()

    def _send(self, method: str, path: str, body: Any = None) -> Response:
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = None
        if body is not None:
            data = json.dumps(body, allow_nan=True).encode("utf-8")
            headers["Content-Type"] = "application/json"
        response = self.transport.send(Request(method, "/api/v1" + path, headers, data))
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

    def files(self, run_id: str) -> list[FileInfo]:
        data = self._json(self._run_path(run_id, "/files"))
        return [FileInfo(f["name"], int(f["size"]), f.get("updated_at")) for f in data["files"]]

    def download(self, run_id: str, name: str, dest: Path) -> None:
        if "/" in name:
            raise UsageError(
                f"{name!r} is in a folder of files/: a server hands out only top-level files "
                "(download it from a local copy of the store)"
            )
        response = self._send("GET", self._run_path(run_id, f"/files/{quote(name, safe='')}"))
        dest.write_bytes(response.body)

    def update(self, run_id: str, changes: Mapping[str, Any]) -> RunInfo:
        data = self._send("PATCH", self._run_path(run_id), dict(changes)).json()
        return run_info_from_json(data["run"])

    def delete(self, run_id: str) -> None:
        self._send("DELETE", self._run_path(run_id))

    def local_reader(self, what: str) -> StoreReader:
        raise UsageError(
            f"{what} reads a store directory; through Api(base_url=…) it is not available yet "
            "(use localtrack.Api(dir=…) on a copy of the store)"
        )
