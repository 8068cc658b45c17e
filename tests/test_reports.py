"""Reports (docs/reports.md): the file format and its errors, sanitising, faults (a deleted run,
a missing metric), pinning, the CLI export, and reports travelling by bundle and by
``localtrack sync`` to a real server (checked by the schema on receipt, the newer copy wins)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from localtrack.apikeys import KeyStore
from localtrack.errors import BundleError, DocumentError
from localtrack.reports import files
from localtrack.reports.format import parse_report
from localtrack.reports.sanitize import markdown_html
from localtrack.sync.bundle import export_bundle, import_bundle
from localtrack.sync.bundle_format import FORMAT, MAGIC, VERSION, FrameWriter

from .backend_fixtures import ServerBackend
from .conftest import PYTHON, REPO, child_env
from .sync_fixtures import ServerProcess, env_without_home, get_json, log_runs, run_cli


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The localtrack CLI in a child process."""
    return subprocess.run(
        [PYTHON, "-m", "localtrack.cli", *args],
        env=child_env(**env),
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _report(run_ids: list[str], extra: str = "", key: str = "k0") -> str:
    panel = {"type": "line", "title": "Loss", "runs": run_ids, "keys": [key]}
    return f"---\ntitle: Findings\n---\n# Findings\n\n```panel\n{json.dumps(panel)}\n```\n{extra}"


def test_a_report_parses_into_text_and_checked_panels() -> None:
    report = parse_report(_report(["abc"], "\nclosing words\n"))
    assert report.title == "Findings" and report.mode == "live"
    assert [b.kind for b in report.blocks] == ["markdown", "panel", "markdown"]
    assert report.panels[0].panel["keys"] == ["k0"] and report.panels[0].line == 6


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('```panel\n{"type": "pie"}\n```', "panel at line 1 field 'type' must be one of"),
        ('```panel\n{"type": "line", "keys": "loss"}\n```', "'keys' must be a list"),
        ("text\n```panel\n{type: line}\n```", "panel at line 2 is not a JSON object"),
        ('```panel\n{"type": "line"}\n', "panel block at line 1 is never closed"),
        ("---\nmode: frozen\n---\n", "mode must be live or pinned"),
        ("---\nsteps: [1]\n---\n", "'steps' must be a JSON object"),
    ],
)
def test_a_bad_report_is_refused_saying_where(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(DocumentError, match=re.escape(says)):
        files.save_report(tmp_path, "p", "r", text)
    assert not files.list_reports(tmp_path, "p")


@pytest.mark.parametrize("project", [".", "..", ""])
def test_a_project_name_that_names_no_folder_of_its_own_is_refused(
    tmp_path: Path, project: str
) -> None:
    with pytest.raises(DocumentError) as exc:
        files.project_dir(tmp_path, project)
    assert exc.value.field == "project"


def test_raw_html_and_scripts_are_sanitised() -> None:
    html = markdown_html(
        "# T\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)> "
        "<a href='javascript:alert(3)'>x</a> <b style='x' onclick='y'>bold</b>\n\n"
        "[link](https://example.org) <iframe src='https://e.org'></iframe>"
    )
    for bad in ("<script", "alert(1)", "onerror", "javascript:", "onclick", "<iframe"):
        assert bad not in html
    assert "<h1>T</h1>" in html and "<b>bold</b>" in html
    assert 'href="https://example.org"' in html and 'rel="noopener noreferrer"' in html


def _app_client(root: Path) -> Any:
    from webui import create_app

    app = create_app(root, watch=False)
    return app, app.test_client()


def test_a_deleted_run_and_a_missing_metric_are_noted_and_the_rest_renders(tmp_path: Path) -> None:
    ids = log_runs(tmp_path, n=2, steps=20, project="p")
    text = (
        _report([ids[0], "gone42"])
        + "\n```panel\n"
        + json.dumps({"type": "line", "runs": ids, "keys": ["nosuch", "k1"]})
        + "\n```\n"
    )
    files.save_report(tmp_path, "p", "r", text)
    app, client = _app_client(tmp_path)
    try:
        data = client.get("/api/v1/projects/p/reports/r/data").json
        first, second = [b for b in data["blocks"] if b["kind"] == "panel"]
        assert any("'gone42'" in n for n in first["notes"])
        assert [r["id"] for r in first["runs"]] == [ids[0]] and len(first["charts"]) == 1
        assert any("'nosuch'" in n for n in second["notes"])
        assert [c["key"] for c in second["charts"]] == ["k1"]
        assert client.get("/projects/p/reports/r").status_code == 200
        missing = client.get("/api/v1/projects/p/reports/none/data")
        assert missing.status_code == 404 and "no report named" in missing.json["error"]["message"]
        bad = client.put("/api/v1/projects/p/reports/r", json={"text": "```panel\n[]\n```"})
        assert bad.status_code == 400 and "panel at line 1" in bad.json["error"]["message"]
    finally:
        app.extensions["localtrack"].close()


def test_pinning_keeps_each_run_at_its_recorded_step(tmp_path: Path) -> None:
    import localtrack

    files.save_report(tmp_path, "p", "r", _report([], key="loss"))
    run = localtrack.init(project="p", name="growing", dir=str(tmp_path))
    for step in range(10):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
    run.finish()
    app, client = _app_client(tmp_path)
    try:
        pinned = client.post("/api/v1/projects/p/reports/r/pin", json={"pinned": True}).json
        assert pinned["mode"] == "pinned" and pinned["steps"] == {run.id: 9}
        resumed = localtrack.init(project="p", id=run.id, resume="allow", dir=str(tmp_path))
        for step in range(10, 30):
            resumed.log({"loss": 0.01}, step=step)
        resumed.finish()
        chart = client.get("/api/v1/projects/p/reports/r/data").json["blocks"][1]["charts"][0]
        assert max(chart["x"]) == 9
        client.post("/api/v1/projects/p/reports/r/pin", json={"pinned": False})
        chart = client.get("/api/v1/projects/p/reports/r/data").json["blocks"][1]["charts"][0]
        assert max(chart["x"]) == 29
    finally:
        app.extensions["localtrack"].close()


def test_cli_export_writes_one_self_contained_file(tmp_path: Path) -> None:
    ids = log_runs(tmp_path, n=2, steps=20, project="p")
    files.save_report(tmp_path, "p", "findings", _report(ids, "\n<script>bad()</script>\n"))
    out = tmp_path / "findings.html"
    env = env_without_home(tmp_path)
    listed = _cli("report", "list", "--dir", str(tmp_path), env=env)
    assert listed.returncode == 0 and listed.stdout.split() == ["findings"]
    done = _cli("report", "export", "findings", "--dir", str(tmp_path), "-o", str(out), env=env)
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert "bad()" not in page
    assert re.search(r"<script\s+src=|<link\s", page) is None  # nothing loaded from elsewhere
    assert "script-src 'sha256-" in page and "connect-src 'none'" in page
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1))
    assert [r["id"] for r in data["blocks"][1]["runs"]] == ids
    nope = _cli("report", "export", "nope", "--dir", str(tmp_path), "-o", str(out), env=env)
    assert nope.returncode != 0 and "no report named 'nope'" in nope.stderr


def test_bundles_carry_reports_and_the_newer_copy_wins(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    ids = log_runs(a, n=1, steps=10, project="p")
    files.save_report(a, "p", "r", _report(ids))
    files.save_report(a, "other", "left-behind", _report([]))
    bundle = tmp_path / "out.ltb"
    assert export_bundle(a, ids, bundle).reports == ["p/r"]
    imported = import_bundle(bundle, b)
    assert imported.reports == ["p/r"] and not imported.failed
    assert files.read_report(b, "p", "r").text == files.read_report(a, "p", "r").text
    assert not files.list_reports(b, "other")
    files.save_report(b, "p", "r", _report(ids, "\nnewer here\n"))
    import_bundle(bundle, b)
    assert "newer here" in files.read_report(b, "p", "r").text


def test_a_bundled_report_that_does_not_parse_is_refused(tmp_path: Path) -> None:
    bundle = tmp_path / "bad.ltb"
    doc = {"project": "p", "name": "r", "text": '```panel\n{"type": 1}\n```', "updated_at": 1.0}
    with open(bundle, "wb") as f:
        w = FrameWriter(f)
        w.write(MAGIC)
        w.frame(
            b"H", json.dumps({"format": FORMAT, "version": VERSION, "created_at": 1.0}).encode()
        )
        w.frame(b"R", json.dumps(doc).encode())
        w.end()
    with pytest.raises(BundleError, match=r"report in the bundle is malformed.*'type'"):
        import_bundle(bundle, tmp_path / "store")
    assert not files.list_reports(tmp_path / "store", "p")


def test_a_report_is_on_the_server_after_localtrack_sync(
    tmp_path: Path, server_backend: ServerBackend
) -> None:
    """On both server backends (``server_backend``): its charts read the synced run."""
    local, root = tmp_path / "laptop", tmp_path / "server"
    ids = log_runs(local, n=1, steps=10, project="p")
    files.save_report(local, "p", "r", _report(ids))
    keys = KeyStore(root)
    write, read = keys.create("ci", "write", "p").token, keys.create("viewer", "read").token
    proc = ServerProcess(root).start()
    try:
        env = dict(env_without_home(tmp_path), LOCALTRACK_API_KEY=write)
        out = run_cli("sync", "--all", "--dir", str(local), "--to", proc.url, "--json", env=env)
        assert out.returncode == 0, out.stdout + out.stderr
        auth = {"Authorization": f"Bearer {read}"}
        status, doc = get_json(f"{proc.url}/api/v1/projects/p/reports/r", auth)
        assert status == 200 and doc["text"] == files.read_report(local, "p", "r").text
        status, data = get_json(f"{proc.url}/api/v1/projects/p/reports/r/data", auth)
        assert status == 200 and data["blocks"][1]["charts"][0]["key"] == "k0"
    finally:
        proc.stop()


def test_a_hand_edited_report_that_does_not_parse_is_listed_with_its_error(tmp_path: Path) -> None:
    log_runs(tmp_path, n=1, steps=5, project="p")
    folder = files.project_dir(tmp_path, "p")
    folder.mkdir(parents=True)
    (folder / "broken.md").write_text('# Notes\n\n```panel\n{"type": "line", "keys": 3}\n```\n')
    app, client = _app_client(tmp_path)
    try:
        listed = client.get("/api/v1/projects/p/reports").json["reports"]
        assert listed[0]["name"] == "broken" and "'keys'" in listed[0]["error"]
        page = client.get("/projects/p/reports/broken")
        assert page.status_code == 400 and b"panel at line 3" in page.data
        assert b"Traceback" not in page.data
        editor = client.get("/projects/p/reports/broken/edit")  # the editor opens it to fix it
        assert editor.status_code == 200 and b"&#34;keys&#34;: 3" in editor.data
    finally:
        app.extensions["localtrack"].close()


def test_report_writes_on_a_server_need_a_write_key_for_the_project(tmp_path: Path) -> None:
    from webui.server.app import create_server_app

    root = tmp_path / "server"
    log_runs(root, n=1, steps=5, project="p")
    keys = KeyStore(root)
    read = keys.create("viewer", "read").token
    other = keys.create("elsewhere", "write", "q").token
    write = keys.create("ci", "write", "p").token
    app = create_server_app(root, watch=False)
    try:
        client = app.test_client()
        url, body = "/api/v1/projects/p/reports/r", {"text": "# hi"}
        # a read key is refused; a key of another project is told nothing
        for token, status in ((read, 403), (other, 404)):
            reply = client.put(url, json=body, headers={"Authorization": f"Bearer {token}"})
            assert reply.status_code == status, reply.json
        assert not files.list_reports(root, "p")
        reply = client.put(url, json=body, headers={"Authorization": f"Bearer {write}"})
        assert reply.status_code == 200 and files.read_report(root, "p", "r").text == "# hi"
        shown = client.get(url + "/data", headers={"Authorization": f"Bearer {read}"})
        assert shown.status_code == 200 and shown.json["blocks"][0]["html"] == "<h1>hi</h1>\n"
    finally:
        app.extensions["localtrack"].close()
        app.extensions["localtrack_ingest"].close()
