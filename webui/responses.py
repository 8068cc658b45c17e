"""Response helpers shared by the blueprints: JSON bodies, the one error envelope, ETags.

Every /api/v1 error has one shape::

    {"error": {"code": "not_found", "message": "there is no project named 'x' here"}}
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, current_app, g, has_app_context, request

from .state import UIState

F = TypeVar("F", bound=Callable[..., Any])

ERROR_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    500: "internal_error",
}


def ui_state() -> UIState:
    state: UIState = current_app.extensions["localtrack"]
    return state


def json_response(data: Any, status: int = 200) -> Response:
    """Compact JSON, NaN refused (the models turn it into null or "NaN" first)."""
    body = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return Response(body, status=status, mimetype="application/json")


def error_json(status: int, message: str, code: str | None = None) -> Response:
    code = code or ERROR_CODES.get(status, "error")
    return json_response({"error": {"code": code, "message": scrub_paths(message)}}, status)


def scrub_paths(message: str) -> str:
    """`message` with the store's directory replaced by "the store": no error shows where the
    data lives on disk (messages from the store name files by their full path)."""
    if not has_app_context() or not current_app.config.get("LOCALTRACK_ROOT"):
        return message
    root = str(current_app.config["LOCALTRACK_ROOT"])
    forms = {os.path.realpath(root), os.path.abspath(root)}
    for form in sorted((f for f in forms if len(f) > 1), key=len, reverse=True):
        message = message.replace(form, "the store")
    return message


def _matches(etag: str) -> bool:
    """Whether If-None-Match names `etag`, also as the compression layer tags it ("…:br")."""
    if request.if_none_match.contains(etag):
        return True
    return any(tag.split(":", 1)[0] == etag for tag in request.if_none_match.as_set())


def conditional_data(view: F) -> F:
    """``conditional`` for views of file data only (charts): tagged by the change counter alone."""
    return _conditional(view, data_only=True)


def conditional(view: F) -> F:
    """Answer 304 when the client's ETag is current; otherwise run the view and tag its reply.

    The ETag is taken *before* the view reads the store, so data landing mid-request leads
    to one more full reply on the next poll, never to a stale reply that looks current. A view
    that answered from an older runs snapshot sets ``g.lt_etag`` to that snapshot's ETag.
    """
    return _conditional(view, data_only=False)


def _conditional(view: F, data_only: bool) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        state = ui_state()
        etag = state.data_etag() if data_only else state.etag()
        if _matches(etag):
            response = Response(status=304)
            response.set_etag(etag)
            response.headers["Cache-Control"] = "no-cache"
            return response
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code == 200:
            response.set_etag(g.get("lt_etag") or etag)
            response.headers["Cache-Control"] = "no-cache"
        return response

    return wrapper  # type: ignore[return-value]
