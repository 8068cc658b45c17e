"""Helpers for the sync, bundle, server and security tests.

- ``log_runs``: real runs with several sealed shards each (the real logging client).
- ``ServerProcess``: ``python -m localtrack.cli server`` on a free 127.0.0.1 port, waited for on /healthz,
  killed with SIGKILL or stopped with SIGTERM; restartable on the same port.
- ``AppTransport``: the sync client's MockTransport wired to an in-process server app.
- ``FaultProxy``: a loopback HTTP proxy that injects resets, stalls, 503s, 429s and flipped bytes.
- ``store_files``: every synced file of a store as {run/name: sha256}, to compare two stores.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localtrack.store.reader import StoreReader
from localtrack.store.root import StoreRoot
from localtrack.sync.transport import MockTransport, Request, Response

from .conftest import PYTHON, REPO, child_env


def log_runs(
    root: Path,
    n: int = 3,
    steps: int = 400,
    project: str = "proj",
    shards: int = 3,
    keys: int = 3,
) -> list[str]:
    """`n` finished runs of `steps` steps × `keys` scalars, sealed into about `shards` pieces."""
    import localtrack

    ids = []
    every = max(1, math.ceil(steps / max(1, shards)))
    for i in range(n):
        run = localtrack.init(
            project=project,
            name=f"run-{i}",
            dir=root,
            config={"i": i},
            settings=localtrack.Settings(
                seal_scalars=1,
                flush_interval=60.0,
                system_metrics=False,
                console=False,
                save_code=False,
            ),
        )
        for step in range(steps):
            run.log({f"k{j}": math.sin(step / (7 + i + j)) for j in range(keys)})
            if (step + 1) % every == 0:
                run.flush()
        run.finish()
        ids.append(run.id)
    return ids


def store_files(root: Path | StoreRoot) -> dict[str, str]:
    """{run_id/name: sha256} of every run.json and live shard under a store directory (its own
    files, whatever index the environment names), or as an opened `StoreRoot` reads them (a
    shared-nothing server's: ``ServerBackend.reader``)."""
    from localtrack.store.runfiles import list_shards

    store = root if isinstance(root, StoreRoot) else StoreRoot(root, index_url="")
    out = {}
    for run_id in store.run_ids():
        paths = store.run(run_id)
        if paths.run_json.exists():
            out[f"{run_id}/run.json"] = _sha(paths.run_json)
        for shard in list_shards(paths):
            out[f"{run_id}/metrics/{shard.filename}"] = _sha(paths.shard(shard))
    return out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def metric_rows(root: Path | StoreReader, run_id: str) -> list[tuple[Any, ...]]:
    """A run's metric rows as read back through the store reader (overwrites resolved): of the
    store directory `root`, or through an opened reader (``ServerBackend.reader``)."""
    reader = root if isinstance(root, StoreReader) else StoreReader(root, index_url="")
    table = reader.long_table(run_id)
    return sorted(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        exc.close()
        return exc.code, json.loads(body) if body.startswith(b"{") else body.decode()


# -- a real server process ------------------------------------------------------------------------

# what names a server's backend (tests/backend_fixtures.py sets them for ``pg+s3``)
SERVER_BACKEND_VARS = frozenset(
    {"LOCALTRACK_INDEX_URL", "LOCALTRACK_BLOBS", "LOCALTRACK_S3_ENDPOINT", "LOCALTRACK_S3_REGION"}
)


@dataclass
class ServerProcess:
    """``python -m localtrack.cli server`` on 127.0.0.1; `port` stays the same across restarts.

    The server gets the backend variables of the test's environment (``server_backend``'s
    ``pg+s3`` sets them; ``SERVER_BACKEND_VARS``), then `env`, which wins."""

    root: Path
    port: int = 0
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    args: tuple[str, ...] = ()  # more options for `localtrack server` (e.g. --index URL)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> ServerProcess:
        if not self.port:
            self.port = free_port()
        self.log_path = self.root.parent / f"server-{self.root.name}-{self.port}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "localtrack.cli",
                "server",
                "--dir",
                str(self.root),
                "--create",
                "--port",
                str(self.port),
                *self.args,
            ],
            env=child_env(**{**self._backend_env(), **self.env}),
            cwd=str(REPO),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not answer /healthz in {timeout} s: {self.output()}")

    @staticmethod
    def _backend_env() -> dict[str, str]:
        """The server-backend variables of this test's environment (set by ``server_backend``
        for ``pg+s3``), which ``child_env`` leaves out of every child."""
        return {k: v for k, v in os.environ.items() if k in SERVER_BACKEND_VARS}

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def kill(self) -> None:
        """SIGKILL: no cleanup, as a crash or OOM would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run the sync commands in a child process (``python -m localtrack.cli.sync ...``)."""
    return subprocess.run(
        [PYTHON, "-m", "localtrack.cli.sync", *args],
        env=child_env(**(env or {})),
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# -- an in-process server -------------------------------------------------------------------------


class AppTransport(MockTransport):
    """The sync client's transport, answered by a Flask app's test client (no sockets)."""

    def __init__(
        self,
        app: Any,
        remote_addr: str = "127.0.0.1",
        before: Callable[[Request], Response | None] | None = None,
    ) -> None:
        self.client = app.test_client()
        self.remote_addr = remote_addr
        self.before = before
        self.requests: list[Request] = []
        super().__init__(self._handle, "http://127.0.0.1")

    def _handle(self, request: Request) -> Response:
        self.requests.append(request)
        if self.before is not None:
            injected = self.before(request)
            if injected is not None:
                return injected
        reply = self.client.open(
            request.path,
            method=request.method,
            headers=dict(request.headers),
            data=request.body or b"",
            environ_base={"REMOTE_ADDR": self.remote_addr},
        )
        return Response(
            reply.status_code, {k.lower(): v for k, v in reply.headers.items()}, reply.get_data()
        )


# -- a fault-injecting proxy ----------------------------------------------------------------------


@dataclass
class FaultPlan:
    """Probabilities per request of each fault the proxy injects."""

    reset: float = 0.0
    stall: float = 0.0
    stall_s: float = 3.0
    status_503: float = 0.0
    status_429: float = 0.0
    flip: float = 0.0
    seed: int = 0
    # injected first, each on the first request that can take it (flip: a PUT), whatever the
    # random draws and the order concurrent requests arrive in; then the probabilities
    first: tuple[str, ...] = ()


class FaultProxy:
    """HTTP/1.1 proxy on 127.0.0.1 that forwards each request on a fresh upstream connection,
    or instead: resets the connection, stalls, answers 503 or 429 itself, or flips one byte of a
    PUT body on its way to the server. Counts what it did in `injected`."""

    def __init__(self, upstream_port: int, plan: FaultPlan) -> None:
        self.upstream_port = upstream_port
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.pending = list(plan.first)
        self.lock = threading.Lock()
        self.injected: dict[str, int] = {}
        self.methods: list[str] = []  # the method of every request it received, in order
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        self.thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self.thread.start()
        return self

    def close(self) -> None:
        self.closed = True
        self.sock.close()

    def _count(self, what: str) -> None:
        with self.lock:
            self.injected[what] = self.injected.get(what, 0) + 1

    def _accept(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _choose(self, method: str) -> str | None:
        p = self.plan
        with self.lock:
            for fault in self.pending:
                if fault != "flip" or method == "PUT":
                    self.pending.remove(fault)
                    return fault
            x = self.rng.random()
        for name, prob in (
            ("reset", p.reset),
            ("stall", p.stall),
            ("503", p.status_503),
            ("429", p.status_429),
            ("flip", p.flip if method == "PUT" else 0.0),
        ):
            if x < prob:
                return name
            x -= prob
        return None

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        buf = b""
        try:
            while True:
                head, buf = _read_until(conn, buf, b"\r\n\r\n")
                if head is None:
                    return
                lines = head.split(b"\r\n")
                method = lines[0].split(b" ")[0].decode()
                with self.lock:
                    self.methods.append(method)
                length, chunked, expect = 0, False, False
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    name, value = name.strip().lower(), value.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    chunked |= name == b"transfer-encoding" and value == b"chunked"
                    expect |= name == b"expect" and value == b"100-continue"
                if expect:  # S3 clients ask before sending a body; forwarded without the ask
                    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                    head = b"\r\n".join(x for x in lines if not x.lower().startswith(b"expect:"))
                if chunked:  # forwarded as it came, chunk framing and trailers included
                    body, buf = _read_chunked(conn, buf)
                else:
                    body, buf = _read_exact(conn, buf, length)
                fault = self._choose(method)
                if fault:
                    self._count(fault)
                if fault == "reset":
                    conn.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
                    return
                if fault == "stall":
                    time.sleep(self.plan.stall_s)
                    return
                if fault in ("503", "429"):
                    status = (
                        b"503 Service Unavailable" if fault == "503" else b"429 Too Many Requests"
                    )
                    payload = json.dumps({"error": {"code": "injected", "message": fault}}).encode()
                    conn.sendall(
                        b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                        b"Retry-After: 0\r\nConnection: close\r\nContent-Length: "
                        + str(len(payload)).encode()
                        + b"\r\n\r\n"
                        + payload
                    )
                    return
                if fault == "flip" and body:
                    i = self.rng.randrange(len(body))
                    body = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
                reply = self._forward(head, body, method)
                if reply is None:
                    return
                conn.sendall(reply)
        except OSError:
            return
        finally:
            conn.close()

    def _forward(
        self, head: bytes, body: bytes, method: str = "GET", port: int | None = None
    ) -> bytes | None:
        """Send one request upstream (to `port`, default ``upstream_port``); the reply, or None
        when the upstream failed (the client's connection is then closed without a reply)."""
        lines = [
            line
            for line in head.split(b"\r\n")
            if not line.lower().startswith((b"connection:", b"keep-alive:"))
        ]
        lines.append(b"Connection: close")
        try:
            upstream = ("127.0.0.1", port or self.upstream_port)
            with socket.create_connection(upstream, timeout=30) as up:
                up.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
                head2, rest = _read_until(up, b"", b"\r\n\r\n")
                if head2 is None:
                    return None
                length, chunked = 0, False
                for line in head2.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name, value = name.strip().lower(), value.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    chunked |= name == b"transfer-encoding" and value == b"chunked"
                if method == "HEAD":  # its Content-Length is the object's; no body follows
                    payload = b""
                elif chunked:
                    payload, _ = _read_chunked(up, rest)
                else:
                    payload, _ = _read_exact(up, rest, length)
        except OSError:
            return None
        head2 = b"\r\n".join(
            line for line in head2.split(b"\r\n") if not line.lower().startswith(b"connection:")
        )
        return head2 + b"\r\n\r\n" + payload


def _read_until(conn: socket.socket, buf: bytes, marker: bytes) -> tuple[bytes | None, bytes]:
    while marker not in buf:
        data = conn.recv(65536)
        if not data:
            return None, buf
        buf += data
    head, _, rest = buf.partition(marker)
    return head, rest


def _read_exact(conn: socket.socket, buf: bytes, n: int) -> tuple[bytes, bytes]:
    while len(buf) < n:
        data = conn.recv(max(65536, n - len(buf)))
        if not data:
            raise OSError("connection closed mid-body")
        buf += data
    return buf[:n], buf[n:]


def _read_chunked(conn: socket.socket, buf: bytes) -> tuple[bytes, bytes]:
    """A chunked body as sent (sizes, data, the last chunk and any trailers), and what follows."""
    raw = b""
    while True:
        line, buf = _read_until(conn, buf, b"\r\n")
        if line is None:
            raise OSError("connection closed mid-body")
        raw += line + b"\r\n"
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            break
        data, buf = _read_exact(conn, buf, size + 2)
        raw += data
    while True:  # trailers, then the empty line
        line, buf = _read_until(conn, buf, b"\r\n")
        if line is None:
            raise OSError("connection closed mid-body")
        raw += line + b"\r\n"
        if not line:
            return raw, buf


def fast_retry(attempts: int = 40) -> Any:
    """A retry policy for tests: many attempts, tiny waits."""
    from localtrack.sync.remote import RetryPolicy

    return RetryPolicy(attempts=attempts, base_s=0.01, cap_s=0.2)


def env_without_home(tmp: Path) -> dict[str, str]:
    """Child environment whose config file lives under `tmp` (never the real home)."""
    return {"XDG_CONFIG_HOME": str(tmp / "xdg"), "HOME": str(tmp / "home")}


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


__all__ = [
    "AppTransport",
    "FaultPlan",
    "FaultProxy",
    "ServerProcess",
    "env_without_home",
    "fast_retry",
    "free_port",
    "get_json",
    "log_runs",
    "metric_rows",
    "run_cli",
    "store_files",
    "wait_until",
]


class ThreadServer:
    """An app served by waitress on 127.0.0.1 in a thread of this process (cheaper than a child)."""

    def __init__(self, app: Any) -> None:
        from webui.server.app import make_server

        self.app = app
        self.server = make_server(app, "127.0.0.1", 0, threads=4)
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.effective_port}"

    def _run(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # closed under it by __exit__
            self.server.run()

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.close()
        self.thread.join(timeout=10)
        self.app.extensions["localtrack"].close()
        self.app.extensions["localtrack_ingest"].close()
