"""Sweep configs, search spaces, hyperband rungs and command macros: no processes, no runs."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

import localtrack
from localtrack.errors import SweepConfigError, SweepError
from localtrack.sweeps import space
from localtrack.sweeps.command import build_command
from localtrack.sweeps.config import Hyperband, check_config, load_config
from localtrack.sweeps.hyperband import best_at_rungs, should_stop

GOOD = {
    "method": "random",
    "metric": {"name": "val/loss", "goal": "minimize"},
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
        "batch": {"values": [16, 32, 64]},
        "epochs": {"value": 3},
        "dropout": {"min": 0.0, "max": 0.5},
        "layers": {"min": 1, "max": 4},
        "noise": {"distribution": "q_normal", "mu": 0.0, "sigma": 1.0, "q": 0.5},
        "optimizer": {"parameters": {"momentum": {"values": [0.0, 0.9]}}},
    },
    "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 3},
}


def test_config_typo_in_a_distribution_name_lists_the_path_and_the_close_match() -> None:
    bad = {
        "method": "random",
        "metric": {"name": "loss", "goal": "minimise"},
        "parameters": {
            "lr": {"distribution": "log_uniformm_values", "min": 1e-4, "max": 1e-1},
            "wd": {"min": 1.0, "max": 0.1},
            "opt": {"parameters": {"beta": {"valuez": [1, 2]}}},
        },
    }
    with pytest.raises(SweepConfigError) as caught:
        localtrack.sweep(bad, project="p", dir="unused-because-it-fails-first")
    message = str(caught.value)
    assert "parameters.lr.distribution: unknown distribution 'log_uniformm_values'" in message
    assert "did you mean 'log_uniform_values'?" in message
    assert "metric.goal" in message and "'minimize'" in message
    assert "parameters.wd: min (1.0) is above max (0.1)" in message
    assert "parameters.opt.beta.valuez: unknown key (did you mean 'value" in message
    assert not Path("unused-because-it-fails-first").exists()


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"method": "grdi"}, "method"),
        ({"run_cap": 0}, "run_cap"),
        ({"parameterz": {}}, "parameterz"),
        ({"early_terminate": {"type": "hyperband"}}, "early_terminate"),
        ({"early_terminate": {"type": "hyperbandd", "min_iter": 1}}, "early_terminate.type"),
        ({"command": "python train.py"}, "command"),
    ],
)
def test_config_problem_is_named_by_its_path(change: dict, where: str) -> None:
    with pytest.raises(SweepConfigError, match=rf"\n  {where}: "):
        check_config({**GOOD, **change})


def test_grid_refuses_continuous_parameters_and_bayes_needs_a_metric() -> None:
    with pytest.raises(SweepConfigError, match=r"parameters.lr: grid search needs discrete"):
        check_config({**GOOD, "method": "grid"})
    with pytest.raises(SweepConfigError, match=r"metric: bayes needs a metric"):
        check_config({"method": "bayes", "parameters": {"x": {"min": 0.0, "max": 1.0}}})


def test_yaml_text_and_file_load_like_the_dict(tmp_path: Path) -> None:
    text = "method: grid\nparameters:\n  a:\n    values: [1, 2]\n"
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    assert load_config(text) == load_config(str(path)) == load_config(path)
    assert load_config(path)["parameters"]["a"]["values"] == [1, 2]


def test_random_draws_are_seeded_and_within_their_distributions() -> None:
    config = check_config(GOOD)
    draws = [space.random_point(config.params, seed=11, number=n) for n in range(200)]
    assert draws == [space.random_point(config.params, seed=11, number=n) for n in range(200)]
    assert draws != [space.random_point(config.params, seed=12, number=n) for n in range(200)]
    for d in draws:
        assert 1e-5 <= d["lr"] <= 1e-1 and d["batch"] in (16, 32, 64) and d["epochs"] == 3
        assert 0.0 <= d["dropout"] <= 0.5 and d["layers"] in (1, 2, 3, 4)
        assert math.isclose(d["noise"] / 0.5, round(d["noise"] / 0.5))
        assert d["optimizer.momentum"] in (0.0, 0.9)
    assert len({d["lr"] for d in draws}) == 200
    nested = space.nested(config.params, draws[0])
    assert set(nested["optimizer"]) == {"momentum"} and "optimizer.momentum" not in nested


def test_grid_enumerates_every_combination_once() -> None:
    config = check_config(
        {
            "method": "grid",
            "parameters": {
                "a": {"values": ["x", "y"]},
                "b": {"distribution": "int_uniform", "min": 1, "max": 3},
                "c": {"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.5},
                "d": {"value": 7},
            },
        }
    )
    size = space.grid_size(config.params)
    points = [space.grid_point(config.params, n) for n in range(size)]
    assert size == 18
    assert points == list(space.all_grid_points(config.params))
    assert len({json.dumps(p, sort_keys=True) for p in points}) == 18


def _hyperband(**early_terminate: Any) -> Hyperband:
    config = check_config({**GOOD, "early_terminate": {"type": "hyperband", **early_terminate}})
    assert config.hyperband is not None
    return config.hyperband


def test_hyperband_rungs_are_wandbs_bands() -> None:
    hb = check_config(GOOD).hyperband
    assert hb is not None and hb.eta == 3.0 and not hb.strict
    assert hb.rungs[:4] == (3, 9, 27, 81)  # min_iter·eta^k, not cut off after a few
    assert _hyperband(min_iter=1, eta=2.5).rungs[:5] == (1, 2, 6, 15, 39)  # truncated, as W&B
    assert _hyperband(max_iter=27, s=2, eta=3).rungs == (3, 9)
    assert _hyperband(max_iter=5, s=2, eta=2).rungs == (1, 2)
    assert _hyperband(max_iter=9, s=5, eta=3).rungs == (1, 3)  # stops below one iteration
    assert _hyperband(min_iter=3, strict=True).strict
    with pytest.raises(SweepConfigError, match=r"early_terminate\.strict"):
        _hyperband(min_iter=3, strict="yes")


def test_hyperband_keeps_the_best_floor_n_over_eta_plus_one_at_the_highest_rung() -> None:
    hb = _hyperband(min_iter=3, eta=3)
    assert should_stop(hb, "minimize", {3: 9.0}, []) is None  # alone at its rung
    assert should_stop(hb, "minimize", {3: 9.0}, [{3: 1.0}]) == 3  # the worse of two stops
    assert should_stop(hb, "minimize", {3: 2.0}, [{3: 1.0}, {3: 3.0}]) is None  # 2 of 3 go on
    assert should_stop(hb, "minimize", {3: 3.0}, [{3: 1.0}, {3: 2.0}]) == 3
    assert should_stop(hb, "maximize", {3: 0.5}, [{3: 1.0}, {3: 2.0}]) == 3
    assert should_stop(hb, "maximize", {3: 2.0}, [{3: 1.0}, {3: 0.5}]) is None
    # rungs passed since the last look are judged in order; then the highest one, again
    peers = [{3: 1.0, 9: 1.0}, {3: 2.0, 9: 2.0}]
    assert should_stop(hb, "minimize", {3: 0.5, 9: 5.0}, peers) == 9
    assert should_stop(hb, "minimize", {3: 5.0, 9: 0.5}, peers) == 3  # passed 3 unjudged
    assert should_stop(hb, "minimize", {3: 5.0, 9: 0.5}, peers, since=3) is None
    assert should_stop(hb, "minimize", {3: 0.5, 9: 5.0}, peers, since=9) == 9
    assert should_stop(hb, "minimize", {3: 0.5, 27: 9.0}, [{3: 1.0}]) is None  # alone at 27
    # W&B's default judges the best value so far; strict judges the value at the rung
    assert should_stop(hb, "minimize", {3: 3.0}, [{3: 1.0}, {3: 2.0}], best={3: 1.5}) is None
    strict = _hyperband(min_iter=3, eta=3, strict=True)
    assert should_stop(strict, "minimize", {3: 3.0}, [{3: 1.0}, {3: 2.0}], best={3: 1.5}) == 3


def test_best_at_rungs_is_the_best_up_to_each_rung_and_now_at_the_highest() -> None:
    hb = _hyperband(min_iter=2, eta=2)
    values = [5.0, 4.0, 6.0, 3.0, 7.0, 2.5]
    assert best_at_rungs("minimize", hb, values) == {2: 4.0, 4: 2.5}
    assert best_at_rungs("maximize", hb, values) == {2: 5.0, 4: 7.0}
    assert best_at_rungs("minimize", hb, values[:1]) == {}


def test_command_macros(tmp_path: Path) -> None:
    params = {"lr": 0.1, "name": "a b", "opt.m": [1, 2]}
    argv = build_command(None, "train.py", params, tmp_path / "args.json")
    assert argv == [
        "/usr/bin/env",
        sys.executable,
        "train.py",
        "--lr=0.1",
        "--name=a b",
        "--opt.m=[1, 2]",
    ]
    template = [
        "${interpreter}",
        "-u",
        "${program}",
        "${args_no_hyphens}",
        "${args_json}",
        "${args_json_file}",
    ]
    argv = build_command(template, "t.py", params, tmp_path / "args.json")
    assert argv[:5] == [sys.executable, "-u", "t.py", "lr=0.1", "name=a b"]
    assert json.loads(argv[6]) == params == json.loads(Path(argv[7]).read_text())
    with pytest.raises(SweepError, match="no program"):
        build_command(None, None, params, tmp_path / "x.json")


def test_bayes_without_optuna_names_the_extra(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)
    config = {
        "method": "bayes",
        "metric": {"name": "loss"},
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
    }
    with pytest.raises(SweepError, match=r"pip install localtrack\[sweeps\]"):
        localtrack.sweep(config, dir=root)
    grid = {"method": "grid", "parameters": {"x": {"values": [1]}}}
    assert localtrack.sweep(grid, dir=root)  # grid and random need no optuna
