"""Console output, environment and run-file downloads through Flask's test client, for runs made
by real subprocesses (console capture, a dirty git checkout) and for a run from before either."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from webui import create_app

from .media_fixtures import console_run, dirty_repo, legacy_run, start_printer
from .webui_fixtures import wait_for

LINES = 12
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("console")
    root = base / "store"
    legacy = legacy_run(root)
    repo = dirty_repo(base / "repo")
    printer = console_run(root, repo, lines=LINES)
    return {"root": root, "repo": repo, "printer": printer, "legacy": legacy}


@pytest.fixture(scope="module")
def app(store: dict[str, object]) -> Flask:
    return create_app(store["root"], watch=False)  # type: ignore[arg-type]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _console(client: FlaskClient, run_id: str, **params: object) -> dict:
    response = client.get(f"/api/v1/runs/{run_id}/console", query_string=params)
    assert response.status_code == 200, response.json
    return response.json


def test_console_shows_the_tail_with_line_numbers(client: FlaskClient, store: dict) -> None:
    body = _console(client, store["printer"])
    assert body["captured"] is True
    assert body["lines"][0] == "hello from the child <b>not bold</b>"
    assert body["lines"][-1] == f"done {store['printer']}"
    assert body["line_numbers"] == list(range(1, len(body["lines"]) + 1))
    assert body["total_lines"] == body["file_lines"] == LINES + 3
    assert body["size_bytes"] > 0
    tail = _console(client, store["printer"], start=-2)
    assert tail["line_numbers"] == [LINES + 2, LINES + 3] and tail["start_line"] == LINES + 1


def test_console_search_runs_on_the_server(client: FlaskClient, store: dict) -> None:
    body = _console(client, store["printer"], q="EPOCH 1")
    assert body["lines"] == ["epoch 1 loss 0.500", "epoch 10 loss 0.091", "epoch 11 loss 0.083"]
    assert body["line_numbers"] == [3, 12, 13]  # numbers in the whole file, not in the matches
    assert (body["total_lines"], body["file_lines"], body["q"]) == (3, LINES + 3, "EPOCH 1")
    assert _console(client, store["printer"], q="no such text")["lines"] == []


def test_console_pages_forwards(client: FlaskClient, store: dict) -> None:
    body = _console(client, store["printer"], start=2, limit=3)
    assert body["line_numbers"] == [3, 4, 5] and body["start_line"] == 2
    past = _console(client, store["printer"], start=1000)
    assert past["lines"] == [] and past["start_line"] == LINES + 3


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("limit=0", "limit must be between"),
        ("limit=100000", "limit must be between"),
        ("start=x", "start must be a whole number"),
    ],
)
def test_console_errors_use_the_envelope(
    client: FlaskClient, store: dict, query: str, fragment: str
) -> None:
    response = client.get(f"/api/v1/runs/{store['printer']}/console?{query}")
    assert response.status_code == 400 and fragment in response.json["error"]["message"]


def test_console_of_a_run_without_capture_is_empty(client: FlaskClient, store: dict) -> None:
    body = _console(client, store["legacy"])
    assert body["captured"] is False and body["lines"] == [] and body["total_lines"] == 0


def test_console_follows_a_running_run(client: FlaskClient, store: dict, tmp_path: Path) -> None:
    """Fetching from the last line shown, as the page does, yields every line exactly once."""
    proc = start_printer(store["root"], store["repo"], "live", lines=15, delay=0.08)
    try:
        root = Path(str(store["root"]))
        found = wait_for(lambda: any(root.glob("runs/*/files/output.log")) and _live_id(root), 20)
        assert found
        run_id = _live_id(root)
        shown: dict[int, str] = {}
        fetches_with_news = 0
        next_index = 0
        while True:
            body = _console(client, run_id, start=max(0, next_index - 1), limit=5000)
            news = {n: t for n, t in zip(body["line_numbers"], body["lines"], strict=True)}
            if set(news) - set(shown):
                fetches_with_news += 1
            shown.update(news)
            next_index = body["start_line"] + len(body["lines"])
            if any(t.startswith("done ") for t in shown.values()) or proc.poll() is not None:
                break
            wait_for(lambda: False, 0.1)
        proc.communicate(timeout=30)
        final = _console(client, run_id, start=0, limit=5000)
        shown.update(zip(final["line_numbers"], final["lines"], strict=True))
        assert [shown[n] for n in sorted(shown)] == final["lines"]
        assert fetches_with_news >= 2  # it arrived in pieces, while the run was running
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _live_id(root: Path) -> str | None:
    for log in root.glob("runs/*/files/output.log"):
        run_dir = log.parent.parent
        if '"live"' in (run_dir / "run.json").read_text():
            return run_dir.name
    return None


# --- environment ---------------------------------------------------------------------------------


def test_environment_has_hardware_code_packages_and_diff(client: FlaskClient, store: dict) -> None:
    response = client.get(f"/api/v1/runs/{store['printer']}/environment")
    assert response.status_code == 200
    body = response.json
    assert body["recorded"] is True
    hw = body["hardware"]
    assert hw["os"] and hw["cpu_count"] >= 1 and hw["memory_total_gb"] > 0
    assert isinstance(hw["gpu_models"], list)
    assert body["python"] and body["command"].startswith("-c printer")
    assert body["cwd"] == str(store["repo"])
    git = body["git"]
    assert git["branch"] == "main" and git["dirty"] is True and len(git["commit"]) == 40
    assert git["remote"] == "https://***@git.example.invalid/team/repo.git"
    names = {p["name"].lower() for p in body["packages"]["items"]}
    assert {"flask", "numpy"} <= names and body["packages"]["count"] == len(names)
    diff = body["diff"]
    assert "+lr = 0.01  # <script>alert(4)</script>" in diff["text"]
    assert diff["cut_here"] is False and diff["cut_at_capture"] is False
    assert diff["size_bytes"] == diff["shown_bytes"]


def test_git_tokens_never_reach_the_browser(client: FlaskClient, store: dict) -> None:
    rid = store["printer"]
    for url in (f"/runs/{rid}", f"/api/v1/runs/{rid}", f"/api/v1/runs/{rid}/environment"):
        body = client.get(url).get_data(as_text=True)
        assert TOKEN not in body and "git.example.invalid" in body


def test_environment_of_a_run_from_before_it_existed(client: FlaskClient, store: dict) -> None:
    body = client.get(f"/api/v1/runs/{store['legacy']}/environment").json
    assert body["recorded"] is False
    assert body["packages"] is None and body["diff"] is None
    assert set(body["hardware"].values()) == {None}
    assert body["python"]  # what run.json always had is still shown
    assert client.get(f"/runs/{store['legacy']}").status_code == 200


def test_the_diff_downloads_as_a_patch(client: FlaskClient, store: dict) -> None:
    with client.get(f"/api/v1/runs/{store['printer']}/files/diff.patch") as response:
        body = response.get_data()
    assert response.status_code == 200
    assert response.mimetype == "text/x-diff"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and disposition.rstrip('"').endswith(".patch")
    assert b"<script>alert(4)</script>" in body and body.startswith(b"diff --git")


@pytest.mark.parametrize(
    ("name", "mimetype"), [("output.log", "text/plain"), ("requirements.txt", "text/plain")]
)
def test_run_files_download(client: FlaskClient, store: dict, name: str, mimetype: str) -> None:
    with client.get(f"/api/v1/runs/{store['printer']}/files/{name}") as response:
        body = response.get_data()
    assert response.status_code == 200 and response.mimetype == mimetype
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert body


def test_a_missing_file_is_a_404_envelope(client: FlaskClient, store: dict) -> None:
    response = client.get(f"/api/v1/runs/{store['legacy']}/files/diff.patch")
    assert response.status_code == 404
    assert response.json["error"] == {
        "code": "not_found",
        "message": f"run {store['legacy']} has no file 'diff.patch'",
    }


@pytest.mark.parametrize("path", ["console", "environment"])
def test_console_and_environment_are_conditional(
    client: FlaskClient, store: dict, path: str
) -> None:
    url = f"/api/v1/runs/{store['printer']}/{path}"
    first = client.get(url)
    again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert (first.status_code, again.status_code) == (200, 304)
