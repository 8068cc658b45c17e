"""View models of the Artifacts pages and their JSON twins (one dict per page, shared by both).

Everything comes from the store's ``ArtifactReader``; this module only adds what the UI needs
around it: run names for producer and consumer run ids, and the URLs of the nodes of a lineage
graph (so a click navigates).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for

from localtrack.errors import LocaltrackError, UsageError
from localtrack.store.artifact_reader import ArtifactReader, ArtifactSource

from .state import UIState

MAX_DEPTH = 10


# A shared-nothing server's artifacts (PostgreSQL and the bucket, not <root>/artifacts/): set by
# webui/server/app.py, read here and by the ingest API.
SHARED_ARTIFACTS = "localtrack_shared_artifacts"


def reader_of(state: UIState) -> ArtifactReader:
    source: ArtifactSource | None = current_app.extensions.get(SHARED_ARTIFACTS)
    return ArtifactReader(state.reader.root, source)


def _run(state: UIState, run_id: str | None) -> dict[str, Any] | None:
    if run_id is None:
        return None
    try:
        info = state.reader.run(run_id)
    except LocaltrackError:
        return {"id": run_id, "name": run_id, "project": None, "url": None}
    return {
        "id": info.id,
        "name": info.name,
        "project": info.project,
        "url": url_for("pages.run", run_id=info.id),
    }


def _decorate(state: UIState, version: dict[str, Any]) -> dict[str, Any]:
    out = dict(version)
    out["producer"] = _run(state, version.get("producer"))
    out["consumers"] = [_run(state, r) for r in version.get("consumers") or ()]
    out["url"] = url_for(
        "pages.artifact_version",
        project=version["project"],
        name=version["name"],
        version=version["version"],
    )
    return out


def artifacts_view(state: UIState, project: str) -> dict[str, Any]:
    view = reader_of(state).project_view(project)
    for group in view["types"]:
        for coll in group["collections"]:
            coll["url"] = url_for("pages.artifact", project=project, name=coll["name"])
    return view


def collection_view(state: UIState, project: str, name: str) -> dict[str, Any]:
    view = reader_of(state).collection_view(project, name)
    view["versions"] = [_decorate(state, v) for v in view["versions"]]
    return view


def version_view(state: UIState, project: str, name: str, version: str) -> dict[str, Any]:
    view = _decorate(state, reader_of(state).version_view(project, name, version))
    view["lineage_url"] = url_for(
        "pages.artifact_lineage", project=project, name=name, version=view["version"]
    )
    return view


def parse_depth(raw: str | None) -> int:
    try:
        depth = int(raw) if raw else 3
    except ValueError:
        raise UsageError("depth must be a whole number") from None
    return max(1, min(depth, MAX_DEPTH))


def lineage_view(
    state: UIState, project: str, name: str, version: str, depth: int = 3
) -> dict[str, Any]:
    graph = reader_of(state).lineage(project, name, version, depth)
    for node in graph["nodes"]:
        if node["kind"] == "run":
            run = _run(state, node["run_id"]) or {}
            node["label"] = run.get("name") or node["run_id"]
            node["url"] = run.get("url")
        else:
            node["label"] = f"{node['name']}:{node['version']}"
            node["url"] = url_for(
                "pages.artifact_version",
                project=node["project"],
                name=node["name"],
                version=node["version"],
            )
    graph["project"], graph["name"] = project, name
    graph["version"] = graph["focus"].rsplit(":", 1)[-1]
    return graph


def run_artifacts_view(state: UIState, run_id: str) -> dict[str, Any]:
    info = state.reader.run(run_id)
    view = reader_of(state).run_artifacts(info.id)
    view["inputs"] = [_decorate(state, v) for v in view["inputs"]]
    view["outputs"] = [_decorate(state, v) for v in view["outputs"]]
    return view
