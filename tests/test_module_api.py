"""The module-level API (localtrack.log, .config, .summary, .run) and where warnings point."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import localtrack
from localtrack.errors import UsageError


def test_module_api_needs_init_first() -> None:
    assert localtrack.run is None
    with pytest.raises(UsageError, match="init"):
        localtrack.log({"x": 1})


@pytest.mark.parametrize("how", ["disabled", "rank1"])
def test_module_api_is_a_no_op_when_disabled(
    root: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "rank1":
        monkeypatch.setenv("RANK", "1")
        run = localtrack.init(project="p", dir=root, config={"lr": 0.1})
    else:
        run = localtrack.init(project="p", dir=root, mode="disabled", config={"lr": 0.1})
    assert localtrack.run is run
    localtrack.log({"loss": 1.0})
    localtrack.define_metric("loss", summary="min")
    assert localtrack.config.lr == 0.1
    assert localtrack.config["lr"] == 0.1
    localtrack.config.update({"batch": 4})
    localtrack.summary["best"] = 1.0
    assert localtrack.summary["best"] == 1.0
    localtrack.finish()
    assert localtrack.run is None
    assert not root.exists()


def _warnings_of(call) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return list(caught)


@pytest.mark.parametrize(
    "data",
    [
        {"bad": object()},
        {"nested": {"deeper": {"bad": object()}}},
        {"img": localtrack.Image(object())},
    ],
    ids=["top-level", "nested", "media"],
)
def test_dropped_value_warning_points_at_the_users_line(root: Path, data: dict) -> None:
    run = localtrack.init(project="p", dir=root)
    caught = _warnings_of(lambda: run.log(data))
    run.finish()
    assert caught, "expected a warning about the dropped value"
    assert {w.filename for w in caught} == {__file__}


def test_backwards_step_warning_points_at_the_users_line(root: Path) -> None:
    run = localtrack.init(project="p", dir=root)
    run.log({"x": 1.0}, step=10)
    caught = _warnings_of(lambda: run.log({"x": 1.0}, step=3))
    caught += _warnings_of(lambda: localtrack.log({"x": 2.0}, step=2))
    run.finish()
    assert caught
    assert {w.filename for w in caught} == {__file__}


def test_module_level_log_warning_points_at_the_users_line(root: Path) -> None:
    localtrack.init(project="p", dir=root)
    caught = _warnings_of(lambda: localtrack.log({"bad": object()}))
    localtrack.finish()
    assert [w.filename for w in caught] == [__file__]
