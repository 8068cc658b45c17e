"""The /login and /logout pages: a key typed once becomes a signed session cookie.

The form carries its own CSRF token (a cookie scoped to /login), failed logins are rate limited
per address, and ``next`` may only point back into this site.
"""

from __future__ import annotations

import hmac
import secrets
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, redirect, render_template_string, request

from .access import deny
from .audit import record, record_failed_login
from .sessions import SESSION_COOKIE, SESSION_SECONDS

if TYPE_CHECKING:
    from .auth import AuthConfig

LOGIN_COOKIE = "lt_login"

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
    token = request.form.get("api_key", "").strip()
    key = cfg.keys.authenticate(token)
    if key is None:
        wait = cfg.failures.take(request.remote_addr or "?")
        if wait:
            return deny(429, "rate_limited", "too many failed logins; slow down", wait)
        record_failed_login(cfg.keys, token, "session")
        return _login_page("That key is wrong or revoked.", 401, next_url)
    record("login.ok", key.id, user=key.user, key_id=key.id, via="session")
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
