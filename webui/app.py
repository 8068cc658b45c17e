"""The Flask app factory: blueprints, security headers on every response, and error pages.

No response ever carries a traceback or the store's directory: /api/v1 errors use the one JSON
envelope (``responses.error_json``), everything else a friendly HTML page. Every app answers only
the ``Host`` names of its allowlist (``hosts.py``).
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask, Response, render_template, request
from flask_compress import Compress
from werkzeug.exceptions import HTTPException

from localtrack.errors import IndexUnavailableError, LocaltrackError, RunNotFoundError, UsageError
from localtrack.store.reader import StoreReader

from . import filters, hosts
from .api import api
from .bundles import bundles, script_bundle
from .health import health
from .live import ChangeFeed
from .pages import pages
from .responses import error_json, scrub_paths
from .routes import API_PREFIX, js_urls
from .runapi import runapi
from .state import UIState

log = logging.getLogger(__name__)

CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}


# Replies are compressed on the way out (flask-compress): chart columns, JSON, scripts and CSS.
# Browsers offer brotli and zstd only over HTTPS, so gzip is what a local UI mostly uses.
COMPRESSED: dict[str, Any] = {
    "COMPRESS_MIMETYPES": [
        "application/json",
        "application/vnd.localtrack.chart",
        "text/html",
        "text/css",
        "text/javascript",
        "application/javascript",
    ],
    "COMPRESS_ALGORITHM": ["br", "gzip"],
    "COMPRESS_LEVEL": 6,
    "COMPRESS_BR_LEVEL": 4,
    "COMPRESS_MIN_SIZE": 1024,
}


def create_app(
    root: str | os.PathLike[str],
    *,
    watch: bool = True,
    rescan_interval: float = 2.0,
    poll_interval_ms: int = 1000,
    polling_observer: bool | None = None,
    config: dict[str, Any] | None = None,
    allowed_hosts: frozenset[str] | None = None,
) -> Flask:
    """Build the UI app for the store at `root`.

    allowed_hosts: the Host names it answers to (default: loopback names plus
    $LOCALTRACK_ALLOWED_HOSTS; ``hosts.allowed_hosts_for`` makes one for a bound address).

    watch: follow changes with watchdog + a periodic rescan (else every ETag asks the store).
    poll_interval_ms: how often open pages poll for changes (they get 304 while nothing changed).
    polling_observer: force watchdog's polling observer (default: only on network filesystems).
    """
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=1 << 20,
        LOCALTRACK_ROOT=str(Path(root)),
        LOCALTRACK_POLL_MS=int(poll_interval_ms),
    )
    app.config.update(COMPRESSED)
    app.config.update(config or {})
    Compress(app)
    hosts.install(app, allowed_hosts if allowed_hosts is not None else hosts.from_env("127.0.0.1"))
    reader = StoreReader(root)
    feed = ChangeFeed(reader, rescan_interval, polling_observer).start() if watch else None
    state = UIState(reader, feed)
    app.extensions["localtrack"] = state
    if watch:
        state.warm_up()
    app.register_blueprint(pages)
    app.register_blueprint(health)
    app.register_blueprint(bundles)
    app.register_blueprint(api, url_prefix=API_PREFIX)
    app.register_blueprint(runapi, url_prefix=API_PREFIX)
    filters.register(app)
    app.context_processor(lambda: {"url_templates": js_urls()})
    app.jinja_env.globals["script_bundle"] = script_bundle
    app.after_request(_security_headers)
    _register_errors(app)
    return app


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _is_api() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def _error(status: int, title: str, message: str) -> Any:
    message = scrub_paths(message)
    if _is_api():
        return error_json(status, message)
    body = render_template("error.html", status=status, title=title, message=message)
    return Response(body, status=status, mimetype="text/html")


def _register_errors(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        if status == 404 and _is_api():
            return _error(
                404, "Not found", f"no API route {request.path}; GET {API_PREFIX}/ lists them"
            )
        if status == 404:
            message = f"Nothing lives at {request.path}. Start again from the projects page."
            return _error(404, "Page not found", message)
        return _error(status, exc.name, exc.description or exc.name)

    @app.errorhandler(RunNotFoundError)
    def not_found(exc: RunNotFoundError) -> Any:
        return _error(404, "Not found", str(exc))

    @app.errorhandler(UsageError)
    def bad_request(exc: UsageError) -> Any:
        return _error(400, "Bad request", str(exc))

    @app.errorhandler(IndexUnavailableError)
    def index_down(exc: IndexUnavailableError) -> Any:
        # a PostgreSQL index (or the keys in it) not answering: a client retries after a while
        log.warning("index unavailable on %s: %s", request.path, exc)
        response = _error(503, "The index is unavailable", f"{exc}; try again shortly")
        response.headers["Retry-After"] = "2"
        return response

    @app.errorhandler(LocaltrackError)
    def store_error(exc: LocaltrackError) -> Any:
        log.warning("store error on %s: %s", request.path, exc)
        return _error(500, "The store could not be read", str(exc))

    @app.errorhandler(OSError)
    def os_error(exc: OSError) -> Any:
        if exc.errno == errno.ENAMETOOLONG:  # a name no file can have: nothing lives there
            return _error(404, "Not found", "nothing here has a name that long")
        return internal_error(exc)

    @app.errorhandler(Exception)
    def internal_error(exc: Exception) -> Any:
        log.exception("unexpected error on %s", request.path)
        message = "something went wrong on the server; the details are in its log"
        return _error(500, "Internal error", message)
