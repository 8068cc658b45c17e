"""Settings: explicit argument > environment > default, each one documented."""

from __future__ import annotations

from pathlib import Path

import pytest

import localtrack
from localtrack.errors import UsageError
from localtrack.settings import SPECS, resolve

from .conftest import REPO


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    for spec in SPECS:
        assert spec.env in readme, f"{spec.env} is not documented in README.md"


def test_every_environment_variable_the_code_reads_is_documented() -> None:
    import re

    readme = (REPO / "README.md").read_text()
    internal = {"LOCALTRACK_ROOT", "LOCALTRACK_POLL_MS", "LOCALTRACK_SERVER"}  # Flask config keys
    for folder in ("localtrack", "webui"):
        for path in (REPO / folder).rglob("*.py"):
            for name in set(re.findall(r"LOCALTRACK_[A-Z_]+", path.read_text())) - internal:
                assert name in readme, (
                    f"{name} (read in {path.name}) is not documented in README.md"
                )


def test_explicit_beats_environment_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve("flush_interval") == 0.5
    monkeypatch.setenv("LOCALTRACK_FLUSH_INTERVAL", "0.25")
    assert resolve("flush_interval") == 0.25
    assert resolve("flush_interval", 2.0) == 2.0
    assert localtrack.Settings(flush_interval=3.0).resolved()["flush_interval"] == 3.0


@pytest.mark.parametrize(
    ("env", "value"), [("LOCALTRACK_STRICT", "maybe"), ("LOCALTRACK_FLUSH_INTERVAL", "fast")]
)
def test_bad_environment_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv(env, value)
    name = env.removeprefix("LOCALTRACK_").lower()
    with pytest.raises(UsageError, match=env):
        resolve(name)


def test_strict_from_environment_applies_to_runs(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCALTRACK_STRICT", "1")
    run = localtrack.init(project="p", dir=root)
    with pytest.raises(localtrack.UnsupportedValueError):
        run.log({"x": "text"})
    run.finish()


def test_index_off_keeps_logging_and_reading_from_run_files(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCALTRACK_INDEX", "off")
    run = localtrack.init(project="p", dir=root, config={"a": 1})
    for i in range(50):
        run.log({"loss": float(i)})
    run.finish()
    assert not (root / "index.db").exists()
    reader = localtrack.Api(root)
    [info] = reader.runs()
    assert info.state == "finished" and info.summary["loss"] == 49.0 and info.config == {"a": 1}
    assert info.history()["loss"].to_pylist() == [float(i) for i in range(50)]
