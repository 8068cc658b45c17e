"""Browser sessions: stateless signed cookies, and the CSRF token that state changes on one need.

The cookie (HttpOnly, SameSite=Strict) is set by ``POST /login`` with a key (``login.py``); the
key behind it is checked again on every request. Requests that change state and ride on the
cookie must carry its CSRF token (``X-CSRF-Token`` header or a ``csrf_token`` form field).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any

from flask import Response, g, request
from itsdangerous import BadSignature, Signer

from localtrack.apikeys import ApiKey

from .access import SAFE_METHODS, Principal, deny

SESSION_COOKIE = "lt_session"
SESSION_SECONDS = 12 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    """Stateless signed session cookies; the key behind one is checked on every request.

    A cookie is ``<base64 JSON>.<signature>`` (itsdangerous, HMAC-SHA256): the JSON names the
    key (``k``), the expiry (``e``, 12 h after login) and a random nonce (``n``) that the
    session's CSRF token is a signature of, under a salt of its own.
    """

    def __init__(self, secret: bytes) -> None:
        self._cookie = Signer(secret, salt="localtrack.session", digest_method=hashlib.sha256)
        self._csrf = Signer(secret, salt="localtrack.csrf", digest_method=hashlib.sha256)

    def issue(self, key: ApiKey) -> str:
        body = {"k": key.id, "e": int(time.time() + SESSION_SECONDS), "n": secrets.token_hex(16)}
        return self._cookie.sign(_b64(json.dumps(body, separators=(",", ":")).encode())).decode()

    def read(self, cookie: str | None) -> dict[str, Any] | None:
        if not cookie:
            return None
        try:
            body = json.loads(_unb64(self._cookie.unsign(cookie).decode()))
        except (BadSignature, ValueError, UnicodeDecodeError):
            return None
        if not isinstance(body, dict) or float(body.get("e", 0)) < time.time():
            return None
        return body

    def csrf_token(self, session: dict[str, Any]) -> str:
        return self._csrf.get_signature(str(session.get("n"))).decode()

    def csrf_token_matches(self, session: dict[str, Any], given: str) -> bool:
        return self._csrf.verify_signature(str(session.get("n")), given)


def check_csrf(sessions: Sessions, who: Principal) -> Response | None:
    """Refuse a state-changing request on a session cookie without the session's CSRF token."""
    if request.method in SAFE_METHODS or who.via != "session":
        return None
    session = g.get("localtrack_session") or {}
    given = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    if not sessions.csrf_token_matches(session, given):
        return deny(403, "csrf", "this request needs the page's CSRF token; reload the page")
    return None
