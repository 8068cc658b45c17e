"""The vocabulary of access control: who is asking (``Principal``) and how a refusal is answered.

Every refusal is the API's one JSON error envelope, with ``WWW-Authenticate`` on a 401 and
``Retry-After`` on a 429.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from flask import Response, g

from localtrack.apikeys import ApiKey

from ..responses import error_json

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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

    def can_access(self, namespace: str | None) -> bool:
        """Whether it may see the project named by `namespace` (``entity/project``)."""
        return self.key is None or self.key.can_access(namespace)

    def covers(self, entity: str | None, project: str | None) -> bool:
        """Whether it may read or write runs of `project` of `entity` (whole namespace)."""
        return self.key is None or self.key.covers(entity, project)


def principal() -> Principal | None:
    """The principal of the current request (set by the auth hook)."""
    return g.get("localtrack_principal")


def deny(status: int, code: str, message: str, retry_after: float | None = None) -> Response:
    """The error response refusing the current request (401, 403, 404 or 429)."""
    response = error_json(status, message, code)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="localtrack"'
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


def missing_message(kind: str, name: str) -> str:
    """The one message for a run or project that is not there *or* not the key's to see."""
    shown = name if len(name) <= 80 else name[:77] + "..."
    if kind == "project":
        return f"there is no project named {shown!r} here"
    return f"no run {shown!r} here"


def not_found(kind: str, name: str) -> Response:
    """404 for a missing run or project; the same whether it is absent or out of scope."""
    return deny(404, "not_found", missing_message(kind, name))


def can_see(project: str) -> bool:
    """Whether the current request may see `project` (any project without auth)."""
    who = principal()
    return who is None or who.can_access(project)


def listing_options() -> dict[str, Any]:
    """How the projects list is shown to this request: only visible projects, and the store's
    directory only on a local UI (never on a server with keys)."""
    from flask import current_app

    return {"visible": can_see, "show_root": not current_app.config.get("LOCALTRACK_SERVER")}
