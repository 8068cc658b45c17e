"""The storage core and the sync client type-check (STYLE.md: mypy on store and sync)."""

from __future__ import annotations

import subprocess

import pytest

from .conftest import PYTHON, REPO


@pytest.mark.slow
def test_store_and_sync_pass_mypy() -> None:
    pytest.importorskip("mypy", reason="the test command installs mypy with the test extra")
    out = subprocess.run(
        [PYTHON, "-m", "mypy", "localtrack/store", "localtrack/sync"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
