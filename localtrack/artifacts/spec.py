"""Parsing artifact references: "name", "name:v3", "project/name:alias", "entity/project/name:x"."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError
from ..store.artifacts.layout import LATEST, check_name, join_namespace, split_namespace


@dataclass(frozen=True)
class Spec:
    """`project` is the namespace ("project" or "entity/project"), None when none was named
    and no default was given; `exact` is whether the reference named its entity."""

    project: str | None
    name: str
    label: str
    exact: bool = False


def parse_spec(spec: str, default_project: str | None = None) -> Spec:
    """The namespace, name and version label ('latest' when none) a reference string names.

    `default_project` is the namespace of the caller (a run's "entity/project"): "name" is
    looked for there and "project/name" in that entity, as W&B does.
    """
    if not isinstance(spec, str) or not spec:
        raise UsageError(f"artifact reference {spec!r} must be a non-empty string")
    path, _, label = spec.partition(":")
    parts = path.split("/")
    if len(parts) > 3 or any(p == "" for p in parts):
        raise UsageError(
            f"artifact reference {spec!r} must look like name[:alias], project/name[:alias] "
            "or entity/project/name[:alias]"
        )
    name = check_name(parts[-1])
    default_entity = split_namespace(default_project)[0] if default_project else None
    if len(parts) == 3:
        entity = check_name(parts[0], "entity name")
        project = join_namespace(entity, check_name(parts[1], "project name"))
    elif len(parts) == 2:
        project = join_namespace(default_entity, check_name(parts[0], "project name"))
    else:
        project = default_project
    return Spec(project, name, label or LATEST, exact=len(parts) == 3)
