"""Who may do what on a server: the gate in front of every request. Deny by default.

The gate checks, in order: the Host allowlist (``hosts.py``); the endpoint's policy
(``policies.py``; no policy, no access); who is asking; the key's rate limit (``ratelimit.py``);
its role; the CSRF token of a session (``sessions.py``); and that the project or runs it names
exist and lie in the key's namespace.

Credentials: ``Authorization: Bearer lt_…`` for scripts and sync; a signed session cookie
(HttpOnly, SameSite=Strict) for the browser, set by ``POST /login`` with a key (``login.py``).
Before its first key was ever created, the server answers direct loopback clients only (as the
local user); once a key has existed, loopback is treated like any other address, even when
every key has been revoked since.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from urllib.parse import quote

from flask import Flask, Response, current_app, g, redirect, request

from localtrack.apikeys import KeyStore
from localtrack.settings import resolve

from .. import hosts
from .access import SAFE_METHODS, Principal, deny
from .audit import record_failed_login
from .login import login_pages
from .policies import POLICIES, check_targets
from .ratelimit import Limiter, RateLimiter, SharedRateLimiter
from .sessions import SESSION_COOKIE, Sessions, check_csrf

log = logging.getLogger(__name__)

LOOPBACK_NAMES = hosts.LOOPBACK_NAMES
allowed_hosts_for = hosts.allowed_hosts_for
_PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-Ip")
FAILED_LOGINS_PER_S = 1.0  # per client address, after a burst of FAILED_LOGIN_BURST
FAILED_LOGIN_BURST = 20.0


@dataclass
class AuthConfig:
    """What the gate of one app checks against: its keys, sessions, host names and limits."""

    keys: KeyStore
    sessions: Sessions
    allowed_hosts: frozenset[str]
    limiter: Limiter
    failures: Limiter


def _is_loopback(addr: str | None) -> bool:
    try:
        return ipaddress.ip_address(addr or "").is_loopback
    except ValueError:
        return False


def _is_page() -> bool:
    return not request.path.startswith("/api/") and request.method in SAFE_METHODS


def _first_run(cfg: AuthConfig) -> Principal | Response:
    """Before any key ever existed: the local user on a direct loopback connection is admin."""
    proxied = any(h in request.headers for h in _PROXY_HEADERS)
    local_name = hosts.hostname(request.host) in LOOPBACK_NAMES
    if _is_loopback(request.remote_addr) and local_name and not proxied:
        # Loopback for real: not a reverse proxy on this machine relaying someone else.
        return Principal("local", "local", "admin", None, "loopback")
    return deny(
        403,
        "no_keys",
        "this server has no API keys yet, so it answers loopback clients only. Create the "
        "first admin key on the server: localtrack keys create --user admin --role admin --dir DIR",
    )


def _identify(cfg: AuthConfig) -> Principal | Response | None:
    if not cfg.keys.ever_had_keys():
        return _first_run(cfg)
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        key = cfg.keys.authenticate(token.strip()) if scheme.lower() == "bearer" else None
        if key is None:
            wait = cfg.failures.take(request.remote_addr or "?")
            if wait:
                return deny(429, "rate_limited", "too many failed logins; slow down", wait)
            record_failed_login(cfg.keys, token.strip(), "bearer")
            return deny(401, "unauthorized", "the API key is wrong, revoked or malformed")
        return Principal(key.id, key.user, key.role, key.project, "bearer", key)
    session = cfg.sessions.read(request.cookies.get(SESSION_COOKIE))
    if session is not None:
        key = cfg.keys.get(str(session.get("k")))
        if key is not None and key.active:
            g.localtrack_session = session
            return Principal(key.id, key.user, key.role, key.project, "session", key)
    return None


def _gate(cfg: AuthConfig) -> Response | None:
    refused = hosts.refuse_foreign_host()
    if refused is not None:
        return refused
    endpoint = request.endpoint
    if endpoint is None:
        return None  # no route: Flask answers 404/405 without touching anything
    policy = POLICIES.get(endpoint)
    if policy is None:
        log.error("refusing %s: endpoint %s has no access policy", request.path, endpoint)
        return deny(403, "forbidden", f"{request.path} has no access policy; it is closed")
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
        return deny(401, "unauthorized", "this server needs an API key (Authorization: Bearer …)")
    if who.via != "loopback":
        wait = cfg.limiter.take(who.id)
        if wait:
            return deny(429, "rate_limited", "too many requests for this key; slow down", wait)
    if not who.has_role(policy.role):
        return deny(403, "forbidden", f"this needs a {policy.role} key; yours is {who.role}")
    return check_csrf(cfg.sessions, who) or check_targets(who, policy)


def _strip_cors(response: Response) -> Response:
    if response.headers.get("Access-Control-Allow-Origin") == "*":
        del response.headers["Access-Control-Allow-Origin"]
    response.headers.add("Vary", "Cookie")
    return response


def _limiter(keys: KeyStore, kind: str, rate: float, burst: float) -> Limiter:
    """Buckets in the keys' PostgreSQL database (shared by replicas), else in this process."""
    if keys.index_url:
        return SharedRateLimiter(keys.index_url, kind, rate, burst)
    return RateLimiter(rate, burst)


def install(app: Flask, keys: KeyStore, allowed_hosts: frozenset[str]) -> AuthConfig:
    """Put the gate in front of every request of `app` and add /login and /logout."""
    cfg = AuthConfig(
        keys=keys,
        sessions=Sessions(keys.session_secret()),
        allowed_hosts=allowed_hosts,
        limiter=_limiter(keys, "key", resolve("rate_limit"), resolve("rate_burst")),
        failures=_limiter(keys, "login", FAILED_LOGINS_PER_S, FAILED_LOGIN_BURST),
    )
    app.extensions["localtrack_auth"] = cfg
    app.config["LOCALTRACK_ALLOWED_HOSTS"] = allowed_hosts
    app.before_request_funcs.setdefault(None, []).insert(0, lambda: _gate(cfg))
    app.after_request(_strip_cors)
    app.register_blueprint(login_pages)
    return cfg


def csrf_token() -> str | None:
    """The CSRF token of the current session (for templates and scripts), if there is one."""
    cfg: AuthConfig | None = current_app.extensions.get("localtrack_auth")
    session = g.get("localtrack_session")
    return None if cfg is None or session is None else cfg.sessions.csrf_token(session)
