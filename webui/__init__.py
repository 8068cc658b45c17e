"""localtrack web UI: Flask app factory, blueprints, templates and static assets.

::

    from webui import create_app
    app = create_app("./localtrack-runs")      # a Flask app; serve it with webui.serve.serve()
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
