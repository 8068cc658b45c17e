"""What log(), config, summary, define_metric and init() accept, and how they refuse the rest.

docs/security.md "Writing runs: keys, steps and values": a bad step raises UsageError and logs
nothing of that call; a bad key or value is dropped with one warning and the rest of the call is
kept; config and summary refuse with UsageError and stay as they were; nothing raises a
RecursionError into the training loop; a failed init() leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import localtrack
from localtrack.errors import RunExistsError, UsageError
from localtrack.liverun import init as init_run
from localtrack.liverun.values import MAX_KEY_LENGTH, MAX_NESTING, MAX_STEP, key_problem
from localtrack.store.layout import is_valid_run_id
from localtrack.store.runmeta import load

QUIET = localtrack.Settings(system_metrics=False, console=False)


def _history(root: Path, run_id: str) -> dict[str, list[Any]]:
    return localtrack.Api(root).run(run_id).history(pandas=False).to_pydict()


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1.0}
    for _ in range(levels - 1):
        value = {"d": value}
    return value


def _self_referencing() -> dict[str, Any]:
    value: dict[str, Any] = {"x": 1.0}
    value["me"] = value
    return value


@pytest.mark.parametrize(
    "step",
    [2**63, 2**64, -1, float("inf"), float("nan"), 1.5, "3", True, np.uint64(2**64 - 1)],
    ids=repr,
)
def test_log_bad_step_raises_and_nothing_of_the_call_or_the_run_is_lost(
    root: Path, step: Any
) -> None:
    run = localtrack.init(project="p", dir=root, settings=QUIET)
    run.log({"a": 0.0})
    with pytest.raises(UsageError, match="step"):
        run.log({"a": 99.0, "img": localtrack.Histogram([1.0, 2.0])}, step=step)
    run.log({"a": 1.0})
    run.finish()
    history = _history(root, run.id)
    assert (history["step"], history["a"]) == ([0, 1], [0.0, 1.0])
    assert localtrack.Api(root).reader.media(run.id) == [], "media of the refused call was kept"
    assert load(run.dir / "run.json")["state"] == "finished"


def test_log_largest_step_is_kept_and_the_counter_stops_there(root: Path) -> None:
    run = localtrack.init(project="p", dir=root, settings=QUIET)
    run.log({"a": 1.0}, step=MAX_STEP - 1)
    run.log({"a": 2.0})  # the counter's last step: MAX_STEP
    with pytest.raises(UsageError, match="int64 limit"):
        run.log({"a": 3.0})
    with pytest.warns(UserWarning, match="lower than"):
        run.log({"a": 0.5}, step=5)  # explicit steps still work
    run.finish()
    assert _history(root, run.id)["step"] == [5, MAX_STEP - 1, MAX_STEP]
    assert load(run.dir / "run.json")["state"] == "finished"


@pytest.mark.parametrize(
    ("bad_key", "reason"),
    [
        ("a\ud800", "lone surrogate"),
        ("loss\n", "control character"),
        ("a\x7fb", "control character"),
        ("a\x85b", "control character"),
        ("k" * (MAX_KEY_LENGTH + 1), "characters"),
    ],
    ids=["surrogate", "trailing newline", "DEL", "C1", "too long"],
)
def test_log_bad_key_is_dropped_with_a_warning_and_its_rows_are_kept(
    root: Path, bad_key: str, reason: str
) -> None:
    run = localtrack.init(project="p", dir=root, settings=QUIET)
    with pytest.warns(UserWarning, match=reason):
        run.log({bad_key: 1.0, "good": 0.0})
    for step in range(1, 2000):
        run.log({bad_key: 1.0, "good": float(step)})  # warned once: silent now
    run.finish()
    history = _history(root, run.id)
    assert history["good"] == [float(s) for s in range(2000)]
    assert set(history) == {"step", "wall_time", "good"}


def test_key_rules_accept_ordinary_unicode_and_the_longest_key() -> None:
    for key in ("train/loss", "val/accuracy@1", "损失/训练", "émoji-🙂", "k" * MAX_KEY_LENGTH):
        assert key_problem(key) is None


@pytest.mark.parametrize("value", [_deep(5000), _deep(MAX_NESTING + 1)], ids=["5000", "33"])
def test_log_too_deep_dict_is_dropped_with_a_warning(root: Path, value: dict[str, Any]) -> None:
    run = localtrack.init(project="p", dir=root, settings=QUIET)
    with pytest.warns(UserWarning, match="nested more than"):
        run.log({"deep": value, "ok": 1.0, "nested": {"fine": 2.0}})
    run.finish()
    history = _history(root, run.id)
    assert history["ok"] == [1.0] and history["nested/fine"] == [2.0]
    assert not any(k.startswith("deep/") for k in history)
    assert load(run.dir / "run.json")["state"] == "finished"


def test_log_self_referencing_dict_drops_only_the_loop(root: Path) -> None:
    run = localtrack.init(project="p", dir=root, settings=QUIET)
    with pytest.warns(UserWarning, match=r"'deep/me' \(dict\) dropped: it contains itself"):
        run.log({"deep": _self_referencing(), "ok": 1.0})
    run.finish()
    history = _history(root, run.id)
    assert (history["ok"], history["deep/x"]) == ([1.0], [1.0])
    assert not any(k.startswith("deep/me") for k in history)


def test_log_nesting_up_to_the_limit_is_flattened(root: Path) -> None:
    run = localtrack.init(project="p", dir=root, settings=QUIET)
    run.log({"deep": _deep(MAX_NESTING)})
    run.finish()
    assert [k for k in _history(root, run.id) if k.endswith("/leaf")]


@pytest.mark.parametrize("value", [_deep(5000), _self_referencing()], ids=["5000", "self"])
def test_config_too_deep_is_a_usage_error_everywhere(root: Path, value: Any) -> None:
    with pytest.raises(UsageError, match="nested more than"):
        localtrack.init(project="p", dir=root, config={"model": value}, settings=QUIET)
    assert not (root / "runs").exists() or list((root / "runs").iterdir()) == []
    run = localtrack.init(project="p", dir=root, config={"lr": 0.1}, settings=QUIET)
    with pytest.raises(UsageError, match=r"config\['model'\] is nested more than"):
        run.config.update({"batch": 32, "model": value})
    with pytest.raises(UsageError, match="nested more than"):
        run.config["model"] = [value]
    with pytest.raises(UsageError, match="nested more than"):
        run.summary["best"] = value
    run.log({"a": 1.0})  # the training loop goes on
    run.finish()
    meta = load(run.dir / "run.json")
    assert meta["config"] == {"lr": 0.1}, "a refused update changed the config"
    assert meta["state"] == "finished"


def test_config_keys_must_be_unicode_and_bad_text_values_are_mended(root: Path) -> None:
    run = localtrack.init(project="p", dir=root, settings=QUIET)
    with pytest.raises(UsageError, match="surrogate"):
        run.config.update({"a\udcff": 1})
    run.config.update({"path": "data/\udcff.bin", "nested": {"name": "x\ud800"}})
    run.finish()
    config = load(run.dir / "run.json")["config"]
    assert config == {"path": "data/\ufffd.bin", "nested": {"name": "x\ufffd"}}


@pytest.mark.parametrize("key", [3, "", "a\ud800", "x\n"], ids=repr)
def test_summary_and_define_metric_refuse_bad_keys(root: Path, key: Any) -> None:
    run = localtrack.init(project="p", dir=root, settings=QUIET)
    with pytest.raises(UsageError):
        run.summary[key] = 1.0
    with pytest.raises(UsageError):
        del run.summary[key]
    with pytest.raises(UsageError):
        run.define_metric(key, summary="max")
    with pytest.raises(UsageError):
        run.define_metric("val/*", step_metric=key)
    run.summary["best"] = 0.5  # run.json is still writable: no bad key got into it
    run.finish()
    meta = load(run.dir / "run.json")
    assert meta["summary_overrides"] == {"best": 0.5}
    assert meta["state"] == "finished"


@pytest.mark.parametrize("code", [2**70, "1", 1.0, None], ids=repr)
def test_finish_refuses_a_bad_exit_code_and_the_run_can_still_finish(root: Path, code: Any) -> None:
    run = localtrack.init(project="p", dir=root, settings=QUIET)
    run.log({"a": 1.0})
    with pytest.raises(UsageError, match="exit_code"):
        run.finish(exit_code=code)
    run.finish(exit_code=np.int64(3))  # an integer of any kind is fine
    meta = load(run.dir / "run.json")
    assert (meta["state"], meta["exit_code"]) == ("failed", 3)


def test_init_dir_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    afile = tmp_path / "not-a-dir"
    afile.write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        localtrack.init(project="p", dir=afile, settings=QUIET)
    with pytest.raises(UsageError, match="is a file"):
        localtrack.init(project="p", dir=afile / "store", settings=QUIET)
    assert afile.read_text() == "x"


@pytest.mark.parametrize("run_id", ["abc\n", "abc\ndef", "\nabc", "a" * 129])
def test_run_ids_with_newlines_or_too_long_are_refused(root: Path, run_id: str) -> None:
    assert not is_valid_run_id(run_id)
    with pytest.raises(UsageError, match="run id"):
        localtrack.init(project="p", dir=root, id=run_id, settings=QUIET)


def test_failed_init_of_a_new_run_leaves_nothing_behind(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("environment capture exploded")

    monkeypatch.setattr(init_run, "_start_environment", broken)
    with pytest.raises(RuntimeError, match="exploded"):
        localtrack.init(project="p", dir=root, id="doomed", settings=QUIET)
    assert not (root / "runs" / "doomed").exists(), "the failed run's directory was left behind"
    assert localtrack.Api(root).runs() == [], "the failed run is still listed"
    monkeypatch.undo()
    run = localtrack.init(project="p", dir=root, id="doomed", settings=QUIET)  # lock released
    run.log({"a": 1.0})
    run.finish()
    assert [r.id for r in localtrack.Api(root).runs()] == ["doomed"]


def test_failed_resume_keeps_the_existing_run(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = localtrack.init(project="p", dir=root, id="kept", settings=QUIET)
    run.log({"a": 1.0})
    run.finish()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("environment capture exploded")

    monkeypatch.setattr(init_run, "_start_environment", broken)
    with pytest.raises(RuntimeError, match="exploded"):
        localtrack.init(project="p", dir=root, id="kept", resume="allow", settings=QUIET)
    assert _history(root, "kept")["a"] == [1.0]


def test_a_live_run_id_cannot_be_started_twice_in_one_process(root: Path) -> None:
    run = localtrack.init(project="p", dir=root, id="once", settings=QUIET)
    with pytest.raises(RunExistsError, match="being written right now"):
        localtrack.init(
            project="p", dir=root, id="once", resume="allow", reinit="create_new", settings=QUIET
        )
    run.log({"a": 1.0})
    run.finish()
    again = localtrack.init(project="p", dir=root, id="once", resume="allow", settings=QUIET)
    again.log({"a": 2.0})
    again.finish()
    assert _history(root, "once")["a"] == [1.0, 2.0]
