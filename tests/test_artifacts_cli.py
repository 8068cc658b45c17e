"""`localtrack artifact ls|show|get|put|rm|gc`: what a user types, what they read back, and a
clear one-line error (never a traceback) for what they got wrong."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from localtrack.cli.main import cli
from localtrack.store.artifacts.layout import ArtifactPaths
from localtrack.store.artifacts.repository import ArtifactRepository


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("alpha")
    (d / "sub" / "b.txt").write_text("beta")
    return d


def _cli(store: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["artifact", args[0], "--dir", str(store), *args[1:]])
    return result.exit_code, result.output


def _blobs(store: Path) -> int:
    """Stored blobs (single or packed); packs must not outlive their last blob."""
    paths = ArtifactPaths.of_root(store)
    count = len(list(ArtifactRepository(store).blobs.all_blobs()))
    assert count or not list(paths.packs.glob("*.tar")), "an empty pack was left behind"
    return count


def test_put_ls_show_get_rm_gc(store: Path, data: Path, tmp_path: Path) -> None:
    code, out = _cli(store, "put", str(data), "--name", "mnist/raw", "--alias", "best")
    assert code == 0 and out.startswith("logged mnist/raw:v0 (2 new blobs, 9 bytes stored)"), out
    code, out = _cli(store, "put", str(data), "--name", "mnist/raw")
    assert code == 0 and "unchanged: mnist/raw:v0 (0 new blobs, 0 bytes stored)" in out, out

    code, out = _cli(store, "ls", "--json")
    assert code == 0
    listed = json.loads(out)
    assert [(a["name"], a["version"], a["aliases"], a["files"]) for a in listed] == [
        ("mnist/raw:v0", "v0", ["latest", "best"], 2)
    ]

    code, out = _cli(store, "show", "mnist/raw:best", "--json")
    assert code == 0
    assert sorted(json.loads(out)["entries"]) == ["a.txt", "sub/b.txt"]

    target = tmp_path / "dl"
    code, out = _cli(store, "get", "mnist/raw:latest", "--root", str(target))
    assert code == 0 and (target / "sub" / "b.txt").read_text() == "beta"

    code, out = _cli(store, "rm", "mnist/raw:v0", "--delete-aliases")
    assert code == 0 and "deleted mnist/raw:v0" in out
    code, out = _cli(store, "gc", "--dry-run", "--grace", "0")
    assert code == 0 and out.startswith("would remove 2 blobs (9 bytes)"), out
    assert _blobs(store) == 2
    code, out = _cli(store, "gc", "--grace", "0")
    assert code == 0 and out.startswith("removed 2 blobs (9 bytes)"), out
    assert "dropped 2 extraction-cache files no version needs" in out, out  # filled by `get`
    assert _blobs(store) == 0


def test_gc_keeps_young_and_referenced_blobs(store: Path, data: Path) -> None:
    _cli(store, "put", str(data / "a.txt"), "--name", "p/one")
    _cli(store, "put", str(data / "sub"), "--name", "p/two")
    _cli(store, "rm", "p/two:v0")
    code, out = _cli(store, "gc")  # default grace: an hour
    assert code == 0 and "removed 0 blobs" in out and "kept 1 referenced, 1 younger" in out, out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "p/missing:latest"), "no artifact p/missing"),
        (("put", "DATA", "--name", "nameonly"), "--name must be project/name"),
        (("put", "DATA", "--name", "p/../x"), "project name '..' is not allowed"),
        (("put", "DATA", "--name", "p/ok", "--alias", "v3"), "alias 'v3' is reserved"),
        (("get", "p/ds:v7"), "no version 'v7'"),
    ],
)
def test_bad_input_is_one_clear_line(
    store: Path, data: Path, args: tuple[str, ...], message: str
) -> None:
    _cli(store, "put", str(data), "--name", "p/ds")
    code, out = _cli(store, *(str(data) if a == "DATA" else a for a in args))
    assert code != 0 and message in out, out
    assert "Traceback" not in out
    code, out = _cli(store, "ls", "--json")
    assert [a["name"] for a in json.loads(out)] == ["p/ds:v0"], "nothing else was logged"


def test_get_into_a_non_empty_folder_is_refused(store: Path, data: Path, tmp_path: Path) -> None:
    _cli(store, "put", str(data), "--name", "p/ds")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep me")
    code, out = _cli(store, "get", "p/ds:latest", "--root", str(busy))
    assert code != 0 and "holds other files (mine.txt)" in out, out
    assert sorted(os.listdir(busy)) == ["mine.txt"]


def test_a_file_that_vanished_from_a_folder_is_named_and_nothing_is_published(
    store: Path, data: Path
) -> None:
    (data / "gone.txt").symlink_to(data / "nowhere.txt")  # listed, but cannot be read
    code, out = _cli(store, "put", str(data), "--name", "p/ds")
    assert code != 0 and "gone.txt" in out and "does not exist" in out, out
    code, out = _cli(store, "ls", "--json")
    assert json.loads(out) == []
