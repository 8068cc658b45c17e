"""The chart pages load their scripts as one file (webui/bundles.py): every script the page
names, in its order, gzipped once; nothing outside the static js/ and vendor/ folders."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from webui import create_app

from .webui_fixtures import small_store

STATIC = Path(__file__).resolve().parents[1] / "webui" / "static"


def test_a_run_page_loads_its_scripts_as_one_file_in_order(tmp_path: Path) -> None:
    ids = small_store(tmp_path)
    client = create_app(tmp_path, watch=False).test_client()
    html = client.get(f"/runs/{ids['alpha']}").get_data(as_text=True)
    (src,) = re.findall(r'<script src="([^"]+)"', html)
    names = src.split("f=", 1)[1].split(",")
    # uPlot's Intl formatter is deferred by the script just before it (intl_deferred.js)
    assert names[:4] == [
        "js/intl_deferred.js",
        "vendor/uPlot.iife.min.js",
        "js/core.js",
        "js/chart.js",
    ]
    assert names[-2:] == ["js/run.js", "js/run_artifacts.js"]

    reply = client.get(src, headers={"Accept-Encoding": "gzip, deflate"})
    assert reply.status_code == 200 and reply.headers["Content-Encoding"] == "gzip"
    body = gzip.decompress(reply.data)
    starts = [body.index((STATIC / n).read_bytes()) for n in names]
    assert starts == sorted(starts)  # each file whole, in the page's order
    again = client.get(
        src, headers={"Accept-Encoding": "gzip", "If-None-Match": reply.headers["ETag"]}
    )
    assert again.status_code == 304
    plain = client.get(src, headers={"Accept-Encoding": "identity"})
    assert plain.data == body and "Content-Encoding" not in plain.headers


def test_only_scripts_of_the_static_folders_are_served(tmp_path: Path) -> None:
    small_store(tmp_path)
    client = create_app(tmp_path, watch=False).test_client()
    for bad in ("js/../app.py", "css/app.css", "js/.hidden.js", "", ",".join(["js/core.js"] * 33)):
        reply = client.get(f"/bundle.js?f={bad}")
        assert reply.status_code == 400, bad
        assert b"Traceback" not in reply.data
    missing = client.get("/bundle.js?f=js/core.js,js/nothing_here.js")
    assert missing.status_code == 404 and b"Traceback" not in missing.data
