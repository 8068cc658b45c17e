"""Several of the UI's scripts served as one file, in the order given.

A chart page needs up to eleven scripts; as separate files they are eleven requests, which on a
busy two-core machine queue behind the browser's six connections and cost the server eleven
requests' work while it computes the page's first charts. A page's template names its scripts
once (``script_bundle``) and gets one ``<script>`` for all of them. Only ``.js`` files of the
static ``js/`` and ``vendor/`` folders are served; the joined text is kept while the files are
unchanged, tagged with its hash (304 when the browser has it), and gzipped once for all the
browsers that take gzip (the compression layer would compress it again on every request).
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

from flask import Blueprint, Response, current_app, request, url_for
from markupsafe import Markup, escape
from werkzeug.exceptions import NotFound

from localtrack.errors import UsageError

from .routes import view

bundles = Blueprint("bundles", __name__)

FOLDERS = ("js", "vendor")
MAX_FILES = 32
MAX_KEPT = 64  # joined lists kept in memory (the pages use a handful)
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*\.js")
_joined: dict[tuple[str, ...], tuple[tuple[int, ...], bytes, bytes, str]] = {}


def _names(arg: str) -> tuple[str, ...]:
    names = tuple(n for n in arg.split(",") if n)
    if not names or len(names) > MAX_FILES:
        raise UsageError(f"give ?f=js/NAME.js,… with 1 to {MAX_FILES} scripts")
    for name in names:
        folder, _, file = name.partition("/")
        if folder not in FOLDERS or not _NAME.fullmatch(file):
            raise UsageError(f"no script {name!r} here: give js/NAME.js or vendor/NAME.js")
    return names


def _join(static: Path, names: tuple[str, ...]) -> tuple[bytes, bytes, str]:
    """The scripts' text joined (each file an expression statement of its own), gzipped, and
    its hash; kept until one of the files changes."""
    paths = [static / n for n in names]
    try:
        stamp = tuple(p.stat().st_mtime_ns for p in paths)
    except FileNotFoundError as exc:
        raise NotFound(f"there is no script {Path(exc.filename).name!r} here") from None
    kept = _joined.get(names)
    if kept is None or kept[0] != stamp:
        body = b"\n;\n".join(p.read_bytes() for p in paths) + b"\n"
        packed = gzip.compress(body, 9, mtime=0)
        kept = (stamp, body, packed, hashlib.sha256(body).hexdigest()[:32])
        if len(_joined) >= MAX_KEPT:
            _joined.clear()
        _joined[names] = kept
    return kept[1], kept[2], kept[3]


@view(bundles)
def scripts() -> Response:
    body, packed, tag = _join(
        Path(current_app.static_folder or ""), _names(request.args.get("f", ""))
    )
    zipped = request.accept_encodings["gzip"] > 0
    response = Response(packed if zipped else body, mimetype="text/javascript")
    if zipped:
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    response.set_etag(tag + (":gzip" if zipped else ""))
    response.headers["Cache-Control"] = "no-cache"
    return response.make_conditional(request)


def script_bundle(names: Sequence[str], preload: bool = False) -> Markup:
    """One ``<script>`` element for `names` (``js/core.js``, ``vendor/uPlot.iife.min.js``…),
    run in that order: the templates' ``script_bundle([...])``. With `preload`, the
    ``<link rel="preload">`` that asks for the same file from ``<head>``."""
    src = escape(url_for("bundles.scripts", f=",".join(names)))
    if preload:
        return Markup(f'<link rel="preload" as="script" href="{src}">')
    return Markup(f'<script src="{src}"></script>')
