"""The route registry's vocabulary: what a ``Route`` and its access ``Policy`` are, the
constructors the tables use, and the policies they share (webui/routes.py holds the tables)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

API_PREFIX = "/api/v1"
KINDS = ("page", "api", "ingest", "auth", "health", "static")
DOCUMENTED_KINDS = ("api", "health")  # each has a `### ` heading in docs/api.md


@dataclass(frozen=True)
class Policy:
    """What an endpoint needs: a role ("public", "read", "write", "admin") and where the
    project it touches comes from ("none", "all" = every project, "project" view argument,
    "run" view argument, "runs" query argument, "view" = the view checks it itself)."""

    role: str
    scopes: tuple[str, ...] = ("none",)


PUBLIC = Policy("public")
READ = Policy("read")


@dataclass(frozen=True)
class Route:
    """One URL the apps answer. ``rule`` is relative to ``prefix`` (the blueprint's)."""

    endpoint: str
    rule: str
    kind: str
    policy: Policy | None
    doc: str
    methods: tuple[str, ...] = ("GET",)
    prefix: str = ""
    twin: str | None = None  # a page's /api/v1 twin (an endpoint)
    js: str | None = None  # its name in the page scripts' URL map
    query: str = ""  # the query arguments the index lists ("?q&tag")
    shown: str | None = None  # the path the index shows, when not the rule's
    key: str | None = None  # its name in the index, when not the endpoint's
    options: tuple[tuple[str, Any], ...] = ()  # more werkzeug Rule options

    @property
    def full_rule(self) -> str:
        return self.prefix + self.rule

    @property
    def path(self) -> str:
        """The rule with its converters dropped: ``/runs/<path:p>`` → ``/runs/<p>``."""
        return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"<\1>", self.full_rule)

    @property
    def name(self) -> str:
        return self.endpoint.split(".", 1)[-1]


def api_route(name: str, rule: str, policy: Policy, doc: str, **kw: Any) -> Route:
    return Route(f"api.{name}", rule, "api", policy, doc, prefix=API_PREFIX, **kw)


def page_route(name: str, rule: str, policy: Policy, twin: str, doc: str, js: str) -> Route:
    return Route(f"pages.{name}", rule, "page", policy, doc, twin=twin, js=js)


def ingest_route(name: str, rule: str, method: str, policy: Policy, doc: str) -> Route:
    return Route(f"ingest.{name}", rule, "ingest", policy, doc, (method,), API_PREFIX)


RUN, RUNS, PROJECT = (
    Policy("read", ("run",)),
    Policy("read", ("runs",)),
    Policy("read", ("project",)),
)
COMPARE = Policy("read", ("project", "runs"))
WRITE, WRITE_OWN = Policy("write"), Policy("write", ("view",))
WRITE_PROJECT = Policy("write", ("project",))
OWN = Policy("read", ("view",))  # lists only the key's projects
NO_MERGE = (("merge_slashes", False),)
SERIES_ARGS = "?runs=ID,ID&key=K&x&x0&x1"
ADMIN_PROJECT = Policy("admin", ("project",))  # destinations make the server send requests
