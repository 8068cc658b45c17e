"""What every framework integration shares: cheap imports, the missing-framework message, and the
helpers the per-framework tests use to read back what landed in the store."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import localtrack
from localtrack.store.reader import StoreReader
from localtrack.store.runinfo import RunInfo

from .conftest import PYTHON, REPO, child_env

FRAMEWORKS = {  # integration module → (framework module, extra)
    "lightning": ("lightning", "lightning"),
    "transformers": ("transformers", "transformers"),
    "keras": ("keras", "keras"),
    "xgboost": ("xgboost", "xgboost"),
    "lightgbm": ("lightgbm", "lightgbm"),
    "sklearn": ("sklearn", "sklearn"),
}

# -- helpers for the per-framework tests ----------------------------------------------------------


def settings() -> localtrack.Settings:
    """A quiet run: no console capture (pytest owns stdout)."""
    return localtrack.Settings(console=False)


def run_info(root: Path, run_id: str) -> RunInfo:
    return StoreReader(root).run(run_id)


def rows(root: Path, run_id: str, key: str, *others: str) -> list[dict[str, Any]]:
    """History rows (step and the keys asked for) where `key` was logged, in step order."""
    table = StoreReader(root).history(run_id, [key, *others])
    return [row for row in table.to_pylist() if row.get(key) is not None]


def media_keys(root: Path, run_id: str) -> dict[str, str]:
    return StoreReader(root).media_keys(run_id)


def artifact_versions(root: Path, name: str) -> list[Any]:
    return localtrack.Api(dir=root).artifact_versions(name)


# -- tests ------------------------------------------------------------------------------------------


def test_integrations_package_imports_no_framework() -> None:
    code = (
        "import sys, localtrack, localtrack.integrations\n"
        f"print(sorted(m for m in {sorted({f for f, _ in FRAMEWORKS.values()} | {'torch'})!r}"
        " if m in sys.modules))"
    )
    out = subprocess.run(
        [PYTHON, "-c", code], env=child_env(), capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("integration", sorted(FRAMEWORKS))
def test_integration_without_its_framework_names_the_extra(
    integration: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    framework, extra = FRAMEWORKS[integration]
    for name in list(sys.modules):
        if name == framework or name.startswith(framework + "."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, framework, None)  # "not installed"
    monkeypatch.delitem(sys.modules, f"localtrack.integrations.{integration}", raising=False)
    with pytest.raises(ModuleNotFoundError) as caught:
        importlib.import_module(f"localtrack.integrations.{integration}")
    assert f"pip install 'localtrack[{extra}]'" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_integrations_doc_examples_are_python_and_name_real_extras() -> None:
    text = (REPO / "docs" / "integrations.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == len(FRAMEWORKS)  # one copy-paste example per framework
    for block in blocks:
        ast.parse(block)
    pyproject = (REPO / "pyproject.toml").read_text()
    for _framework, extra in FRAMEWORKS.values():
        assert f"\n{extra} = [" in pyproject and f"localtrack[{extra}]" in text
