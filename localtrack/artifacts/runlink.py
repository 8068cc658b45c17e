"""run.log_artifact / use_artifact / link_artifact: what the live run delegates to."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..store.artifacts.layout import check_name, join_namespace
from ..store.artifacts.repository import ArtifactRepository
from .artifact import Artifact
from .query import artifact as find_artifact
from .spec import parse_spec


def _repo(run: Any) -> ArtifactRepository:
    return ArtifactRepository(Path(run.dir).parent.parent)


def _namespace(run: Any) -> str:
    """The run's "entity/project" (the project alone without an entity): its artifacts' home."""
    project = check_name(run.project, "project name")
    entity = getattr(run, "entity", None)
    return join_namespace(check_name(entity, "entity name") if entity else None, project)


def _as_artifact(
    artifact_or_path: Artifact | str | os.PathLike[str], name: str | None, type: str | None
) -> Artifact:
    if isinstance(artifact_or_path, Artifact):
        return artifact_or_path
    path = Path(artifact_or_path)
    if "://" in str(artifact_or_path):
        art = Artifact(name or "reference", type or "unspecified")
        art.add_reference(str(artifact_or_path))
        return art
    art = Artifact(name or path.name, type or "unspecified")
    if path.is_dir():
        art.add_dir(path)
    else:
        art.add_file(path)
    return art


def log_artifact(
    run: Any,
    artifact_or_path: Artifact | str | os.PathLike[str],
    name: str | None = None,
    type: str | None = None,
    aliases: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
) -> Artifact:
    """Log a draft (or a file/folder path) as the next version of its collection in the run's
    project. Unchanged content makes no new version; 'latest' always names the newest."""
    art = _as_artifact(artifact_or_path, name, type)
    if not art.is_draft():
        raise UsageError(f"{art.qualified_name} is already logged; use new_draft() to change it")
    repo = _repo(run)
    project = _namespace(run)
    manifest, _created, _report = repo.log(
        project,
        art._base_name,
        art.type,
        list(art._sources.values()),
        description=art.description,
        metadata=art.metadata,
        aliases=list(aliases or []),
        run_id=run.id,
    )
    return art._bind(repo, manifest)


def use_artifact(
    run: Any, artifact_or_name: Artifact | str, type: str | None = None, **_: Any
) -> Artifact:
    """Mark a version as an input of the run and return it (a draft is logged first)."""
    repo = _repo(run)
    if isinstance(artifact_or_name, Artifact):
        art = artifact_or_name
        if art.is_draft():
            project = _namespace(run)
            manifest, _, _ = repo.log(
                project,
                art._base_name,
                art.type,
                list(art._sources.values()),
                description=art.description,
                metadata=art.metadata,
            )
            art._bind(repo, manifest)
    else:
        art = find_artifact(repo.store.root, artifact_or_name, default=_namespace(run))
    if type is not None and art.type != type:
        raise UsageError(f"{art.qualified_name} has type {art.type!r}, not {type!r}")
    m = art._logged()
    repo.use(m.project, m.name, m.version, run.id, run.project)
    return art


def link_artifact(
    run: Any, artifact: Artifact, target_path: str, aliases: Sequence[str] | None = None
) -> Artifact:
    """Link a logged version into a registry collection ("<registry>/<collection>")."""
    src = artifact._logged()
    spec = parse_spec(target_path)
    if spec.project is None or ":" in target_path:
        raise UsageError(
            f"link target {target_path!r} must be '<registry>/<collection>', "
            "e.g. 'model-registry/classifier'"
        )
    repo = artifact._repo or _repo(run)
    from ..store.artifacts.repository import Source

    sources = [Source(p, entry=e) for p, e in src.entries.items()]
    linked_from = {
        "project": src.project,
        "name": src.name,
        "version": src.version,
        "digest": src.digest,
    }
    manifest, _, _ = repo.log(
        spec.project,
        spec.name,
        src.type,
        sources,
        description=src.description,
        metadata=src.metadata,
        aliases=list(aliases or []),
        run_id=getattr(run, "id", None),
        linked_from=linked_from,
    )
    return Artifact(spec.name, src.type)._bind(repo, manifest)
