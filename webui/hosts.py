"""The ``Host`` allowlist of every app, the plain ``localtrack ui`` included.

A page on another site can point its own name at 127.0.0.1 (DNS rebinding) and then read
whatever a local UI serves. Browsers always send the name they connected to, so answering only
known names closes that door: loopback names, the address the server is bound to, and names the
user adds (``LOCALTRACK_ALLOWED_HOSTS`` or ``--allow-host``). Binding ``0.0.0.0`` adds nothing.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from flask import Flask, Response, current_app, request

from localtrack.settings import resolve, spec

from .responses import error_json

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
ENV_VAR = spec("allowed_hosts").env
_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})
_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Unknown host name'
    "</title></head><body><h1>400 Unknown host name</h1><p>{message}</p></body></html>"
)


def hostname(host: str) -> str:
    """The name part of a ``Host`` header value: lowercased, without port or IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def allowed_hosts_for(host: str, extra: str | Iterable[str] | None = None) -> frozenset[str]:
    """Host names an app bound to `host` answers to: loopback names, the bound address (unless
    it is a wildcard such as 0.0.0.0), and `extra` (comma-separated or a list)."""
    names = set(LOOPBACK_NAMES)
    if host not in _WILDCARD_BINDS:
        names.add(host.lower() if host.count(":") > 1 else hostname(host))
    items = extra.split(",") if isinstance(extra, str) else list(extra or ())
    for name in items:
        if name.strip():
            names.add(hostname(name))
    return frozenset(names)


def from_env(host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """``allowed_hosts_for`` with the names of $LOCALTRACK_ALLOWED_HOSTS added to `extra`."""
    listed = [n for n in (resolve("allowed_hosts") or "").split(",") if n.strip()]
    return allowed_hosts_for(host, [*extra, *listed])


def describe(allowed: frozenset[str]) -> str:
    """The allowlist as the startup line shows it."""
    return ", ".join(sorted(allowed))


def refuse_foreign_host() -> Response | None:
    """400 for a request whose ``Host`` is not allowed: the JSON error on /api, a page otherwise."""
    allowed: frozenset[str] = current_app.config["LOCALTRACK_ALLOWED_HOSTS"]
    if hostname(request.host) in allowed:
        return None
    message = (
        f"this server does not answer to the host name {request.host[:100]!r}; "
        f"add it with {ENV_VAR} or --allow-host"
    )
    if request.path.startswith("/api/"):
        return error_json(400, message, "bad_host")
    # A page of its own: the site's styles and scripts would be refused under this name too.
    body = _PAGE.format(message=html.escape(message))
    return Response(body, status=400, mimetype="text/html")


def install(app: Flask, allowed: frozenset[str]) -> None:
    """Refuse every request of `app` whose Host is not in `allowed`, before anything else."""
    app.config["LOCALTRACK_ALLOWED_HOSTS"] = allowed
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_foreign_host)
