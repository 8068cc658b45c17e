"""Reading artifacts back (``Api().artifact`` and friends), straight from the store's files."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from ..store.artifacts.repository import ArtifactRepository
from .artifact import Artifact
from .spec import parse_spec


def _bound(repo: ArtifactRepository, project: str, name: str, label: str) -> Artifact:
    manifest, _ = repo.resolve(project, name, label)
    return Artifact(name, manifest.type)._bind(repo, manifest)


def artifact(root: Path, spec: str, type: str | None = None) -> Artifact:
    """The version "project/name:alias" (or "entity/project/name:alias"; "name:alias" when
    exactly one project holds that name) names."""
    repo = ArtifactRepository(root)
    parsed = parse_spec(spec)
    project = parsed.project
    if project is None:
        owners = [p for p, n in repo.collections() if n == parsed.name]
        if len(owners) != 1:
            raise UsageError(
                f"artifact {spec!r}: name it as 'project/{parsed.name}:…' "
                f"({'no project' if not owners else 'projects ' + ', '.join(owners)} hold it)"
            )
        project = owners[0]
    art = _bound(repo, project, parsed.name, parsed.label)
    if type is not None and art.type != type:
        raise UsageError(f"{art.qualified_name} has type {art.type!r}, not {type!r}")
    return art


def artifact_versions(root: Path, name: str, type: str | None = None) -> list[Artifact]:
    """Every live version of "project/name", oldest first."""
    repo = ArtifactRepository(root)
    parsed = parse_spec(name)
    if parsed.project is None:
        raise UsageError(f"name the collection as 'project/{parsed.name}'")
    state = repo.state(parsed.project, parsed.name)
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
        if wanted is not None and (coll != wanted.name or wanted.project not in (None, proj)):
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
