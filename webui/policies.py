"""Who may call which endpoint: a role and a project scope per endpoint, and the scope checks.

Every endpoint has an entry in ``POLICIES`` (the role it needs and how its project scope is
found); a request to an endpoint without one is refused, so a route added without a policy fails
closed (``tests/test_security.py`` walks ``app.url_map`` to catch it early). Scoped keys see
their project only: a run or project outside the scope answers 404, exactly as one that does not
exist.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from flask import Response, request

from localtrack.errors import RunNotFoundError

from .access import Principal, deny
from .responses import ui_state

log = logging.getLogger(__name__)


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
    "pages.projects": Policy("read", ("view",)),  # lists only the key's projects
    "pages.runs": Policy("read", ("project",)),
    "pages.compare": Policy("read", ("project", "runs")),
    "pages.run": Policy("read", ("run",)),
    "api.index": Policy("read"),
    "api.projects": Policy("read", ("view",)),  # lists only the key's projects
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


def check_run_dirs(policy: Policy) -> Response | None:
    """Refuse (404) a requested run whose directory is a link out of the store."""
    for scope in policy.scopes:
        if scope in ("run", "runs"):
            for run_id in _requested_runs(scope):
                if _planted(run_id):
                    log.warning("refusing run %r: its directory is a link out of the store", run_id)
                    return deny(404, "not_found", f"no run {run_id!r} here")
    return None


def check_scope(who: Principal, policy: Policy) -> Response | None:
    """Refuse a scoped key a project or run outside its project (404; 403 for all projects)."""
    if who.key is None or who.key.project is None:
        return None
    reader = ui_state().reader
    for scope in policy.scopes:
        if scope == "all":
            return deny(
                403,
                "forbidden",
                f"this key is limited to project {who.key.project!r}; open that project",
            )
        if scope == "project":
            project = (request.view_args or {}).get("project")
            if not who.can_access(project):
                return deny(404, "not_found", f"there is no project named {project!r} here")
        if scope in ("run", "runs"):
            for run_id in _requested_runs(scope):
                try:
                    info = reader.run(run_id)
                except RunNotFoundError:
                    continue  # the view answers 404 itself
                if not who.can_access(info.namespace):
                    return deny(404, "not_found", f"no run {run_id!r} here")
    return None
