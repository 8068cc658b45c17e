"""Serving the UI under waitress: what ``localtrack ui`` calls.

::

    from webui.standalone import serve
    serve("./localtrack-runs", host="127.0.0.1", port=8080, open_browser=False)

The UI has no login, so it answers only the Host names of its allowlist (``hosts.py``):
loopback names, the bound address, and names added with ``allowed_hosts`` / --allow-host or
$LOCALTRACK_ALLOWED_HOSTS. That keeps a DNS-rebinding page from reading runs through a browser.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import sys
import threading
import webbrowser
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

from waitress.server import create_server

from localtrack.errors import UsageError

from . import hosts
from .app import create_app

THREADS = 8


def url_for_server(host: str, port: int) -> str:
    """The address a browser should open for a server bound to (host, port)."""
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def make_server(app: Any, host: str = "127.0.0.1", port: int = 8080, threads: int = THREADS) -> Any:
    """A bound (not yet running) waitress server; port 0 picks a free one (``.effective_port``).

    A busy or forbidden port raises UsageError naming another port to try.
    """
    sock = _bind(host, port)
    try:
        return create_server(app, sockets=[sock], threads=threads, ident="localtrack")
    except BaseException:
        sock.close()
        raise


def _bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so a failure leaks nothing of waitress's (threads, pipes)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise UsageError(f"cannot serve on {host}:{port}: unknown host ({exc.strerror})") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise _bind_error(host, port, exc) from exc
    return sock


def _bind_error(host: str, port: int, exc: OSError) -> UsageError:
    if exc.errno in (errno.EADDRINUSE, errno.EACCES):
        reason = (
            "is already in use" if exc.errno == errno.EADDRINUSE else "is not allowed for this user"
        )
        suggestion = port + 1 if 0 < port < 65535 else 8081
        return UsageError(
            f"cannot serve on {host}:{port}: the port {reason}. "
            f"Pick another with --port {suggestion} (or --port 0 for any free port)."
        )
    return UsageError(f"cannot serve on {host}:{port}: {exc.strerror or exc}")


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[None]:
    """Within: Ctrl+C (SIGINT) and SIGTERM end a waitress ``run()`` with KeyboardInterrupt.

    Also in a process that inherited SIGINT ignored, as everything a script starts in the
    background does: the UI says "Ctrl+C to stop", and it must, wherever it was started from.
    Only the main thread may install handlers; on another thread nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def open_browser_at(url: str) -> bool:
    """Open `url` in a web browser; when none can be opened, say so in one line."""
    if webbrowser.open(url):
        return True
    print(f"could not open a web browser here: open {url} by hand", file=sys.stderr, flush=True)
    return False


def serve(
    root: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 8080,
    open_browser: bool = False,
    allowed_hosts: Sequence[str] = (),
) -> None:
    """Serve the UI for the store at `root` until interrupted; prints the URL first, and the
    Host names it answers to (`allowed_hosts` and $LOCALTRACK_ALLOWED_HOSTS add to them).

    Raises localtrack.errors.UsageError when the port is busy (the message suggests --port N).
    """
    app = create_app(root, allowed_hosts=hosts.from_env(host, allowed_hosts))
    try:
        server = make_server(app, host, port)
    except UsageError:
        app.extensions["localtrack"].close()
        raise
    url = url_for_server(host, int(server.effective_port))
    names = hosts.describe(app.config["LOCALTRACK_ALLOWED_HOSTS"])
    app.extensions["localtrack"].alerts().start_evaluating()  # the store's alert rules
    print(
        f"localtrack UI for {os.fspath(root)} at {url}  (Ctrl+C to stop; answers Host: {names}; "
        f"add names with --allow-host or {hosts.ENV_VAR})",
        flush=True,
    )
    if open_browser:
        threading.Timer(0.5, open_browser_at, args=(url,)).start()
    try:
        with stopped_by_signals():
            server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        app.extensions["localtrack"].close()
