"""Fixtures shared by every test: an isolated store directory and a clean environment.

Fixture modules are registered here as plugins (``pytest_plugins``), never re-exported into a
test module by assignment or a ``# noqa`` import: a fixture defined in any ``tests/*_fixtures.py``
module (``browser``, ``ui_store``, ...) is visible to every test by name.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytest_plugins = [
    "tests.alert_fixtures",
    "tests.media_fixtures",
    "tests.pg_fixtures",
    "tests.s3_fixtures",
    "tests.store_fixtures",
    "tests.sync_fixtures",
    "tests.webui_fixtures",
    "tests.backend_fixtures",  # after pg_ and s3_fixtures, which it imports
]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No LOCALTRACK_* (or WANDB_*) setting leaks in from the machine; no run outlives its test."""
    for name in list(os.environ):
        if name.startswith(("LOCALTRACK_", "WANDB_")) or name in (
            "RANK",
            "LOCAL_RANK",
            "SLURM_PROCID",
            "WORLD_SIZE",
        ):
            monkeypatch.delenv(name, raising=False)
    yield
    from localtrack.liverun import lifecycle

    while (run := lifecycle.module_run()) is not None:
        run.finish()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty store directory."""
    return tmp_path / "store"


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a child Python process that imports this checkout's localtrack."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCALTRACK_", "WANDB_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


PYTHON = sys.executable
