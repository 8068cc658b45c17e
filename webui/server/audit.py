"""Recording to the server's audit log (``localtrack/store/auditlog.py``) from a request.

The views that change something call ``record`` after the change succeeded: the principal of
the request gives the user and key, ``request.remote_addr`` the source (waitress's peer address:
behind a reverse proxy, the proxy's). An audit log that cannot be written is logged as an error;
the change itself stands (it has already happened). The page and JSON that read the log are in
``audit_pages.py``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, has_request_context, request

from localtrack.apikeys import KeyStore, key_id_of
from localtrack.errors import LocaltrackError
from localtrack.store.auditlog import AuditEvent, AuditLog

from .access import principal

log = logging.getLogger(__name__)
EXTENSION = "localtrack_audit"


def audit_log() -> AuditLog | None:
    """The app's audit log; None in the local UI (``localtrack ui`` keeps none)."""
    found: AuditLog | None = current_app.extensions.get(EXTENSION)
    return found


def record(
    action: str,
    target: str | None = None,
    *,
    user: str | None = None,
    key_id: str | None = None,
    **detail: Any,
) -> None:
    """Append `action` done by the current request's principal (or `user`/`key_id` given)."""
    found = audit_log()
    if found is None:
        return
    who = principal()
    if who is not None:
        user = user or who.user
        key_id = key_id or (who.key.id if who.key is not None else None)
        detail.setdefault("via", who.via)
    source = (request.remote_addr if has_request_context() else None) or "unknown"
    try:
        found.append(AuditEvent(action, user, source, key_id, target, detail))
    except LocaltrackError as exc:
        log.error("could not record %s on %s in the audit log: %s", action, target, exc)


def record_failed_login(keys: KeyStore, token: str, via: str) -> None:
    """A wrong, revoked or malformed key: the key id it names and that key's user, if any."""
    key_id = key_id_of(token)
    key = keys.get(key_id) if key_id else None
    reason = "malformed" if key_id is None else "unknown key" if key is None else "wrong secret"
    if key is not None and not key.active:
        reason = "revoked key"
    record(
        "login.failed",
        key_id,
        user=None if key is None else key.user,
        key_id=key_id,
        via=via,
        reason=reason,
    )
