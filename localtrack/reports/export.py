"""One self-contained HTML file from a report: text, panel data, uPlot, scripts and styles inline.

The file opens from disk on a machine with no network and no localtrack: every script and style
is inlined, media are ``data:`` URIs, and the page's Content-Security-Policy allows only the
inline scripts written here (by their SHA-256), so nothing in the report's text can run even if
it slipped past the sanitiser, and the page can fetch nothing (``connect-src 'none'``). The
panel data is a ``<script type="application/json">`` block that ``report.js`` reads and draws
with the UI's own chart code (``chart.js`` fed from the embedded columns; zoom and hover work).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import UsageError

SCRIPTS = (
    "vendor/uPlot.iife.min.js",
    "js/core.js",
    "js/plots.js",
    "js/chart.js",
    "js/panels.js",
    "js/media_charts.js",
    "js/report.js",
)
STYLES = ("vendor/uPlot.min.css", "css/app.css", "css/reports.css")
# What report.js and core.js ask for by name; in a file they lead nowhere.
URL_NAMES = ("run", "api.exportChart", "api.mediaFile", "api.media", "api.chart")


def load_assets(static_dir: Path) -> dict[str, str]:
    """The scripts and styles an exported report inlines, read from the UI's static folder."""
    out = {}
    for name in (*SCRIPTS, *STYLES):
        path = static_dir / name
        if not path.is_file():
            raise UsageError(
                f"{path} is missing: the UI's assets are not built "
                "(reinstall localtrack, or run `npm ci` in a source checkout)"
            )
        out[name] = path.read_text(encoding="utf-8")
    return out


def _json_block(data: Any) -> str:
    """JSON safe inside a <script> element (no ``</`` can close it early)."""
    text = json.dumps(data, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _sha(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def export_html(data: Mapping[str, Any], assets: Mapping[str, str]) -> str:
    """The exported page for `data` (``webui.report_data.report_data`` with media embedded)."""
    scripts = [assets[name] for name in SCRIPTS]
    csp = "; ".join(
        (
            "default-src 'none'",
            "script-src " + " ".join(_sha(s) for s in scripts),
            "style-src 'unsafe-inline'",
            "img-src data:",
            "connect-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )
    title = html.escape(str(data.get("title") or data.get("name") or "report"))
    styles = "\n".join(f"<style>{assets[name]}</style>" for name in STYLES)
    urls = {name: "#" for name in URL_NAMES}
    body = "\n".join(f"<script>{s}</script>" for s in scripts)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{html.escape(csp, quote=False)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{styles}
</head>
<body class="lt-export" data-page="report-export" data-poll-ms="0">
<main class="page report-page">
<div id="report" class="report"></div>
<noscript><p>This report draws its charts with JavaScript.</p></noscript>
</main>
<script type="application/json" id="lt-urls">{_json_block(urls)}</script>
<script type="application/json" id="report-data">{_json_block(data)}</script>
{body}
</body>
</html>
"""
