"""Reports: markdown documents with live panels, kept as plain files in the store.

A report is a ``.md`` file at ``<root>/reports/<project, percent-encoded>/<name>.md``: a short
front matter (title, live or pinned, the pinned steps), markdown text, and fenced ```` ```panel ````
blocks holding one JSON object each that names the panel's runs and metrics (docs/reports.md).

- ``format``: parse a report's text into blocks and check every panel (``parse_report``); write
  the front matter back (``with_front_matter``).
- ``files``: list, read, save (newer copy wins when a stamp is given) and delete report files.
- ``sanitize``: markdown to HTML with raw HTML cleaned by nh3 (no script, no event handler, no
  ``javascript:`` link).
- ``export``: one self-contained HTML file from a report's panel data and the UI's own scripts
  and styles, inlined under a strict Content-Security-Policy.

The panel data itself (chart columns, runs, media) is read by ``webui/report_data.py``, which
reuses the UI's chart and media views; nothing here imports Flask.
"""

from __future__ import annotations
