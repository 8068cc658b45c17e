"""The W&B-shaped surface: run attributes, save/log_code, config rules, init() and Settings names."""

from __future__ import annotations

import json
import logging
import math
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import localtrack
from localtrack.errors import ManifestError, UsageError
from localtrack.store.ingest.manifest_types import check_file_name
from localtrack.store.reader import StoreReader
from localtrack.sync.bundle import export_bundle, import_bundle

from .conftest import PYTHON, child_env

QUIET = localtrack.Settings(system_metrics=False, capture_git=False, capture_packages=False)
WAIT_S = 30.0  # generous: two shared cores


def _init(root: Path, **kw: object) -> localtrack.Run:
    kw.setdefault("project", "p")
    return localtrack.init(dir=root, settings=QUIET, **kw)  # type: ignore[arg-type]


def _meta(run: localtrack.Run) -> dict:
    return json.loads((run.dir / "run.json").read_text())


def _wait_for(predicate, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, f"waited {WAIT_S} s for {what}"
        time.sleep(0.05)


# -- run attributes ---------------------------------------------------------------------------


def test_run_attributes_and_settable_metadata_persist(root: Path) -> None:
    run = _init(root, name="a", entity="team", group="g", job_type="train", tags=["x"])
    assert (run.entity, run.group, run.job_type, run.tags) == ("team", "g", "train", ("x",))
    assert run.path == f"team/p/{run.id}" and not run.resumed
    assert abs(run.start_time - time.time()) < 60
    run.name, run.notes, run.tags = "b", "a note", ["y", "x", "y"]
    assert _meta(run)["name"] == "b" and _meta(run)["notes"] == "a note"
    assert run.tags == ("x", "y")
    run.finish()
    info = localtrack.Api(root).run(run.id)
    assert (info.name, info.notes, set(info.tags)) == ("b", "a note", {"x", "y"})
    again = _init(root, id=run.id, resume="allow")
    assert again.resumed and again.path == f"team/p/{run.id}"
    again.finish()


@pytest.mark.parametrize(("field", "value"), [("name", ""), ("tags", "one"), ("notes", 3)])
def test_a_bad_metadata_value_is_refused(root: Path, field: str, value: object) -> None:
    run = _init(root)
    with pytest.raises(UsageError):
        setattr(run, field, value)
    run.finish()


def test_url_is_the_server_page_or_the_local_ui(
    root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LOCALTRACK_CONFIG_DIR", str(tmp_path / "config"))
    run = _init(root)
    assert run.url == f"http://127.0.0.1:8080/runs/{run.id}"
    run.finish()
    monkeypatch.setenv("WANDB_BASE_URL", "http://tracker:9000/")
    run = _init(root)
    assert run.url == f"http://tracker:9000/runs/{run.id}"
    run.finish()


# -- save() and log_code() --------------------------------------------------------------------


def test_save_now_and_end_keep_folders_relative_to_base_path(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    (work / "ckpt" / "deep").mkdir(parents=True)
    (work / "ckpt" / "model.pt").write_bytes(b"weights")
    (work / "ckpt" / "deep" / "my model.pt").write_bytes(b"w2")
    monkeypatch.chdir(work)
    run = _init(root)
    assert run.save("ckpt/*.pt", policy="now") == ["ckpt/model.pt"]
    assert run.save(str(work / "ckpt" / "**" / "*.pt"), base_path=work / "ckpt") == [
        "deep/my_model.pt",
        "model.pt",
    ]
    assert run.save(str(work / "ckpt" / "model.pt")) == ["model.pt"]  # absolute: no folders
    run.save("ckpt/late.txt", policy="end")
    (work / "ckpt" / "late.txt").write_text("written after save()")
    with pytest.raises(UsageError, match="not inside base_path"):
        run.save(str(work / "ckpt" / "model.pt"), base_path=tmp_path / "elsewhere")
    with pytest.raises(UsageError, match="policy"):
        run.save("x", policy="sometimes")
    run.finish()
    files = run.dir / "files"
    assert (files / "ckpt" / "model.pt").read_bytes() == b"weights"
    assert (files / "deep" / "my_model.pt").read_bytes() == b"w2"
    assert (files / "ckpt" / "late.txt").read_text() == "written after save()"
    assert not list(files.rglob(".*"))  # no partial files left


def test_save_live_copies_a_file_again_when_it_changes(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "progress.txt").write_text("epoch 0")
    run = _init(root)
    run.save("progress.txt")  # policy="live"
    saved = run.dir / "files" / "progress.txt"
    assert saved.read_text() == "epoch 0"
    (tmp_path / "progress.txt").write_text("epoch 1")
    _wait_for(lambda: saved.read_text() == "epoch 1", "the changed file to be copied")
    (tmp_path / "new.txt").write_text("late")
    run.save("*.txt")
    (tmp_path / "newer.txt").write_text("appeared later")
    _wait_for(lambda: (saved.parent / "newer.txt").exists(), "a new matching file")
    (tmp_path / "progress.txt").write_text("final")
    run.finish()  # the last version is copied at finish
    assert saved.read_text() == "final"


def test_watchdog_is_imported_only_for_live_saves(tmp_path: Path) -> None:
    code = (
        "import sys, localtrack\n"
        "r = localtrack.init(project='p', settings=localtrack.Settings(system_metrics=False,"
        " capture_git=False, capture_packages=False))\n"
        "open('f.txt', 'w').write('x')\n"
        "r.save('f.txt', policy='now'); print('watchdog' in sys.modules)\n"
        "r.save('f.txt'); print('watchdog' in sys.modules)\n"
        "r.finish()\n"
    )
    out = subprocess.run(
        [PYTHON, "-c", code],
        cwd=tmp_path,
        env=child_env(LOCALTRACK_DIR=str(tmp_path / "store")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]


def test_saved_folders_travel_through_a_bundle(root: Path, tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "a" / "b").mkdir(parents=True)
    (source / "a" / "b" / "c.txt").write_text("deep")
    run = _init(root)
    run.save(str(source / "a" / "b" / "c.txt"), base_path=source)
    run.finish()
    bundle = tmp_path / "runs.bundle"
    export_bundle(root, [run.id], bundle)
    target = tmp_path / "target"
    import_bundle(bundle, target)
    assert (target / "runs" / run.id / "files" / "a" / "b" / "c.txt").read_text() == "deep"


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("files/a.txt", True),
        ("files/code/src/train.py", True),
        ("files/" + "d/" * 8 + "x", True),
        ("files/" + "d/" * 9 + "x", False),
        ("files/.hidden/x", False),
        ("files/a/../b", False),
        ("files/a//b", False),
        ("files/a/b.tmp", False),
    ],
)
def test_the_manifest_allows_files_in_folders(name: str, allowed: bool) -> None:
    if allowed:
        check_file_name(name)
    else:
        with pytest.raises(ManifestError):
            check_file_name(name)


def test_log_code_copies_sources_keeping_folders(root: Path, tmp_path: Path) -> None:
    code = tmp_path / "code"
    (code / "pkg").mkdir(parents=True)
    (code / "train.py").write_text("print(1)")
    (code / "pkg" / "model.py").write_text("x = 1")
    (code / "README.md").write_text("docs")
    (code / ".venv").mkdir()
    (code / ".venv" / "hidden.py").write_text("no")
    run = _init(root)
    assert sorted(run.log_code(code)) == ["code/pkg/model.py", "code/train.py"]
    assert run.log_code(code, include_fn=lambda path: path.endswith(".md")) == ["code/README.md"]
    assert run.log_code(
        code, exclude_fn=lambda path, root: path.endswith("train.py") or ".venv" in path
    ) == ["code/pkg/model.py"]
    run.finish()
    assert (run.dir / "files" / "code" / "pkg" / "model.py").read_text() == "x = 1"


# -- lifecycle, metrics, config ---------------------------------------------------------------


def test_mark_preempting_is_recorded(root: Path) -> None:
    run = _init(root)
    localtrack.mark_preempting()
    assert _meta(run)["preempting_at"] > 0
    run.finish(exit_code=0, quiet=True)


def test_define_metric_goal_hidden_overwrite(root: Path) -> None:
    run = _init(root)
    run.define_metric("val/loss", summary="best", goal="minimize", hidden=True)
    run.define_metric("val/acc", summary="max,mean", step_metric="epoch")
    run.define_metric("val/acc", summary="last", overwrite=True)
    with pytest.raises(UsageError, match="goal"):
        run.define_metric("x", summary="best")
    with pytest.raises(UsageError, match="goal"):
        run.define_metric("x", goal="up")
    for loss in (0.5, 0.1, 0.3):
        run.log({"val/loss": loss})
    run.finish()
    definitions = {d["name"]: d for d in _meta(run)["metric_definitions"]}
    assert definitions["val/loss"]["summary"] == "min" and definitions["val/loss"]["hidden"]
    assert definitions["val/acc"] == {"name": "val/acc", "step_metric": None, "summary": "last"}
    assert localtrack.Api(root).run(run.id).summary["val/loss"] == 0.1


def test_config_changes_follow_wandb_rules(root: Path) -> None:
    run = _init(root, config={"lr": 0.1, "nan": math.nan})
    with pytest.raises(UsageError, match="allow_val_change"):
        run.config.update({"lr": 0.2})
    with pytest.raises(UsageError, match="allow_val_change"):
        run.config.lr = 0.3
    run.config.update({"lr": 0.1, "nan": math.nan, "new": 1})  # same values, new key: fine
    run.config.update({"lr": 0.2}, allow_val_change=True)
    assert run.config.lr == 0.2
    run.finish()
    relaxed = _init(root, config={"lr": 0.1}, allow_val_change=True)
    relaxed.config.lr = 0.5
    assert relaxed.config.lr == 0.5
    relaxed.finish()


def test_a_list_of_images_is_a_gallery_end_to_end(root: Path) -> None:
    run = _init(root)
    rng = np.random.default_rng(0)
    images = [localtrack.Image(rng.integers(0, 255, (4, 4, 3), dtype=np.uint8)) for _ in range(3)]
    run.log({"samples": images})
    run.finish()
    lines = [
        json.loads(line)
        for log in (run.dir / "media").glob("log-*.jsonl")
        for line in log.read_text().splitlines()
    ]
    assert len([m for m in lines if m.get("key") == "samples"]) == 3


# -- init() and Settings names ----------------------------------------------------------------


def test_an_unknown_init_argument_names_the_closest(root: Path) -> None:
    with pytest.raises(UsageError, match="'projcet'; did you mean 'project'"):
        localtrack.init(projcet="p", dir=root)
    assert not root.exists()


def test_wandb_init_arguments_are_accepted(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        run = localtrack.init(
            project="p",
            dir=root,
            config={"a": 1, "b": 2, "secret": 3},
            config_exclude_keys=["secret"],
            settings={"silent": True, "x_disable_stats": True, "disable_git": True},
            anonymous="never",
            magic=True,
            monitor_gym=False,
            sync_tensorboard=False,
            force=False,
            save_code=False,
            fork_from="other?_step=3",
        )
    assert dict(run.config) == {"a": 1, "b": 2} and "fork_from" in caplog.text
    assert localtrack.init(project="p", dir=root, reinit="return_previous") is run
    run.finish()
    run = localtrack.init(project="p", dir=root, config={"a": 1, "b": 2}, config_include_keys=["a"])
    assert dict(run.config) == {"a": 1}
    run.finish()


def test_settings_take_wandb_names() -> None:
    s = localtrack.Settings(
        mode="dryrun",
        console="off",
        quiet=True,
        disable_git=True,
        disable_code=True,
        x_disable_stats=True,
        x_stats_sampling_interval=2.0,
        start_method="thread",
        x_some_internal=1,
        run_name="n",
        root_dir="/tmp/x",
    )
    assert (s.mode, s.console, s.silent, s.capture_git, s.save_code) == (
        "offline",
        False,
        True,
        False,
        False,
    )
    assert s.system_metrics is False and s.system_metrics_interval == 2.0
    assert s.extra == {"name": "n", "dir": "/tmp/x"}
    with pytest.raises(UsageError, match="'silnt'; did you mean 'silent'"):
        localtrack.Settings(silnt=True)


def test_settings_extra_feeds_init(root: Path) -> None:
    run = localtrack.init(
        settings=localtrack.Settings(project="from-settings", run_name="nm", root_dir=str(root))
    )
    assert (run.project, run.name) == ("from-settings", "nm") and root in run.dir.parents
    run.finish()


# -- module level -----------------------------------------------------------------------------

WANDB_NAMES = [
    "init",
    "log",
    "finish",
    "run",
    "config",
    "summary",
    "define_metric",
    "watch",
    "unwatch",
    "save",
    "log_code",
    "mark_preempting",
    "log_artifact",
    "use_artifact",
    "login",
    "Settings",
    "Api",
    "Image",
    "Table",
    "Histogram",
    "Audio",
    "Video",
    "Html",
    "Plotly",
    "Object3D",
    "Artifact",
    "sweep",
    "agent",
    "termlog",
    "termwarn",
    "termerror",
    "alert",
    "Error",
    "setup",
    "require",
    "plot",
    "restore",
    "teardown",
    "util",
    "AlertLevel",
]


@pytest.mark.parametrize("name", WANDB_NAMES)
def test_module_has_wandb_name(name: str) -> None:
    assert hasattr(localtrack, name) or name in ("run", "config", "summary")
    assert name in localtrack.__all__


def test_login_offline_is_a_no_op_that_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert localtrack.login() is False
        assert localtrack.login(key="abc", relogin=True) is False
    assert "offline" in caplog.text


def test_module_level_save_and_alert(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(UsageError, match="init"):
        localtrack.save("x")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f.txt").write_text("x")
    run = _init(root)
    assert localtrack.save("f.txt", policy="now") == ["f.txt"]
    assert localtrack.log_code(".", include_fn=lambda p: False) == []
    localtrack.alert(title="loss diverged", text="nan at step 3")
    assert "ALERT [INFO] loss diverged: nan at step 3" in capsys.readouterr().err
    assert [a["title"] for a in StoreReader(root).alerts(run.id)] == ["loss diverged"]
    run.finish()
    assert issubclass(UsageError, localtrack.Error)


def test_disabled_run_takes_the_whole_surface(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    run = localtrack.init(project="p")
    assert run.save("*.txt") == [] and run.log_code() == [] and run.url == ""
    assert run.display_name == run.name and run.get_project_url() == ""
    assert run.log_model("model.pt") == "model.pt"
    run.mark_preempting()
    run.name = "x"
    run.tags = ("a",)
    localtrack.save("*.txt")
    localtrack.mark_preempting()
    run.finish()


def test_more_wandb_run_names(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("LOCALTRACK_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    run_id = localtrack.util.generate_id()
    assert len(run_id) == 8 and run_id != localtrack.util.generate_id()
    run = _init(root, id=run_id, entity="team")
    run.display_name = "shown"
    assert (run.name, run.display_name, run.project_name(), run.sweep_id) == (
        "shown",
        "shown",
        "p",
        None,
    )
    assert run.get_project_url() == "http://127.0.0.1:8080/projects/team/p"
    (tmp_path / "weights.pt").write_bytes(b"w")
    model = run.log_model(tmp_path / "weights.pt", aliases=["best"])
    assert (model.name, model.type) == (f"run-{run_id}-weights.pt:v0", "model")
    folder = Path(run.use_model(f"run-{run_id}-weights.pt:best"))
    assert (folder / "weights.pt").read_bytes() == b"w"
    (tmp_path / "notes.txt").write_text("kept")
    run.save("notes.txt", policy="now")
    with localtrack.restore("notes.txt") as f:
        assert f.read() == "kept"
    run.alert(title="t", text="x", level=localtrack.AlertLevel.WARN)
    assert "ALERT [WARN] t: x" in capsys.readouterr().err
    localtrack.teardown()
    assert localtrack.run is None and localtrack.Api(root).run(run_id).state == "finished"
    monkeypatch.setenv("LOCALTRACK_DIR", str(root))
    with localtrack.restore("notes.txt", run_path=f"team/p/{run_id}", root=tmp_path / "r") as f:
        assert f.read() == "kept" and f.name == str(tmp_path / "r" / "notes.txt")
