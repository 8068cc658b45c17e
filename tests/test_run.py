"""The logging client: what a training script logs is what every reader reads back."""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import localtrack
from localtrack.errors import RunExistsError, RunNotFoundError, UnsupportedValueError, UsageError

from .conftest import PYTHON, child_env


def _history(root: Path, run_id: str, keys=None) -> dict:
    return localtrack.Api(root).run(run_id).history(keys, pandas=False).to_pydict()


def test_round_trip_reads_back_exactly_through_api_pyarrow_and_sqlite(root: Path) -> None:
    run = localtrack.init(
        project="p",
        name="n",
        dir=root,
        config={"lr": 0.1, "opt": {"beta": 0.9}},
        tags=["b", "a"],
        notes="hello",
        group="g",
        job_type="train",
    )
    values = [0.1, -2.5, float("nan"), float("inf"), -float("inf"), 1e-300, 123456789.25]
    for i, v in enumerate(values):
        run.log({"x": v, "i": i * 3, "flag": i % 2 == 0, "nested": {"deep": {"y": i / 7}}})
    run.finish()

    api_run = localtrack.Api(root).run(run.id)
    hist = api_run.history(pandas=False).to_pydict()
    assert hist["step"] == list(range(len(values)))
    for got, want in zip(hist["x"], values, strict=True):
        assert (math.isnan(got) and math.isnan(want)) or got == want
    assert hist["i"] == [i * 3 for i in range(len(values))]
    assert all(type(v) is int for v in hist["i"])
    assert hist["flag"] == [i % 2 == 0 for i in range(len(values))]
    assert hist["nested/deep/y"] == [i / 7 for i in range(len(values))]
    assert api_run.config == {"lr": 0.1, "opt": {"beta": 0.9}}
    assert api_run.tags == ("a", "b") and api_run.notes == "hello" and api_run.group == "g"
    assert api_run.state == "finished"

    shards = list((root / "runs" / run.id / "metrics").glob("*.parquet"))
    table = pq.read_table(shards[0])
    assert table.column_names == ["step", "key", "value", "wall_time"]
    xs = [r["value"] for r in table.to_pylist() if r["key"] == "x"]
    assert xs[0] == 0.1 and xs[3] == float("inf")
    with sqlite3.connect(root / "index.db") as db:
        row = db.execute("SELECT name, state, project FROM runs WHERE id=?", [run.id]).fetchone()
        keys = {
            r[0]: r[1]
            for r in db.execute("SELECT key, count FROM metric_keys WHERE run_id=?", [run.id])
            if not r[0].startswith("system/")
        }
    assert row == ("n", "finished", "p")
    assert keys == {"x": 7, "i": 7, "flag": 7, "nested/deep/y": 7}
    meta = json.loads((root / "runs" / run.id / "run.json").read_text())
    assert meta["config"]["opt"]["beta"] == 0.9 and meta["state"] == "finished"


def test_log_accepts_numpy_scalars_and_zero_d_arrays(root: Path) -> None:
    run = localtrack.init(project="p", dir=root)
    run.log({"a": np.float32(0.5), "b": np.int64(7), "c": np.bool_(True), "d": np.array(2.25)})
    run.finish()
    hist = _history(root, run.id)
    assert hist["a"] == [0.5] and hist["b"] == [7] and hist["c"] == [True] and hist["d"] == [2.25]


class FakeTensor:
    """Duck-typed like a torch 0-d tensor: .item() and an empty .shape (torch is not installed)."""

    def __init__(self, value: float, shape: tuple = ()) -> None:
        self.value, self.shape = value, shape

    def item(self) -> float:
        return self.value


def test_log_accepts_tensor_like_zero_d_values(root: Path) -> None:
    # real torch tensors: tests/test_watch.py; that torch is never imported: also there
    run = localtrack.init(project="p", dir=root)
    run.log({"loss": FakeTensor(0.75)})
    run.finish()
    assert _history(root, run.id)["loss"] == [0.75]


@pytest.mark.parametrize(
    ("bad", "type_name"),
    [
        ("text", "str"),
        (None, "NoneType"),
        ([1, 2], "list"),
        (np.zeros((2, 2)), "ndarray"),
        (FakeTensor(1.0, shape=(3,)), "FakeTensor"),
        (1 + 2j, "complex"),
        (10**400, "int"),
    ],
)
def test_unsupported_value_warns_once_names_key_and_keeps_other_keys(
    root: Path, bad, type_name
) -> None:
    run = localtrack.init(project="p", dir=root)
    with pytest.warns(UserWarning, match=rf"'bad' \({type_name}\)"):
        run.log({"good": 1.5, "bad": bad})
    run.log({"good": 2.5, "bad": bad})  # second time: silent (filterwarnings=error proves it)
    run.finish()
    hist = _history(root, run.id)
    assert hist["good"] == [1.5, 2.5] and "bad" not in hist


def test_strict_mode_raises_and_logs_nothing_from_that_call(root: Path) -> None:
    run = localtrack.init(project="p", dir=root, settings=localtrack.Settings(strict=True))
    run.log({"good": 1.0})
    with pytest.raises(UnsupportedValueError, match="'bad'"):
        run.log({"good": 2.0, "bad": "oops"})
    run.finish()
    assert _history(root, run.id)["good"] == [1.0]


@pytest.mark.parametrize("bad_key", [3, "", "_step", "a\nb"])
def test_bad_keys_are_rejected_with_a_warning(root: Path, bad_key) -> None:
    run = localtrack.init(project="p", dir=root)
    with pytest.warns(UserWarning, match="dropped"):
        run.log({bad_key: 1.0, "ok": 2.0})
    run.finish()
    assert _history(root, run.id)["ok"] == [2.0]


def test_log_rejects_a_non_dict_and_bad_steps(root: Path) -> None:
    run = localtrack.init(project="p", dir=root)
    with pytest.raises(UsageError, match="dict"):
        run.log([1, 2])  # type: ignore[arg-type]
    for step in (-1, 1.5, "3", True):
        with pytest.raises(UsageError, match="step"):
            run.log({"a": 1.0}, step=step)  # type: ignore[arg-type]
    run.finish()
    with pytest.raises(UsageError, match=r"after run\.finish"):
        run.log({"a": 1.0})


def test_step_auto_increments_and_explicit_steps_move_the_counter(root: Path) -> None:
    run = localtrack.init(project="p", dir=root)
    run.log({"a": 0.0})
    run.log({"a": 1.0})
    run.log({"a": 10.0}, step=10)
    run.log({"a": 11.0})
    assert run.step == 12
    run.finish()
    assert _history(root, run.id)["step"] == [0, 1, 10, 11]


def test_commit_false_accumulates_into_one_step(root: Path) -> None:
    run = localtrack.init(project="p", dir=root)
    run.log({"a": 1.0}, commit=False)
    run.log({"b": 2.0}, commit=False)
    run.log({"c": 3.0})
    run.log({"a": 4.0})
    run.finish()
    hist = _history(root, run.id)
    assert hist["step"] == [0, 1]
    assert (hist["a"], hist["b"], hist["c"]) == ([1.0, 4.0], [2.0, None], [3.0, None])


def test_pending_commit_false_row_is_written_by_finish(root: Path) -> None:
    run = localtrack.init(project="p", dir=root)
    run.log({"a": 1.0}, commit=False)
    run.finish()
    assert _history(root, run.id)["a"] == [1.0]


def test_backward_steps_are_kept_with_one_warning_and_later_value_wins(root: Path) -> None:
    run = localtrack.init(project="p", dir=root)
    for s in range(5):
        run.log({"a": float(s)}, step=s)
    with pytest.warns(UserWarning, match="lower than step 4"):
        run.log({"a": 20.0}, step=2)
    run.log({"a": 30.0}, step=1)  # no second warning
    run.finish()
    hist = _history(root, run.id)
    assert hist["step"] == [0, 1, 2, 3, 4]
    assert hist["a"] == [0.0, 30.0, 20.0, 3.0, 4.0]


def test_define_metric_sets_summary_mode_and_step_metric(root: Path) -> None:
    run = localtrack.init(project="p", dir=root)
    run.define_metric("val/*", step_metric="epoch", summary="max")
    run.define_metric("train/loss", summary="min")
    for s, (acc, loss) in enumerate([(0.5, 3.0), (0.9, 1.0), (0.7, 2.0)]):
        run.log({"val/acc": acc, "train/loss": loss, "epoch": s})
    with pytest.raises(UsageError, match="summary"):
        run.define_metric("x", summary="median")
    assert run.step_metric_for("val/acc") == "epoch"
    run.finish()
    info = localtrack.Api(root).run(run.id)
    assert info.summary["val/acc"] == 0.9 and info.summary["train/loss"] == 1.0
    assert info.summary["epoch"] == 2
    xs, ys = localtrack.Api(root).reader.points(run.id, "val/acc", x="epoch")
    assert list(xs) == [0, 1, 2] and list(ys) == [0.5, 0.9, 0.7]


def test_config_attribute_item_update_and_persisted_immediately(root: Path) -> None:
    import argparse

    run = localtrack.init(project="p", dir=root, config={"lr": 0.1})
    run.config.batch = 32
    run.config["model"] = {"depth": 18, "widths": (64, 128)}
    run.config.update({"lr": 0.2}, allow_val_change=True)
    run.config.update(argparse.Namespace(seed=3))
    assert run.config.lr == 0.2 and run.config["batch"] == 32 and "seed" in run.config
    meta = json.loads((root / "runs" / run.id / "run.json").read_text())
    assert meta["config"] == {
        "lr": 0.2,
        "batch": 32,
        "model": {"depth": 18, "widths": [64, 128]},
        "seed": 3,
    }
    with pytest.raises(AttributeError, match="nope"):
        _ = run.config.nope
    run.finish()


def test_summary_defaults_to_last_value_and_overrides_persist(root: Path) -> None:
    run = localtrack.init(project="p", dir=root)
    run.log({"loss": 3.0})
    run.log({"loss": 2.0})
    assert run.summary["loss"] == 2.0
    run.summary["best_loss"] = 1.5
    run.summary["loss"] = 9.0
    run.finish()
    info = localtrack.Api(root).run(run.id)
    assert info.summary == {"loss": 9.0, "best_loss": 1.5}
    meta = json.loads((root / "runs" / run.id / "run.json").read_text())
    assert meta["summary"]["best_loss"] == 1.5


def test_module_level_api_mirrors_wandb(root: Path) -> None:
    assert localtrack.run is None
    with pytest.raises(UsageError, match="init"):
        localtrack.log({"a": 1.0})
    run = localtrack.init(project="p", dir=root, config={"a": 1})
    assert localtrack.run is run and localtrack.config.a == 1
    localtrack.define_metric("a", summary="max")
    localtrack.log({"a": 5.0})
    localtrack.log({"a": 2.0})
    assert localtrack.summary["a"] == 5.0
    localtrack.finish()
    assert localtrack.run is None
    assert localtrack.Api(root).run(run.id).state == "finished"


def test_finish_is_idempotent_and_context_manager_marks_failures(root: Path) -> None:
    with localtrack.init(project="p", dir=root) as ok_run:
        ok_run.log({"a": 1.0})
    ok_run.finish()
    with pytest.raises(ZeroDivisionError), localtrack.init(project="p", dir=root) as bad_run:
        bad_run.log({"a": 1.0})
        _ = 1 / 0
    api = localtrack.Api(root)
    assert api.run(ok_run.id).state == "finished"
    assert api.run(bad_run.id).state == "failed" and api.run(bad_run.id).exit_code == 1


def test_finish_with_nonzero_exit_code_marks_failed(root: Path) -> None:
    run = localtrack.init(project="p", dir=root)
    run.finish(exit_code=3)
    info = localtrack.Api(root).run(run.id)
    assert (info.state, info.exit_code) == ("failed", 3)


def test_disabled_mode_is_a_no_op_with_the_same_api(root: Path) -> None:
    run = localtrack.init(project="p", dir=root, mode="disabled", config={"a": 1})
    run.log({"x": 1.0})
    run.config.b = 2
    run.define_metric("x", summary="max")
    run.summary["y"] = 1
    run.finish()
    assert not root.exists()


def test_bad_init_arguments_raise_clear_errors(root: Path) -> None:
    with pytest.raises(UsageError, match="mode"):
        localtrack.init(dir=root, mode="cloud")
    with pytest.raises(UsageError, match="resume"):
        localtrack.init(dir=root, resume="sometimes")
    with pytest.raises(UsageError, match="run id"):
        localtrack.init(dir=root, id="../escape")
    with pytest.raises(UsageError, match="config"):
        localtrack.init(dir=root, config=42)


def test_non_zero_ddp_rank_logs_nothing_unless_per_rank(root: Path, monkeypatch) -> None:
    monkeypatch.setenv("RANK", "1")
    run = localtrack.init(project="p", dir=root)
    run.log({"a": 1.0})
    run.finish()
    assert not (root / "runs").exists()
    run = localtrack.init(
        project="p", name="job", dir=root, settings=localtrack.Settings(per_rank=True)
    )
    run.finish()
    assert localtrack.Api(root).run(run.id).name == "job-rank1"


def test_root_defaults_to_env_then_localtrack_runs_in_cwd(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = localtrack.init(project="p")
    run.finish()
    assert (tmp_path / "localtrack-runs" / "runs" / run.id / "run.json").exists()
    monkeypatch.setenv("LOCALTRACK_DIR", str(tmp_path / "elsewhere"))
    run = localtrack.init(project="p")
    run.finish()
    assert (tmp_path / "elsewhere" / "runs" / run.id).exists()


def test_run_ids_are_unique_and_names_generated(root: Path) -> None:
    runs = [localtrack.init(project="p", dir=root, reinit="create_new") for _ in range(20)]
    for r in runs:
        r.finish()
    assert len({r.id for r in runs}) == 20
    assert all(r.name and "-" in r.name for r in runs)


def test_init_captures_host_process_python_and_git(root: Path, tmp_path: Path, monkeypatch) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "f.txt").write_text("x")
    git = ["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=a"]
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    (repo / "f.txt").write_text("changed")
    monkeypatch.chdir(repo)
    run = localtrack.init(project="p", dir=root)
    run.finish()
    system = localtrack.Api(root).run(run.id).system
    assert system["git"]["branch"] == "main" and system["git"]["dirty"] is True
    assert len(system["git"]["commit"]) == 40
    assert system["pid"] > 0 and system["python"] and system["host"]
    monkeypatch.chdir(tmp_path)  # outside any repository: no failure, no git
    run = localtrack.init(project="p", dir=root)
    run.finish()
    assert localtrack.Api(root).run(run.id).system["git"] is None


def test_resume_continues_steps_keeps_old_data_and_versions_config(root: Path) -> None:
    first = localtrack.init(project="p", id="job-1", dir=root, config={"lr": 0.1, "bs": 8})
    for s in range(5):
        first.log({"loss": 10.0 - s})
    first.finish()
    with pytest.raises(RunExistsError, match="resume='allow'"):
        localtrack.init(project="p", id="job-1", dir=root)
    with pytest.raises(RunExistsError):
        localtrack.init(project="p", id="job-1", dir=root, resume="never")
    second = localtrack.init(project="p", id="job-1", dir=root, resume="allow", config={"lr": 0.05})
    assert second.step == 5
    second.log({"loss": 1.0})
    second.finish()
    info = localtrack.Api(root).run("job-1")
    hist = _history(root, "job-1")
    assert hist["step"] == [0, 1, 2, 3, 4, 5] and hist["loss"] == [10.0, 9.0, 8.0, 7.0, 6.0, 1.0]
    assert info.config == {"lr": 0.05, "bs": 8}
    versions = info.meta["config_versions"]
    assert [v["config"]["lr"] for v in versions] == [0.1, 0.05]
    assert len(info.meta["segments"]) == 2
    shard_files = sorted(p.name for p in (root / "runs" / "job-1" / "metrics").iterdir())
    assert shard_files[0].startswith("0000-") and shard_files[-1].startswith("0001-")


def test_resume_must_requires_an_existing_run(root: Path) -> None:
    with pytest.raises(RunNotFoundError, match="resume='must'"):
        localtrack.init(project="p", id="nope", dir=root, resume="must")


def _run_child(code: str, root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-c", code],
        env=child_env(LOCALTRACK_DIR=str(root)),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_atexit_finishes_a_run_the_script_forgot(root: Path) -> None:
    out = _run_child(
        "import localtrack\nr = localtrack.init(project='p')\nr.log({'a': 1.0})\nprint(r.id)", root
    )
    assert out.returncode == 0, out.stderr
    info = localtrack.Api(root).run(out.stdout.strip())
    assert info.state == "finished" and info.summary["a"] == 1.0


def test_uncaught_exception_marks_the_run_failed(root: Path) -> None:
    code = "import localtrack\nr = localtrack.init(project='p')\nprint(r.id, flush=True)\nr.log({'a': 1.0})\nraise RuntimeError('boom')"
    out = _run_child(code, root)
    assert out.returncode == 1 and "RuntimeError: boom" in out.stderr
    info = localtrack.Api(root).run(out.stdout.strip())
    assert info.state == "failed" and info.summary["a"] == 1.0


def test_killed_process_reads_as_crashed(root: Path) -> None:
    code = "import os, signal, localtrack\nr = localtrack.init(project='p')\nr.log({'a': 1.0})\nr.flush()\nprint(r.id, flush=True)\nos.kill(os.getpid(), signal.SIGKILL)"
    out = _run_child(code, root)
    assert out.returncode == -9
    info = localtrack.Api(root).run(out.stdout.strip())
    assert info.state == "crashed"
    assert _history(root, info.id)["a"] == [1.0]


def test_history_to_pandas(root: Path) -> None:
    pytest.importorskip("pandas")
    run = localtrack.init(project="p", dir=root)
    for i in range(3):
        run.log({"a": float(i)})
    run.finish()
    df = localtrack.Api(root).run(run.id).history(pandas=False).to_pandas()
    assert list(df["a"]) == [0.0, 1.0, 2.0]


def test_reads_include_the_live_tail_of_a_running_run(root: Path) -> None:
    run = localtrack.init(project="p", dir=root)
    for i in range(100):
        run.log({"a": float(i)})
    assert run.flush(timeout=60)
    api = localtrack.Api(root)
    assert api.run(run.id).state == "running"
    assert _history(root, run.id)["a"] == [float(i) for i in range(100)]
    assert not list((root / "runs" / run.id / "metrics").glob("*.parquet"))
    run.finish()
