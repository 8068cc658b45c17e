"""The compare page's media route (the Media section's JSON twin).

Imported at the end of ``api.py`` (like ``media_api``) so the view lands on its blueprint.
"""

from __future__ import annotations

from flask import Response, request

from . import views as models
from .api import api
from .compare_media import compare_media_view
from .responses import conditional, json_response, ui_state
from .routes import view


@view(api)
@conditional
def compare_media(project: str) -> Response:
    """The runs' media keys and, for one key, each run's items at the nearest step ≤ ``step``."""
    run_ids = models.parse_run_ids(request.args.get("runs"))
    return json_response(compare_media_view(ui_state().reader, project, run_ids, request.args))
