"""The Artifacts pages' JSON twins, a version's files (raw and previewed), a run's artifacts.

Files are served from the store's blob area by content hash, never by a path taken from the
request: the ``path`` argument only selects an entry of the version's manifest. Images are
served as images, text as ``text/plain``, anything else as a download; ``nosniff`` everywhere.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from flask import Response, request, send_file

from localtrack.errors import MissingBlobsError
from localtrack.store.artifact_reader import IMAGE_TYPES, file_kind

from . import artifact_models as models
from .api import api
from .responses import error_json, json_response, ui_state
from .routes import view


@view(api)
def artifacts(project: str) -> Response:
    return json_response(models.artifacts_view(ui_state(), project))


@view(api)
def artifact(project: str, name: str) -> Response:
    return json_response(models.collection_view(ui_state(), project, name))


@view(api)
def artifact_version(project: str, name: str, version: str) -> Response:
    return json_response(models.version_view(ui_state(), project, name, version))


@view(api)
def artifact_lineage(project: str, name: str, version: str) -> Response:
    depth = models.parse_depth(request.args.get("depth"))
    return json_response(models.lineage_view(ui_state(), project, name, version, depth))


@view(api)
def artifact_preview(project: str, name: str, version: str) -> Response:
    path = request.args.get("path", "")
    reader = models.reader_of(ui_state())
    try:
        return json_response(reader.preview(project, name, version, path))
    except MissingBlobsError as exc:  # lost from the object store (artifacts/remoteblobs.py)
        return error_json(404, str(exc))


@view(api)
def artifact_file(project: str, name: str, version: str) -> Response:
    path = request.args.get("path", "")
    reader = models.reader_of(ui_state())
    entry, stored = reader.entry(project, name, version, path)
    if not stored:
        return error_json(404, f"{entry.path} is a reference ({entry.ref}); no bytes are stored")
    try:
        blob = reader.open_blob(entry)
    except FileNotFoundError:
        return error_json(404, f"the blob of {entry.path} is missing from the store")
    except MissingBlobsError as exc:  # lost from the object store (artifacts/remoteblobs.py)
        return error_json(404, str(exc))
    kind = file_kind(entry.path)
    suffix = PurePosixPath(entry.path).suffix.lower()
    if kind == "image":
        mimetype, attachment = IMAGE_TYPES[suffix], False
    elif kind == "text":
        mimetype, attachment = "text/plain; charset=utf-8", False
    else:
        mimetype, attachment = "application/octet-stream", True
    response = send_file(
        blob,
        mimetype=mimetype,
        as_attachment=attachment,
        download_name=PurePosixPath(entry.path).name,
        conditional=True,
        etag=entry.sha256,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response


@view(api)
def run_artifacts(run_id: str) -> Response:
    return json_response(models.run_artifacts_view(ui_state(), run_id))
