"""Parsing artifact references: "name", "name:v3", "project/name:alias", "entity/project/name:x"."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError
from ..store.artifacts.layout import LATEST, check_name


@dataclass(frozen=True)
class Spec:
    project: str | None
    name: str
    label: str


def parse_spec(spec: str, default_project: str | None = None) -> Spec:
    """The project, name and version label ('latest' when none) a reference string names."""
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
    project = check_name(parts[-2], "project name") if len(parts) >= 2 else default_project
    return Spec(project, name, label or LATEST)
