"""Settings: explicit argument > environment > default, each one documented."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

import localtrack
from localtrack.errors import UsageError
from localtrack.settings import resolve
from localtrack.settings_table import SCOPES, SPECS, SettingSpec
from localtrack.store.runmeta import stale_after_s

from .conftest import REPO


def _shown(spec: SettingSpec) -> str:
    if spec.shown_default is not None:
        return spec.shown_default
    if spec.default is None:
        return "—"
    if isinstance(spec.default, bool):
        return "`1`" if spec.default else "`0`"
    return f"`{format(spec.default, 'g') if isinstance(spec.default, float) else spec.default}`"


def _variable(spec: SettingSpec) -> str:
    """The variable's cell: its name, and the W&B variables that set it too (LOCALTRACK_* wins)."""
    twins = ", ".join(f"`{alias.env}`" for alias in spec.wandb)
    return f"`{spec.env}`" + (f" (W&B: {twins})" if twins else "")


def settings_table(specs: list[SettingSpec], *, with_argument: bool) -> str:
    """The Markdown table the docs show for `specs`, rendered from SPECS."""
    if with_argument:
        lines = [
            "| environment variable | `Settings` field | default | meaning |",
            "|---|---|---|---|",
        ]
        lines += [f"| {_variable(s)} | `{s.argument}` | {_shown(s)} | {s.help} |" for s in specs]
    else:
        lines = ["| environment variable | default | meaning |", "|---|---|---|"]
        lines += [f"| {_variable(s)} | {_shown(s)} | {s.help} |" for s in specs]
    return "\n".join(lines) + "\n"


DOC_TABLES = {
    "README.md": [
        settings_table([s for s in SPECS if s.argument], with_argument=True),
        settings_table([s for s in SPECS if not s.argument], with_argument=False),
    ],
    "docs/sync.md": [settings_table([s for s in SPECS if s.scope != "run"], with_argument=False)],
}
FLASK_CONFIG_KEYS = {"LOCALTRACK_ROOT", "LOCALTRACK_POLL_MS", "LOCALTRACK_SERVER"}


@pytest.mark.parametrize("doc", sorted(DOC_TABLES))
def test_settings_tables_in_the_docs_are_rendered_from_the_table(doc: str) -> None:
    text = (REPO / doc).read_text()
    for table in DOC_TABLES[doc]:
        assert table in text, f"{doc} should hold this table (rendered from SPECS):\n{table}"


def test_every_setting_field_is_declared_and_every_run_setting_is_a_field() -> None:
    names = {f.name for f in fields(localtrack.Settings)} - {"extra"}
    assert names == {s.name for s in SPECS if s.argument == s.name}
    assert {s.scope for s in SPECS} <= set(SCOPES)


def test_every_localtrack_variable_in_code_or_docs_is_declared() -> None:
    declared = {s.env for s in SPECS}
    sources = [*(REPO / "localtrack").rglob("*.py"), *(REPO / "webui").rglob("*.py")]
    docs = [REPO / "README.md", *(REPO / "docs").rglob("*.md")]
    for path in sources + docs:
        found = (
            set(re.findall(r"LOCALTRACK_[A-Z0-9_]*[A-Z](?![A-Z0-9_]*\*)", path.read_text()))
            - FLASK_CONFIG_KEYS
        )
        assert found <= declared, f"{path.name} names {found - declared}: declare them in SPECS"


def test_only_settings_reads_localtrack_variables_from_the_environment() -> None:
    for folder in ("localtrack", "webui"):
        for path in (REPO / folder).rglob("*.py"):
            if path == REPO / "localtrack" / "settings.py":
                continue
            for line in path.read_text().splitlines():
                if "environ" in line or "getenv" in line:
                    assert "LOCALTRACK_" not in line, f"{path.name} reads {line.strip()!r}"


def _bad_value(spec: SettingSpec) -> str:
    if spec.choices:
        return "sideways"
    if spec.minimum is not None:
        return "0"
    return "abc" if spec.kind is not str else ""


@pytest.mark.parametrize(
    "spec", [s for s in SPECS if _bad_value(s)], ids=lambda s: s.env.removeprefix("LOCALTRACK_")
)
def test_a_bad_value_is_one_usage_error_naming_variable_and_value(
    monkeypatch: pytest.MonkeyPatch, spec: SettingSpec
) -> None:
    value = _bad_value(spec)
    monkeypatch.setenv(spec.env, value)
    with pytest.raises(UsageError, match=re.escape(f"{spec.env}={value!r}")) as info:
        resolve(spec.name)
    assert "set it to" in str(info.value)


@pytest.mark.parametrize(
    "spec",
    [s for s in SPECS if s.maximum is not None],
    ids=lambda s: s.env.removeprefix("LOCALTRACK_"),
)
def test_a_value_above_its_maximum_is_refused_naming_the_limit(
    monkeypatch: pytest.MonkeyPatch, spec: SettingSpec
) -> None:
    value = str(int(spec.maximum or 0) * 2)
    monkeypatch.setenv(spec.env, value)
    with pytest.raises(UsageError, match=re.escape(f"{spec.env}={value!r}")) as info:
        resolve(spec.name)
    assert f"{int(spec.maximum or 0)} or less" in str(info.value)


def test_stale_after_message_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALTRACK_STALE_AFTER", "abc")
    with pytest.raises(UsageError) as info:
        stale_after_s()
    assert str(info.value) == (
        "LOCALTRACK_STALE_AFTER='abc' is not a number of seconds; set it to a number such as 60"
    )
    assert localtrack.Settings(stale_after=5.0).resolved()["stale_after"] == 5.0


def test_an_empty_variable_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for spec in SPECS:
        monkeypatch.setenv(spec.env, " ")
        assert resolve(spec.name) == spec.default


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
    assert info.history(pandas=False)["loss"].to_pylist() == [float(i) for i in range(50)]
