"""Who may do what on a server: keys, sessions, CSRF, Host allowlist, rate limits. Deny by default.

Every endpoint has an entry in ``POLICIES`` (the role it needs and how its project scope is
found); a request to an endpoint without one is refused, so a route added without a policy fails
closed (``tests/test_security.py`` walks ``app.url_map`` to catch it early).

Credentials: ``Authorization: Bearer lt_…`` for scripts and sync; a signed session cookie
(HttpOnly, SameSite=Strict) for the browser, set by ``POST /login`` with a key. State-changing
requests that ride on the cookie must carry its CSRF token (``X-CSRF-Token`` header or a
``csrf_token`` form field). With no active key, the server answers loopback clients only.
Scoped keys see their project only: a run or project outside the scope answers 404, exactly as
one that does not exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    redirect,
    render_template_string,
    request,
)

from localtrack.errors import RunNotFoundError
from localtrack.keys import ApiKey, KeyStore

from .responses import error_json, ui_state

log = logging.getLogger(__name__)

SESSION_COOKIE = "lt_session"
LOGIN_COOKIE = "lt_login"
SESSION_SECONDS = 12 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class Policy:
    """What an endpoint needs: a role ("public", "read", "write", "admin") and where the
    project it touches comes from ("none", "all" = every project, "project" view argument,
    "run" view argument, "runs" query argument, "view" = the view checks it itself)."""

    role: str
    scopes: tuple[str, ...] = ("none",)


PUBLIC = Policy("public")
POLICIES: dict[str, Policy] = {
    "static": PUBLIC,
    "health.healthz": PUBLIC,
    "auth.login_form": PUBLIC,
    "auth.login": PUBLIC,
    "auth.logout": Policy("read"),
    "pages.projects": Policy("read", ("all",)),
    "pages.runs": Policy("read", ("project",)),
    "pages.compare": Policy("read", ("project", "runs")),
    "pages.run": Policy("read", ("run",)),
    "api.index": Policy("read"),
    "api.projects": Policy("read", ("all",)),
    "api.runs": Policy("read", ("project",)),
    "api.compare": Policy("read", ("project", "runs")),
    "api.run": Policy("read", ("run",)),
    "api.series": Policy("read", ("runs",)),
    "api.export_chart": Policy("read", ("runs",)),
    "api.history": Policy("read", ("run",)),
    "api.changes": Policy("read"),
    "api.media": Policy("read", ("run",)),
    "api.media_file": Policy("read", ("run",)),
    "api.table": Policy("read", ("run",)),
    "api.histograms": Policy("read", ("run",)),
    "api.histogram": Policy("read", ("run",)),
    "api.console": Policy("read", ("run",)),
    "api.environment": Policy("read", ("run",)),
    "api.run_file": Policy("read", ("run",)),
    "ingest.info": Policy("read"),
    "ingest.negotiate": Policy("write", ("view",)),
    "ingest.put_blob": Policy("write"),
    "ingest.commit": Policy("write", ("view",)),
}


@dataclass(frozen=True)
class Principal:
    """Who is asking: a key, or the local user of a server without keys."""

    id: str
    user: str
    role: str
    project: str | None
    via: str  # "bearer", "session", "loopback"
    key: ApiKey | None = None

    def has_role(self, role: str) -> bool:
        order = ("read", "write", "admin")
        return order.index(self.role) >= order.index(role)

    def can_access(self, project: str | None) -> bool:
        return self.key is None or self.key.can_access(project)


def principal() -> Principal | None:
    """The principal of the current request (set by the auth hook)."""
    return g.get("localtrack_principal")


# -- rate limits ---------------------------------------------------------------------------------


class RateLimiter:
    """Token buckets per key: `rate` requests per second, bursts up to `burst`. rate 0 = off."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str) -> float:
        """0 if allowed now, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(who, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[who] = (tokens - 1.0, now)
                return 0.0
            self._buckets[who] = (tokens, now)
            if len(self._buckets) > 100_000:
                self._buckets.clear()
            return (1.0 - tokens) / self.rate


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        log.warning("%s=%r is not a number; using %s", name, raw, default)
        return default


# -- sessions ------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    """Stateless signed session cookies; the key behind one is checked on every request."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self.secret, payload.encode(), hashlib.sha256).digest())

    def issue(self, key: ApiKey) -> str:
        body = {"k": key.id, "e": int(time.time() + SESSION_SECONDS), "n": secrets.token_hex(16)}
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload)}"

    def read(self, cookie: str | None) -> dict[str, Any] | None:
        if not cookie or cookie.count(".") != 1:
            return None
        payload, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            body = json.loads(_unb64(payload))
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(body, dict) or float(body.get("e", 0)) < time.time():
            return None
        return body

    def csrf_token(self, session: dict[str, Any]) -> str:
        return self._mac("csrf|" + str(session.get("n")))


# -- the hook ------------------------------------------------------------------------------------


@dataclass
class AuthConfig:
    keys: KeyStore
    sessions: Sessions
    allowed_hosts: frozenset[str]
    limiter: RateLimiter
    failures: RateLimiter


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_loopback(addr: str | None) -> bool:
    try:
        return ipaddress.ip_address(addr or "").is_loopback
    except ValueError:
        return False


def _deny(status: int, code: str, message: str, retry_after: float | None = None) -> Response:
    response = error_json(status, message, code)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="localtrack"'
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


def _is_page() -> bool:
    return not request.path.startswith("/api/") and request.method in SAFE_METHODS


def _identify(cfg: AuthConfig) -> Principal | Response | None:
    if cfg.keys.active_count() == 0:
        proxied = any(h in request.headers for h in ("Forwarded", "X-Forwarded-For", "X-Real-Ip"))
        local_name = _hostname(request.host) in LOOPBACK_NAMES
        if _is_loopback(request.remote_addr) and local_name and not proxied:
            # Loopback for real: not a reverse proxy on this machine relaying someone else.
            return Principal("local", "local", "admin", None, "loopback")
        return _deny(
            403,
            "no_keys",
            "this server has no API keys yet, so it answers loopback clients only. Create the "
            "first admin key on the server: localtrack keys create --user admin --role admin --dir DIR",
        )
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        key = cfg.keys.authenticate(token.strip()) if scheme.lower() == "bearer" else None
        if key is None:
            wait = cfg.failures.take(request.remote_addr or "?")
            if wait:
                return _deny(429, "rate_limited", "too many failed logins; slow down", wait)
            return _deny(401, "unauthorized", "the API key is wrong, revoked or malformed")
        return Principal(key.id, key.user, key.role, key.project, "bearer", key)
    session = cfg.sessions.read(request.cookies.get(SESSION_COOKIE))
    if session is not None:
        key = cfg.keys.get(str(session.get("k")))
        if key is not None and key.active:
            g.localtrack_session = session
            return Principal(key.id, key.user, key.role, key.project, "session", key)
    return None


def _requested_runs(scope: str) -> list[str]:
    if scope == "run":
        return [str((request.view_args or {}).get("run_id", ""))]
    raw = request.args.get("runs") or ""
    return [r for r in raw.replace(" ", ",").split(",") if r]


def _planted(run_id: str) -> bool:
    """A run directory that is a symlink, or leads outside the store: never served."""
    reader = ui_state().reader
    try:
        run_id = reader.resolve_run_id(run_id)
    except RunNotFoundError:
        return False
    runs = os.path.realpath(reader.root / "runs")
    path = reader.root / "runs" / run_id
    real = os.path.realpath(path)
    return path.is_symlink() or os.path.dirname(real) != runs


def _check_run_dirs(policy: Policy) -> Response | None:
    for scope in policy.scopes:
        if scope in ("run", "runs"):
            for run_id in _requested_runs(scope):
                if _planted(run_id):
                    log.warning("refusing run %r: its directory is a link out of the store", run_id)
                    return _deny(404, "not_found", f"no run {run_id!r} here")
    return None


def _check_scope(who: Principal, policy: Policy) -> Response | None:
    if who.key is None or who.key.project is None:
        return None
    reader = ui_state().reader
    for scope in policy.scopes:
        if scope == "all":
            return _deny(
                403,
                "forbidden",
                f"this key is limited to project {who.key.project!r}; open that project",
            )
        if scope == "project":
            project = (request.view_args or {}).get("project")
            if not who.can_access(project):
                return _deny(404, "not_found", f"there is no project named {project!r} here")
        if scope in ("run", "runs"):
            for run_id in _requested_runs(scope):
                try:
                    info = reader.run(run_id)
                except RunNotFoundError:
                    continue  # the view answers 404 itself
                if not who.can_access(info.project):
                    return _deny(404, "not_found", f"no run {run_id!r} here")
    return None


def _check_csrf(cfg: AuthConfig, who: Principal) -> Response | None:
    if request.method in SAFE_METHODS or who.via != "session":
        return None
    session = g.get("localtrack_session") or {}
    expected = cfg.sessions.csrf_token(session)
    given = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return _deny(403, "csrf", "this request needs the page's CSRF token; reload the page")
    return None


def _gate(cfg: AuthConfig) -> Response | None:
    if _hostname(request.host) not in cfg.allowed_hosts:
        return _deny(
            400,
            "bad_host",
            f"this server does not answer to the host name {request.host!r} "
            "(add it with LOCALTRACK_ALLOWED_HOSTS)",
        )
    endpoint = request.endpoint
    if endpoint is None:
        return None  # no route: Flask answers 404/405 without touching anything
    policy = POLICIES.get(endpoint)
    if policy is None:
        log.error("refusing %s: endpoint %s has no access policy", request.path, endpoint)
        return _deny(403, "forbidden", f"{request.path} has no access policy; it is closed")
    who = _identify(cfg)
    if policy.role == "public":
        g.localtrack_principal = None if isinstance(who, Response) else who
        return None
    if isinstance(who, Response):
        return who
    g.localtrack_principal = who
    if who is None:
        if _is_page():
            target = quote(request.full_path.rstrip("?"), safe="/")
            return redirect(f"/login?next={target}", code=303)
        return _deny(401, "unauthorized", "this server needs an API key (Authorization: Bearer …)")
    if who.via != "loopback":
        wait = cfg.limiter.take(who.id)
        if wait:
            return _deny(429, "rate_limited", "too many requests for this key; slow down", wait)
    if not who.has_role(policy.role):
        return _deny(403, "forbidden", f"this needs a {policy.role} key; yours is {who.role}")
    return _check_csrf(cfg, who) or _check_run_dirs(policy) or _check_scope(who, policy)


def _strip_cors(response: Response) -> Response:
    if response.headers.get("Access-Control-Allow-Origin") == "*":
        del response.headers["Access-Control-Allow-Origin"]
    response.headers.add("Vary", "Cookie")
    return response


def allowed_hosts_for(host: str, extra: str | None = None) -> frozenset[str]:
    """Host names the server answers to: loopback names, the bound address, and any listed in
    `extra` (comma-separated, e.g. LOCALTRACK_ALLOWED_HOSTS="tracker.example.org")."""
    names = set(LOOPBACK_NAMES)
    if host and host not in ("0.0.0.0", "::", ""):
        names.add(_hostname(host) if not host.count(":") > 1 else host.lower())
    for name in (extra or "").split(","):
        if name.strip():
            names.add(_hostname(name))
    return frozenset(names)


def install(app: Flask, keys: KeyStore, allowed_hosts: frozenset[str]) -> AuthConfig:
    """Put the gate in front of every request of `app` and add /login and /logout."""
    cfg = AuthConfig(
        keys=keys,
        sessions=Sessions(keys.session_secret()),
        allowed_hosts=allowed_hosts,
        limiter=RateLimiter(
            _env_float("LOCALTRACK_RATE_LIMIT", 200.0), _env_float("LOCALTRACK_RATE_BURST", 1000.0)
        ),
        failures=RateLimiter(1.0, 20.0),
    )
    app.extensions["localtrack_auth"] = cfg
    app.before_request_funcs.setdefault(None, []).insert(0, lambda: _gate(cfg))
    app.after_request(_strip_cors)
    app.register_blueprint(login_pages)
    return cfg


# -- /login and /logout ------------------------------------------------------------------------

login_pages = Blueprint("auth", __name__)

_LOGIN = """{% extends "base.html" %}
{% block title %}Log in{% endblock %}
{% block content %}
<section class="card empty">
  <h1>Log in</h1>
  <p>This server needs an API key. Ask its admin for one (<code>localtrack keys create</code>).</p>
  {% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
  <form method="post" action="{{ url_for('auth.login') }}">
    <input type="hidden" name="csrf_token" value="{{ csrf }}">
    <input type="hidden" name="next" value="{{ next_url }}">
    <label>API key <input type="password" name="api_key" autocomplete="current-password" required autofocus></label>
    <button class="btn" type="submit">Log in</button>
  </form>
</section>
{% endblock %}"""


def _safe_next(value: str | None) -> str:
    """Only same-site paths: "/x", never "//evil", "/\\evil" or "https://…"."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(value)
    return "/" if parts.scheme or parts.netloc else value


def _login_page(error: str | None, status: int, next_url: str) -> Response:
    csrf = secrets.token_urlsafe(24)
    body = render_template_string(
        _LOGIN, page="login", error=error, csrf=csrf, next_url=_safe_next(next_url)
    )
    response = Response(body, status=status, mimetype="text/html")
    response.set_cookie(
        LOGIN_COOKIE,
        csrf,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
        path="/login",
    )
    return response


@login_pages.get("/login")
def login_form() -> Response:
    return _login_page(None, 200, request.args.get("next", "/"))


@login_pages.post("/login")
def login() -> Response:
    cfg: AuthConfig = current_app.extensions["localtrack_auth"]
    next_url = _safe_next(request.form.get("next"))
    expected = request.cookies.get(LOGIN_COOKIE) or ""
    given = request.form.get("csrf_token") or ""
    if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        return _login_page("The form expired; try again.", 403, next_url)
    key = cfg.keys.authenticate(request.form.get("api_key", "").strip())
    if key is None:
        wait = cfg.failures.take(request.remote_addr or "?")
        if wait:
            return _deny(429, "rate_limited", "too many failed logins; slow down", wait)
        return _login_page("That key is wrong or revoked.", 401, next_url)
    response = redirect(next_url, code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cfg.sessions.issue(key),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@login_pages.post("/logout")
def logout() -> Response:
    response = redirect("/login", code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def csrf_token() -> str | None:
    """The CSRF token of the current session (for templates and scripts), if there is one."""
    cfg: AuthConfig | None = current_app.extensions.get("localtrack_auth")
    session = g.get("localtrack_session")
    return None if cfg is None or session is None else cfg.sessions.csrf_token(session)


AuthHook = Callable[[], Response | None]
