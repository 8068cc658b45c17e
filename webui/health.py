"""/healthz: answers at once, without touching the store, however many pages are polling."""

from __future__ import annotations

from flask import Blueprint, Response

from .responses import json_response

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> Response:
    return json_response({"status": "ok"})
