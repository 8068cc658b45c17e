"""The Artifacts pages: a project's collections by type, one collection's versions, one version
(files with previews, metadata, producing and consuming runs, alias moves) and its lineage graph.
Each renders from the same view model as its /api/v1 twin (``artifact_models.py``)."""

from __future__ import annotations

from flask import request

from . import artifact_models as models
from .pages import _render, pages
from .responses import ui_state
from .routes import view


@view(pages)
def artifacts(project: str) -> str:
    """A project's artifacts, by type, then name."""
    data = models.artifacts_view(ui_state(), project)
    return _render("artifacts.html", "artifacts", project=project, view=data)


@view(pages)
def artifact(project: str, name: str) -> str:
    """One collection: its versions with aliases, size, files, producer and consumers."""
    data = models.collection_view(ui_state(), project, name)
    return _render("artifact.html", "artifact", project=project, view=data)


@view(pages)
def artifact_version(project: str, name: str, version: str) -> str:
    """One version: the file browser with previews, metadata, lineage neighbours."""
    data = models.version_view(ui_state(), project, name, version)
    return _render("artifact_version.html", "artifact-version", project=project, view=data)


@view(pages)
def artifact_lineage(project: str, name: str, version: str) -> str:
    """The lineage graph around one version (runs and versions, upstream and downstream)."""
    depth = models.parse_depth(request.args.get("depth"))
    data = models.lineage_view(ui_state(), project, name, version, depth)
    return _render("artifact_lineage.html", "artifact-lineage", project=project, view=data)
