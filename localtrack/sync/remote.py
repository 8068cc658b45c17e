"""The server's sync API as Python calls, with retries: 429 Retry-After, backoff with jitter.

``Remote`` turns HTTP answers into results or errors (``errors.py``): 2xx → data; 401/403 →
AuthError; other 4xx → RemoteError with the envelope's code; 429, 5xx and connection failures →
retried with exponential backoff and full jitter (Retry-After honoured), then TransientSyncError.
A server that refuses the connection (or whose name does not resolve) at the first contact is not
retried: ServerUnreachableError says so at once, as a mistyped URL or a stopped server needs a
person, not a backoff.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ..errors import AuthError, CorruptDataError, ProtocolError, RemoteError, TransientSyncError
from . import protocol
from .transport import Request, Response, Transport

log = logging.getLogger(__name__)
USER_AGENT = "localtrack-sync/1"


@dataclass
class RetryPolicy:
    """How long to keep trying: `attempts` tries, delays doubling from `base_s` up to `cap_s`
    (full jitter), a server's Retry-After honoured up to `cap_s`, all within `deadline_s`."""

    attempts: int = 8
    base_s: float = 0.25
    cap_s: float = 15.0
    deadline_s: float | None = None
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random
    clock: Callable[[], float] = time.monotonic
    # Report "nothing answers at that address" at the first contact instead of retrying: what a
    # person at the CLI wants (a stopped server, a mistyped URL); a program that chose its retry
    # policy (or a background pusher) keeps retrying as configured.
    fail_fast_unreachable: bool = False

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap_s)
        return float(self.rng() * min(self.cap_s, self.base_s * 2.0**attempt))


@dataclass
class RemoteStats:
    requests: int = 0
    retries: int = 0
    blobs_sent: int = 0
    bytes_sent: int = 0
    transit_errors: list[str] = field(default_factory=list)


class ServerUnreachableError(TransientSyncError):
    """Nothing answers at the server's address (connection refused, unknown host) at the first
    contact: a stopped server or a wrong URL, so it is reported at once instead of retried."""


def _unreachable(exc: BaseException) -> str | None:
    """Why `exc` (a transport failure) means nothing listens there, or None."""
    cause = exc.__cause__
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, socket.gaierror):
        return "its host name does not resolve"
    return None


class LocalFileChangedError(CorruptDataError):
    """A file changed or was damaged on disk after its sha256 was taken."""


class _HashingReader:
    """Reads exactly `size` bytes of a file, hashing them on the way (one read for both)."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self._stream = stream
        self._left = size
        self.digest = hashlib.sha256()
        self.short = False

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        want = self._left if n is None or n < 0 else min(n, self._left)
        data = self._stream.read(want)
        if not data:
            self.short = True
            raise LocalFileChangedError("the file is shorter than when it was hashed")
        self._left -= len(data)
        self.digest.update(data)
        return data

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> _HashingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Remote:
    """One server's sync API, over a transport, with an API key and a retry policy."""

    def __init__(
        self,
        transport: Transport,
        api_key: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.transport = transport
        self.api_key = api_key
        self.retry = retry or RetryPolicy()
        self.stats = RemoteStats()
        self._contacted = False  # once the server has answered, refusals are retried

    @property
    def url(self) -> str:
        return self.transport.base_url

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "X-Localtrack-Protocol": str(protocol.PROTOCOL_VERSION),
        }
        if content_type:
            headers["Content-Type"] = content_type
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def call(self, request_for: Callable[[], Request]) -> Response:
        """Send (retrying transient failures) and return a 2xx response; raise otherwise."""
        policy = self.retry
        start = policy.clock()
        last: TransientSyncError | None = None
        for attempt in range(max(1, policy.attempts)):
            if attempt:
                wait = policy.delay(attempt - 1, last.retry_after if last else None)
                if (
                    policy.deadline_s is not None
                    and policy.clock() - start + wait > policy.deadline_s
                ):
                    break
                self.stats.retries += 1
                log.info("retrying in %.2f s after: %s", wait, last)
                policy.sleep(wait)
            request = request_for()
            self.stats.requests += 1
            try:
                response = self.transport.send(request)
            except TransientSyncError as exc:
                fast = self.retry.fail_fast_unreachable and not self._contacted
                why = _unreachable(exc) if fast else None
                if why:
                    raise ServerUnreachableError(
                        f"cannot reach the server at {self.url}: {why}. Is it running, and is "
                        "the URL right? (--to, LOCALTRACK_BASE_URL or `localtrack login URL`)"
                    ) from exc
                last = exc
                continue
            self._contacted = True
            try:
                return self._check(request, response)
            except TransientSyncError as exc:
                last = exc
        assert last is not None
        raise last

    def _check(self, request: Request, response: Response) -> Response:
        status = response.status
        if 200 <= status < 300:
            return response
        what = f"{request.method} {request.path}"
        code, message, details = _envelope(response)
        if status == 429 or status >= 500:
            retry_after = _retry_after(response.headers.get("retry-after"))
            raise TransientSyncError(f"{what}: {status} {message}", retry_after)
        if status in (401, 403):
            raise AuthError(
                f"{message} (HTTP {status} from {self.url}). "
                "Check the key: `localtrack login URL` or LOCALTRACK_API_KEY."
            )
        raise RemoteError(f"{what}: {message}", status, code, details)

    # -- the API ------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        response = self.call(lambda: Request("GET", protocol.INFO_PATH, self._headers(None)))
        data = response.json()
        if not isinstance(data, dict):
            raise ProtocolError("the info reply is not a JSON object")
        return data

    def negotiate(self, manifests: Sequence[protocol.Manifest]) -> list[protocol.RunVerdict]:
        body = protocol.canonical_json(protocol.negotiate_request(manifests)).encode()
        response = self.call(
            lambda: Request(
                "POST", protocol.NEGOTIATE_PATH, self._headers("application/json"), body
            )
        )
        verdicts = protocol.parse_negotiate_reply(response.json())
        if [v.run_id for v in verdicts] != [m.run_id for m in manifests]:
            raise ProtocolError(
                "the negotiate reply does not answer the runs that were asked about"
            )
        return verdicts

    def commit(self, manifest: protocol.Manifest) -> dict[str, Any]:
        body = protocol.canonical_json(protocol.commit_request(manifest)).encode()
        response = self.call(
            lambda: Request("POST", protocol.COMMIT_PATH, self._headers("application/json"), body)
        )
        data = response.json()
        if not isinstance(data, dict):
            raise ProtocolError("the commit reply is not a JSON object")
        return data

    def request_json(self, method: str, path: str, body: Any = None) -> Any:
        """One JSON call to the server's API (sweeps' controller routes), retried like the rest."""
        data = None if body is None else json.dumps(body, allow_nan=False).encode()
        headers = self._headers(None if data is None else "application/json")
        return self.call(lambda: Request(method, path, headers, data)).json()

    def put_blob(self, sha256: str, size: int, opener: Callable[[], BinaryIO]) -> None:
        """Upload one blob, hashing it while it is read; a transfer the server finds damaged is
        sent again, a file that no longer matches its hash raises LocalFileChangedError."""
        readers: list[_HashingReader] = []

        def open_hashing() -> BinaryIO:
            reader = _HashingReader(opener(), size)
            readers.append(reader)
            return reader  # type: ignore[return-value]

        def request() -> Request:
            headers = self._headers("application/octet-stream")
            return Request(
                "PUT", protocol.BLOB_PATH + sha256, headers, open_hashing, content_length=size
            )

        for attempt in range(3):
            try:
                self.call(request)
            except LocalFileChangedError:
                raise
            except RemoteError as exc:
                local = readers[-1] if readers else None
                if local is not None and local.digest.hexdigest() != sha256 and not local.short:
                    raise LocalFileChangedError(
                        f"blob {sha256[:12]}… no longer matches its file on disk"
                    ) from exc
                if exc.code == "digest_mismatch" and attempt < 2:
                    self.stats.transit_errors.append(str(exc))
                    continue  # damaged on the way: send it again
                raise
            local = readers[-1]
            if local.digest.hexdigest() != sha256:
                raise LocalFileChangedError(f"blob {sha256[:12]}… no longer matches its file")
            self.stats.blobs_sent += 1
            self.stats.bytes_sent += size
            return


def _envelope(response: Response) -> tuple[str, str, dict[str, Any]]:
    try:
        data = response.json()
        error = data["error"]
        return str(error.get("code") or "error"), str(error.get("message") or ""), dict(error)
    except (ProtocolError, KeyError, TypeError, AttributeError):
        text = response.body[:200].decode("utf-8", "replace").strip()
        return "error", text or f"HTTP {response.status}", {}


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def connect(
    url: str, api_key: str | None, timeout: float = 60.0, retry: RetryPolicy | None = None
) -> Remote:
    """A Remote over HTTP to the server at `url`."""
    from .transport import HTTPTransport

    return Remote(HTTPTransport(url, timeout), api_key, retry)
