"""Who may call which endpoint: a role and a project scope per endpoint, and the scope checks.

Every endpoint has an entry in ``POLICIES`` (the role it needs and how its project scope is
found), declared beside its URL rule in the route registry (``webui/routes.py``); a request
to an endpoint without one is refused, so a route added without a policy fails closed (``tests/test_security.py`` walks ``app.url_map`` to catch it early). Scoped keys see
their namespace (``entity/project``, compared whole) only: a run or project outside it answers
404 with the very message of one that does not exist.
"""

from __future__ import annotations

import logging
import os

from flask import Response, request

from localtrack.errors import RunNotFoundError
from localtrack.store.reader import StoreReader

from .. import routes
from ..responses import ui_state
from ..routes import PUBLIC, Policy

__all__ = ["POLICIES", "PUBLIC", "Policy", "check_targets"]
from .access import Principal, deny, not_found

log = logging.getLogger(__name__)


# One entry per endpoint, from the route registry (``webui/routes.py``), where each route
# declares the policy it needs next to its URL rule.
POLICIES: dict[str, Policy] = routes.policies()


def _requested_runs(scope: str) -> list[str]:
    if scope == "run":
        return [str((request.view_args or {}).get("run_id", ""))]
    raw = request.args.get("runs") or ""
    return [r for r in raw.replace(" ", ",").split(",") if r]


def _planted(reader: StoreReader, run_id: str) -> bool:
    """A run directory that is a symlink, or leads outside the store: never served."""
    runs = os.path.realpath(reader.root / "runs")
    path = reader.root / "runs" / run_id
    if path.is_symlink() or os.path.dirname(os.path.realpath(path)) != runs:
        log.warning("refusing run %r: its directory is a link out of the store", run_id)
        return True
    return False


def _run_visible(who: Principal, run_id: str) -> bool:
    """Whether `run_id` is here, in the store for real, and inside the key's namespace."""
    reader = ui_state().reader
    try:
        full_id = reader.resolve_run_id(run_id)
        if _planted(reader, full_id):
            return False
        if who.key is None or who.key.project is None:
            return True
        info = reader.run(full_id)
    except (RunNotFoundError, OSError):  # OSError: a name too long for the filesystem
        return False
    return who.covers(info.entity, info.project)


def _project_visible(who: Principal, project: str) -> bool:
    return who.can_access(project) and bool(ui_state().records(project))


def check_targets(who: Principal, policy: Policy) -> Response | None:
    """Refuse the project or runs a request names when they are missing, a link out of the
    store, or outside a scoped key's namespace: 404 with one message for all three, so a key
    cannot tell another project's run from no run. Lists of all projects: 403 to a scoped key."""
    scoped = who.key is not None and who.key.project is not None
    for scope in policy.scopes:
        if scope == "all" and scoped:
            return deny(
                403,
                "forbidden",
                f"this key is limited to project {who.project!r}; open that project",
            )
        if scope == "project":
            project = str((request.view_args or {}).get("project", ""))
            if not _project_visible(who, project):
                return not_found("project", project)
        if scope in ("run", "runs"):
            for run_id in _requested_runs(scope):
                if not _run_visible(who, run_id):
                    return not_found("run", run_id)
    return None
