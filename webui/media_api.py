"""The media routes beyond blobs: a preset chart's columns and a downsampled point cloud.

Imported at the end of ``api.py`` (like ``workspace_api``) so the views land on its blueprint.
"""

from __future__ import annotations

from flask import Response, request

from . import media_views as media_models
from .api import api
from .responses import conditional, json_response, ui_state
from .routes import view


@view(api)
@conditional
def chart(run_id: str) -> Response:
    """A preset chart's preset and columns (the latest step unless ``step`` is given)."""
    return json_response(media_models.chart_view(ui_state().reader, run_id, request.args))


@view(api)
def cloud(run_id: str, name: str) -> Response:
    """A logged point cloud, at most ``max_points`` points; cached for good like its blob."""
    data = media_models.cloud_view(ui_state().reader, run_id, name, request.args)
    response = json_response(data)
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return response
