"""How sync requests reach a server: a small seam with two sides.

``HTTPTransport`` speaks HTTP/1.1 with the standard library (``http.client``), one keep-alive
connection per thread. ``MockTransport`` hands each request to a Python function instead, so the
client can be tested against an in-process app or a scripted fake (the httpx pattern)::

    transport = MockTransport(lambda request: Response(200, {}, b'{"ok": true}'))

A transport only moves bytes: it raises ``TransientSyncError`` when the connection fails or
times out, and returns every HTTP answer, errors included, as a ``Response``. Retries, status
codes and JSON belong to ``remote.Remote``.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

from ..errors import ProtocolError, TransientSyncError, UsageError

Body = bytes | Callable[[], BinaryIO] | None
_BLOCK = 1 << 16


@dataclass(frozen=True)
class Request:
    """One HTTP request. `body` is bytes, or a function that opens a fresh stream (so a retry
    can send it again) together with `content_length`. With `sink`, a function opening a
    writable stream, a successful answer's body (status < 400) is copied into it block by block
    instead of being held in memory (the Response's body is then empty): large downloads."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Body = None
    content_length: int | None = None
    sink: Callable[[], BinaryIO] | None = None

    def read_body(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        with self.body() as stream:
            return stream.read()


@dataclass(frozen=True)
class Response:
    """One HTTP answer; header names are lower case."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ProtocolError(
                f"the server answered {self.status} with something that is not JSON: "
                f"{self.body[:120]!r}"
            ) from exc


class Transport(Protocol):
    """Sends a request, returns the response; raises TransientSyncError if no answer came."""

    base_url: str

    def send(self, request: Request) -> Response: ...

    def close(self) -> None: ...


class HTTPTransport:
    """HTTP/1.1 over http.client: keep-alive per thread, streamed bodies, a socket timeout."""

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"{base_url!r} is not an http:// or https:// server address")
        self.base_url = base_url.rstrip("/")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = (
                http.client.HTTPSConnection
                if self._scheme == "https"
                else http.client.HTTPConnection
            )
            conn = cls(self._host, self._port, timeout=self.timeout, blocksize=_BLOCK)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def send(self, request: Request) -> Response:
        conn = self._connection()
        headers = dict(request.headers)
        stream: BinaryIO | None = None
        try:
            if callable(request.body):
                stream = request.body()
                body: Any = stream
                headers["Content-Length"] = str(request.content_length or 0)
            else:
                body = request.body
            conn.request(request.method, self._prefix + request.path, body=body, headers=headers)
            reply = conn.getresponse()
            if request.sink is not None and reply.status < 400:
                with request.sink() as out:
                    shutil.copyfileobj(reply, out, _BLOCK)
                data = b""
            else:
                data = reply.read()
            response = Response(reply.status, {k.lower(): v for k, v in reply.getheaders()}, data)
            if reply.will_close:
                self._drop()
            return response
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            kind = "timed out" if isinstance(exc, socket.timeout) else "failed"
            raise TransientSyncError(
                f"{request.method} {self.base_url}{request.path} {kind}: {exc or type(exc).__name__}"
            ) from exc
        except BaseException:
            self._drop()  # a body that failed half-way leaves the connection unusable
            raise
        finally:
            if stream is not None:
                stream.close()

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


class MockTransport:
    """Calls `handler(request)` instead of a server; the body arrives as bytes."""

    def __init__(
        self, handler: Callable[[Request], Response], base_url: str = "http://mock"
    ) -> None:
        self.handler = handler
        self.base_url = base_url

    def send(self, request: Request) -> Response:
        body = request.read_body() if request.body is not None else None
        response = self.handler(
            Request(
                request.method, request.path, dict(request.headers), body, request.content_length
            )
        )
        if request.sink is not None and response.status < 400:
            with request.sink() as out:
                out.write(response.body)
            return Response(response.status, response.headers, b"")
        return response

    def close(self) -> None:
        pass
