"""Reading artifacts back (``Api().artifact`` and friends), straight from the store's files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import UsageError
from ..store.artifacts.repository import ArtifactRepository
from .artifact import Artifact
from .spec import Spec, parse_spec


def _bound(repo: ArtifactRepository, project: str, name: str, label: str) -> Artifact:
    manifest, _ = repo.resolve(project, name, label)
    return Artifact(name, manifest.type)._bind(repo, manifest)


def namespace_of_spec(spec: Spec, raw: str, holders: Callable[[], list[str]]) -> str:
    """The namespace holding the collection `spec` names. An entity named is taken as is;
    "project/name" without one is looked for in the caller's entity, then in the project
    alone, then in the one entity whose project of that name holds it; "name" alone in the
    caller's namespace, else in the one namespace holding it. `holders()` lists the
    namespaces holding a collection of that name (called only when needed)."""
    if spec.exact:
        assert spec.project is not None
        return spec.project
    found = holders()
    if spec.project is not None:
        if spec.project in found:
            return spec.project
        project = spec.project.rpartition("/")[2]
        same = [ns for ns in found if ns.rpartition("/")[2] == project]
        if project in same:
            return project
        return same[0] if len(same) == 1 else spec.project
    if len(found) != 1:
        held = "no project" if not found else "projects " + ", ".join(found)
        raise UsageError(f"artifact {raw!r}: name it as 'project/{spec.name}:…' ({held} hold it)")
    return found[0]


def artifact(
    root: Path, spec: str, type: str | None = None, default: str | None = None
) -> Artifact:
    """The version "project/name:alias" (or "entity/project/name:alias"; "name:alias" when
    exactly one project holds that name) names; `default` is the caller's namespace."""
    repo = ArtifactRepository(root)
    parsed = parse_spec(spec, default)
    project = namespace_of_spec(
        parsed, spec, lambda: [p for p, n in repo.collections() if n == parsed.name]
    )
    art = _bound(repo, project, parsed.name, parsed.label)
    if type is not None and art.type != type:
        raise UsageError(f"{art.qualified_name} has type {art.type!r}, not {type!r}")
    return art


def artifact_versions(root: Path, name: str, type: str | None = None) -> list[Artifact]:
    """Every live version of "project/name" (or "entity/project/name"), oldest first."""
    repo = ArtifactRepository(root)
    parsed = parse_spec(name)
    if parsed.project is None:
        raise UsageError(f"name the collection as 'project/{parsed.name}'")
    project = namespace_of_spec(
        parsed, name, lambda: [p for p, n in repo.collections() if n == parsed.name]
    )
    state = repo.state(project, parsed.name)
    out = [Artifact(parsed.name, m.type)._bind(repo, m) for _, m in sorted(state.live.items())]
    return [a for a in out if type is None or a.type == type]


def artifacts(
    root: Path, type: str | None = None, name: str | None = None, project: str | None = None
) -> list[Artifact]:
    """With `name` ("project/name", or "name" in any project): every live version of that
    collection, newest first, as W&B's ``Api.artifacts(type_name, name)``. Without: the latest
    version of every collection. Either way only versions of `type` (and in `project`)."""
    repo = ArtifactRepository(root)
    wanted = parse_spec(name) if name is not None else None
    out: list[Artifact] = []
    for proj, coll in repo.collections(project):
        if wanted is not None and (coll != wanted.name or not names_namespace(wanted, proj)):
            continue
        state = repo.state(proj, coll)
        if state.latest is None:
            continue
        versions = sorted(state.live, reverse=True) if wanted is not None else [state.latest]
        for v in versions:
            m = state.live[v]
            if type is None or m.type == type:
                out.append(Artifact(coll, m.type)._bind(repo, m))
    return out


def names_namespace(spec: Spec, namespace: str) -> bool:
    """Whether `spec`'s project part names `namespace` (its entity left out or not)."""
    if spec.project is None or spec.project == namespace:
        return True
    return not spec.exact and namespace.rpartition("/")[2] == spec.project


def run_artifacts(root: Path, run_id: str, used: bool) -> list[Artifact]:
    """Versions a run logged (used=False) or used (used=True)."""
    repo = ArtifactRepository(root)
    out: list[Artifact] = []
    for proj, coll in repo.collections():
        state = repo.state(proj, coll)
        if used:
            versions = sorted({u.version for u in state.uses if u.run_id == run_id})
        else:  # a registry link is the same version reached by another name, not an output
            versions = sorted(
                v for v, m in state.live.items() if m.run_id == run_id and m.linked_from is None
            )
        out += [
            Artifact(coll, state.live[v].type)._bind(repo, state.live[v])
            for v in versions
            if v in state.live
        ]
    return out
