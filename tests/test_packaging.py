"""Packaging: the sdist carries the vendored uPlot, and a wheel built from it needs no npm.

These tests drive the real build frontend (``python -m build``) against the project, so they fail
when ``hatch_build.py`` or the ``artifacts`` / ``packages`` settings in ``pyproject.toml`` break.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
VENDORED = (
    "webui/static/vendor/uPlot.iife.min.js",
    "webui/static/vendor/uPlot.min.css",
    "webui/static/vendor/uPlot.LICENSE",
)
NODE_TOOLS = frozenset({"npm", "npx", "node", "nodejs", "corepack"})


def _path_without_node(scratch: Path) -> str:
    """Return a copy of PATH on which neither npm nor node can be found.

    A directory that holds a node tool (often /usr/bin) is swapped for a shadow directory of
    symlinks to everything else in it, so python, tar and friends stay reachable.
    """
    entries = []
    for i, entry in enumerate(os.environ.get("PATH", "").split(os.pathsep)):
        directory = Path(entry)
        if not any((directory / tool).exists() for tool in NODE_TOOLS):
            entries.append(entry)
            continue
        shadow = scratch / f"path-{i}"
        shadow.mkdir(parents=True)
        for item in directory.iterdir():
            if item.name not in NODE_TOOLS:
                (shadow / item.name).symlink_to(item)
        entries.append(str(shadow))
    return os.pathsep.join(entries)


def _build(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "build", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _only(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {folder}, found {found}"
    return found[0]


@pytest.fixture(scope="module")
def no_node_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    path = _path_without_node(tmp_path_factory.mktemp("no-node-path"))
    assert shutil.which("npm", path=path) is None
    assert shutil.which("node", path=path) is None
    return {**os.environ, "PATH": path}


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sdist")
    proc = _build("--sdist", "--outdir", out, ROOT)
    assert proc.returncode == 0, f"sdist build failed:\n{proc.stdout}\n{proc.stderr}"
    return _only(out, "localtrack-*.tar.gz")


def test_sdist_contains_vendored_uplot(sdist: Path) -> None:
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for required in (*VENDORED, "hatch_build.py", "package.json", "package-lock.json"):
        assert required in names, f"{required} missing from {sdist.name}"


def test_wheel_from_sdist_builds_without_npm(
    sdist: Path, no_node_env: dict[str, str], tmp_path: Path
) -> None:
    proc = _build("--wheel", "--outdir", tmp_path, sdist, env=no_node_env)
    assert proc.returncode == 0, f"wheel build from sdist failed:\n{proc.stdout}\n{proc.stderr}"

    with zipfile.ZipFile(_only(tmp_path, "localtrack-*.whl")) as wheel:
        names = set(wheel.namelist())
        for required in (*VENDORED, "localtrack/py.typed", "webui/__init__.py"):
            assert required in names, f"{required} missing from the wheel"
        assert b"uPlot" in wheel.read("webui/static/vendor/uPlot.iife.min.js")
        assert b"MIT" in wheel.read("webui/static/vendor/uPlot.LICENSE")
        entry_points_txt = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        entry_points = configparser.ConfigParser()
        entry_points.read_string(wheel.read(entry_points_txt).decode())

    assert entry_points["console_scripts"]["localtrack"] == "localtrack.cli:main"


def test_build_without_vendored_files_or_npm_fails_clearly(
    sdist: Path, no_node_env: dict[str, str], tmp_path: Path
) -> None:
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(tmp_path, filter="data")
        else:  # Python < 3.10.12 has no extraction filters; the archive is our own.
            tar.extractall(tmp_path)
    source = _only(tmp_path, "localtrack-*")
    shutil.rmtree(source / "webui" / "static" / "vendor")

    proc = _build("--wheel", "--outdir", tmp_path / "dist", source, env=no_node_env)

    assert proc.returncode != 0, "the build should fail when uPlot is missing and npm is absent"
    assert "`npm` is not on PATH" in proc.stdout + proc.stderr
