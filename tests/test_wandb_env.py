"""W&B's environment variables: each one sets its localtrack twin; LOCALTRACK_* wins over WANDB_*."""

from __future__ import annotations

from pathlib import Path

import pytest

import localtrack
from localtrack.errors import UsageError
from localtrack.settings import _parse, from_env, resolve_dir, wandb_variables
from localtrack.settings_table import SPECS, SettingSpec, WandbEnv

QUIET = localtrack.Settings(system_metrics=False, capture_git=False, capture_packages=False)

# (W&B variable, its value, the setting, what localtrack makes of it)
CASES = [
    ("WANDB_MODE", "offline", "mode", "offline"),
    ("WANDB_MODE", "dryrun", "mode", "offline"),
    ("WANDB_MODE", "online", "mode", "online"),
    ("WANDB_MODE", "disabled", "mode", "disabled"),
    ("WANDB_DISABLED", "true", "mode", "disabled"),
    ("WANDB_BASE_URL", "http://tracker:8080", "base_url", "http://tracker:8080"),
    ("WANDB_API_KEY", "k123", "api_key", "k123"),
    ("WANDB_CONSOLE", "off", "console", False),
    ("WANDB_CONSOLE", "wrap", "console", True),
    ("WANDB_SILENT", "true", "silent", True),
    ("WANDB_DISABLE_GIT", "true", "capture_git", False),
    ("WANDB_DISABLE_CODE", "true", "save_code", False),
    ("WANDB_SAVE_CODE", "false", "save_code", False),
    ("WANDB_X_DISABLE_STATS", "true", "system_metrics", False),
    ("WANDB__DISABLE_STATS", "true", "system_metrics", False),
    ("WANDB_X_STATS_SAMPLING_INTERVAL", "2", "system_metrics_interval", 2.0),
    ("WANDB_PROJECT", "proj", "project", "proj"),
    ("WANDB_ENTITY", "team", "entity", "team"),
    ("WANDB_NAME", "my-run", "name", "my-run"),
    ("WANDB_NOTES", "a note", "notes", "a note"),
    ("WANDB_TAGS", "a,b", "tags", "a,b"),
    ("WANDB_RUN_GROUP", "g", "group", "g"),
    ("WANDB_JOB_TYPE", "train", "job_type", "train"),
    ("WANDB_RUN_ID", "abc123", "run_id", "abc123"),
    ("WANDB_RESUME", "allow", "resume", "allow"),
    ("WANDB_RESUME", "auto", "resume", "allow"),
    ("WANDB_RESUME", "must", "resume", "must"),
    ("WANDB_RESUME", "never", "resume", "never"),
]


@pytest.mark.parametrize(("env", "raw", "setting", "expected"), CASES)
def test_wandb_variable_sets_its_setting(
    monkeypatch: pytest.MonkeyPatch, env: str, raw: str, setting: str, expected: object
) -> None:
    monkeypatch.setenv(env, raw)
    assert from_env(setting) == expected


def test_every_wandb_variable_is_tested_and_documented() -> None:
    tested = {case[0] for case in CASES} | {"WANDB_DIR", "WANDB__STATS_SAMPLE_RATE_SECONDS"}
    assert set(wandb_variables()) <= tested
    doc = (Path(__file__).parent.parent / "docs" / "wandb.md").read_text()
    for env in wandb_variables():
        assert f"`{env}`" in doc, f"docs/wandb.md should name {env}"


def _twin_value(alias: WandbEnv, spec: SettingSpec) -> str:
    """A value the W&B variable accepts (and does not treat as unset)."""
    mapped = [raw for raw, value in alias.values if value]
    if mapped:
        return mapped[0]
    return {bool: "true", float: "3", int: "3"}.get(spec.kind, "theirs")


@pytest.mark.parametrize(
    ("spec", "alias"),
    [(s, a) for s in SPECS for a in s.wandb],
    ids=lambda x: getattr(x, "env", ""),
)
def test_localtrack_variable_wins_over_its_wandb_twin(
    monkeypatch: pytest.MonkeyPatch, spec: SettingSpec, alias: WandbEnv
) -> None:
    monkeypatch.setenv(alias.env, _twin_value(alias, spec))
    theirs = from_env(spec.name)
    assert theirs is not None
    if spec.choices:
        mine = next(c for c in spec.choices if c != theirs)
    elif spec.kind is bool:
        mine = "0" if theirs else "1"
    else:
        mine = {float: "7", int: "7"}.get(spec.kind, "ours")
    monkeypatch.setenv(spec.env, mine)
    assert from_env(spec.name) == _parse(spec, mine) != theirs


def test_wandb_dir_is_a_subfolder_and_localtrack_dir_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    assert resolve_dir() == tmp_path / "localtrack-runs"
    monkeypatch.setenv("LOCALTRACK_DIR", str(tmp_path / "mine"))
    assert resolve_dir() == tmp_path / "mine"
    assert resolve_dir(tmp_path / "explicit") == tmp_path / "explicit"


def test_a_bad_wandb_value_names_the_wandb_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "sideways")
    with pytest.raises(UsageError, match=r"WANDB_MODE='sideways'.*online"):
        from_env("mode")
    monkeypatch.setenv("WANDB_SILENT", "maybe")
    with pytest.raises(UsageError, match="WANDB_SILENT='maybe'"):
        from_env("silent")


def test_wandb_disabled_false_leaves_the_mode_to_wandb_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WANDB_DISABLED", "false")
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert from_env("mode") == "offline"


def test_wandb_mode_disabled_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    run = localtrack.init(project="p")
    run.log({"a": 1.0})
    run.finish()
    assert getattr(run, "disabled", False) and not (tmp_path / "localtrack-runs").exists()


def test_a_job_scripts_wandb_variables_shape_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for env, raw in {
        "WANDB_DIR": str(tmp_path),
        "WANDB_PROJECT": "cluster",
        "WANDB_ENTITY": "team",
        "WANDB_NAME": "job-17",
        "WANDB_NOTES": "from sbatch",
        "WANDB_TAGS": "slurm, a100",
        "WANDB_RUN_GROUP": "sweep-3",
        "WANDB_JOB_TYPE": "train",
        "WANDB_RUN_ID": "job17",
    }.items():
        monkeypatch.setenv(env, raw)
    run = localtrack.init(settings=QUIET)
    run.log({"loss": 1.0})
    run.finish()
    info = localtrack.Api(tmp_path / "localtrack-runs").run("job17")
    assert (info.project, info.name, info.notes) == ("cluster", "job-17", "from sbatch")
    assert (info.group, info.job_type, set(info.tags)) == ("sweep-3", "train", {"slurm", "a100"})
    assert run.entity == "team" and run.path == "team/cluster/job17"


def test_explicit_init_arguments_beat_the_variables(
    monkeypatch: pytest.MonkeyPatch, root: Path
) -> None:
    monkeypatch.setenv("WANDB_PROJECT", "theirs")
    monkeypatch.setenv("LOCALTRACK_PROJECT", "ours")
    run = localtrack.init(dir=root, settings=QUIET)
    assert run.project == "ours"
    run.finish()
    run = localtrack.init(project="explicit", dir=root, settings=QUIET)
    assert run.project == "explicit"
    run.finish()


def test_wandb_run_id_and_resume_continue_a_run(
    monkeypatch: pytest.MonkeyPatch, root: Path
) -> None:
    monkeypatch.setenv("WANDB_RUN_ID", "again")
    monkeypatch.setenv("WANDB_RESUME", "allow")
    first = localtrack.init(project="p", dir=root, settings=QUIET)
    first.log({"a": 1.0})
    first.finish()
    second = localtrack.init(project="p", dir=root, settings=QUIET)
    assert second.id == "again" and second.resumed and second.step == 1
    second.finish()
    monkeypatch.setenv("WANDB_RESUME", "never")
    with pytest.raises(localtrack.RunExistsError):
        localtrack.init(project="p", dir=root, settings=QUIET)


def test_wandb_console_off_saves_no_output_log(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    run = localtrack.init(project="p", dir=root, settings=QUIET)
    run.finish()
    assert not (run.dir / "files" / "output.log").exists()


def test_wandb_silent_quiets_termlog(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    localtrack.termlog("shown")
    monkeypatch.setenv("WANDB_SILENT", "true")
    localtrack.termlog("hidden")
    localtrack.termwarn("hidden too")
    assert capsys.readouterr().err == "localtrack: shown\n"
